package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/store/sqlite"
)

// TestBYOKCommands drives `arouter byok` on the store directly, including a master key
// rotation with `byok rekey`. (Not parallel: it sets the process environment.)
func TestBYOKCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "arouter.yaml")
	dbPath := filepath.Join(dir, "arouter.db")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(processYAML, dbPath)), 0o600); err != nil {
		t.Fatal(err)
	}
	const oldKey = "1111111111111111111111111111111111111111111111111111111111111111"
	const newKey = "2222222222222222222222222222222222222222222222222222222222222222"
	t.Setenv("AROUTER_MANAGEMENT_KEY", "")
	t.Setenv(envBYOKKey, "")
	t.Setenv(byok.EnvMasterKeyOld, "")
	t.Setenv(byok.EnvMasterKey, oldKey)
	arouter := func(want int, stdin string, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		var code int
		if err := byokCmd(append(args, "--config", cfg), strings.NewReader(stdin), &out, &errOut); err != nil {
			code = 1
			if errors.Is(err, errUsage) {
				code = 2
			} else {
				errOut.WriteString(err.Error())
			}
		}
		if code != want {
			t.Fatalf("arouter byok %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}

	const first = "sk-mock-first-key-1234"
	id, info := arouter(0, "  "+first+"\n", "add", "mock", "--mode", "only")
	if strings.TrimSpace(id) == "" || !strings.Contains(info, "mock key …1234") || strings.Contains(info, first) {
		t.Fatalf("add: %q %q", id, info)
	}
	list, _ := arouter(0, "", "list")
	if !strings.Contains(list, "mock key …1234") || !strings.Contains(list, "only") || strings.Contains(list, first) {
		t.Fatalf("list: %s", list)
	}
	if _, msg := arouter(1, "sk-mock-second-key", "add", "mock"); !strings.Contains(msg, "DELETE /v1/byok/") {
		t.Fatalf("second key for a provider: %s", msg)
	}
	// Never from the command line.
	if _, msg := arouter(2, "", "add", "mock", first); !strings.Contains(msg, envBYOKKey) {
		t.Fatalf("key as an argument: %s", msg)
	}
	arouter(1, "", "add", "mock") // nothing on stdin
	arouter(1, "sk-12345678", "add", "mock", "--mode", "always")
	arouter(1, "sk-12345678", "add", "nobody") // not a configured provider
	arouter(2, "", "frob")
	arouter(2, "", "delete")
	arouter(0, "", "delete", strings.TrimSpace(id))
	arouter(1, "", "delete", strings.TrimSpace(id))

	// From $AROUTER_BYOK_KEY.
	const second = "sk-mock-from-env-5678"
	t.Setenv(envBYOKKey, second)
	arouter(0, "", "add", "mock", "--name", "env key")
	t.Setenv(envBYOKKey, "")
	if list, _ := arouter(0, "", "list"); !strings.Contains(list, "env key …5678") {
		t.Fatalf("list after add from the environment: %s", list)
	}

	// Rotation: new key current, old key still readable; rekey; then the new key alone opens it.
	t.Setenv(byok.EnvMasterKey, newKey)
	t.Setenv(byok.EnvMasterKeyOld, oldKey)
	n, info := arouter(0, "", "rekey")
	if strings.TrimSpace(n) != "1" || !strings.Contains(info, byok.EnvMasterKeyOld) {
		t.Fatalf("rekey: %q %q", n, info)
	}
	t.Setenv(byok.EnvMasterKeyOld, "")
	st, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := st.LoadBYOK(context.Background())
	st.Close()
	if err != nil || len(creds) != 1 {
		t.Fatalf("after rekey: %v, %v", creds, err)
	}
	key, _ := byok.ParseMasterKey(newKey)
	sealer, _ := byok.NewSealer(key)
	if pt, err := sealer.Open(creds[0].Ciphertext, byok.AAD(creds[0].OrgID, "mock")); err != nil || string(pt) != second {
		t.Fatalf("after rekey, the new key alone: %q, %v", pt, err)
	}
	if n, _ := arouter(0, "", "rekey"); strings.TrimSpace(n) != "1" { // idempotent
		t.Fatalf("second rekey: %q", n)
	}
	// With a master key that sealed nothing stored, rekey fails and changes nothing.
	t.Setenv(byok.EnvMasterKey, oldKey)
	if _, msg := arouter(1, "", "rekey"); !strings.Contains(msg, "nothing was changed") || !strings.Contains(msg, byok.EnvMasterKeyOld) {
		t.Fatalf("rekey under the wrong key: %s", msg)
	}

	// Without a master key nothing can be stored, and rekey says what to set.
	t.Setenv(byok.EnvMasterKey, "")
	if _, msg := arouter(1, "sk-12345678", "add", "mock"); !strings.Contains(msg, "AROUTER_MASTER_KEY") {
		t.Fatalf("add without a master key: %s", msg)
	}
	if _, msg := arouter(1, "", "rekey"); !strings.Contains(msg, "AROUTER_MASTER_KEY") {
		t.Fatalf("rekey without a master key: %s", msg)
	}
	arouter(0, "", "list") // listing needs no master key
	t.Setenv(byok.EnvMasterKey, "not a key")
	if _, msg := arouter(1, "", "list"); !strings.Contains(msg, "AROUTER_MASTER_KEY") {
		t.Fatalf("malformed master key: %s", msg)
	}
}

// TestBYOKCommandsOverTheAPI: with a management key the commands call the gateway, whose cache
// has the key at once. (Not parallel: it sets the process environment.)
func TestBYOKCommandsOverTheAPI(t *testing.T) {
	tg := startGateway(t, gatewayOpts{})
	t.Setenv("AROUTER_MANAGEMENT_KEY", tg.adminToken)
	t.Setenv(envBYOKKey, "")
	var out, errOut bytes.Buffer
	if err := byokCmd([]string{"add", "upstream", "--mode", "fallback", "--url", tg.url}, strings.NewReader("sk-upstream-admin-9999\n"), &out, &errOut); err != nil {
		t.Fatalf("add: %v %s", err, errOut.String())
	}
	if cred, ok := tg.g.byokCache.Lookup(tg.admin.PersonalOrgID, "upstream"); !ok || cred.Secret != "sk-upstream-admin-9999" || cred.Mode != byok.Fallback {
		t.Fatalf("the gateway's cache: %+v, %v", cred, ok)
	}
	out.Reset()
	if err := byokCmd([]string{"list", "--url", tg.url}, nil, &out, &errOut); err != nil || !strings.Contains(out.String(), "upstream key …9999") {
		t.Fatalf("list: %v %s", err, out.String())
	}
	if code := run([]string{"byok", "delete", "999", "--url", tg.url}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "no such provider key") {
		t.Fatalf("delete of an unknown id: %d %s", code, errOut.String())
	}
}
