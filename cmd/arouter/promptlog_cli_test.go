package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lastColumn returns the last field of the keys table's row for the key named name.
func lastColumn(t *testing.T, table, name string) string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == name {
			return f[len(f)-1]
		}
	}
	t.Fatalf("no key %q in\n%s", name, table)
	return ""
}

// TestPromptLoggingCommandsOnTheStore: without a management key, `keys create|update
// --prompt-logging on|off` and `orgs prompt-logging [on|off]` work on the store as the instance
// admin, and anything but on or off is a usage error.
func TestPromptLoggingCommandsOnTheStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "arouter.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(processYAML, filepath.Join(dir, "arouter.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	arouter := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(append(args, "--config", cfg), &out, &errOut); code != want {
			t.Fatalf("arouter %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errOut.String())
		}
		return out.String()
	}
	arouter(0, "keys", "create", "--name", "logged", "--prompt-logging", "on")
	arouter(0, "keys", "create", "--name", "quiet")
	list := arouter(0, "keys", "list")
	if !strings.Contains(list, "PROMPT_LOGGING") || lastColumn(t, list, "logged") != "on" || lastColumn(t, list, "quiet") != "off" {
		t.Fatalf("list:\n%s", list)
	}
	hash := strings.Fields(strings.Split(list, "\n")[1])[0]
	name := strings.Fields(strings.Split(list, "\n")[1])[2]
	was := lastColumn(t, list, name)
	flip := map[string]string{"on": "off", "off": "on"}[was]
	if out := arouter(0, "keys", "update", hash, "--prompt-logging", flip); lastColumn(t, out, name) != flip {
		t.Fatalf("update --prompt-logging %s:\n%s", flip, out)
	}
	if got := lastColumn(t, arouter(0, "keys", "get", hash), name); got != flip {
		t.Fatalf("after update: %s", got)
	}
	arouter(2, "keys", "update", hash, "--prompt-logging", "sometimes")
	arouter(2, "keys", "create", "--name", "x", "--prompt-logging", "")

	if got := arouter(0, "orgs", "prompt-logging"); got != "off\n" {
		t.Fatalf("orgs prompt-logging: %q", got)
	}
	if got := arouter(0, "orgs", "prompt-logging", "on"); got != "on\n" {
		t.Fatalf("orgs prompt-logging on: %q", got)
	}
	if got := arouter(0, "orgs", "prompt-logging"); got != "on\n" {
		t.Fatalf("orgs prompt-logging after on: %q", got)
	}
	if got := arouter(0, "orgs", "prompt-logging", "off"); got != "off\n" {
		t.Fatalf("orgs prompt-logging off: %q", got)
	}
	arouter(2, "orgs", "prompt-logging", "maybe")
	arouter(2, "orgs", "prompt-logging", "on", "now")
}

// TestPromptLoggingCommandsOverTheAPI: with AROUTER_MANAGEMENT_KEY, the same switches reach a
// running gateway and take effect on the next request: a key's own opt-in, then the
// organization's. (Not parallel: it sets the process environment.)
func TestPromptLoggingCommandsOverTheAPI(t *testing.T) {
	tg := startGateway(t, gatewayOpts{})
	t.Setenv("AROUTER_MANAGEMENT_KEY", tg.adminToken)
	arouter := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(append(args, "--url", tg.url), &out, &errOut); code != want {
			t.Fatalf("arouter %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errOut.String())
		}
		return out.String()
	}
	// logged sends a request with the key and reports whether its prompt was stored.
	logged := func() bool {
		t.Helper()
		resp := tg.post(chatBody)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("X-Generation-Id")
		tg.waitRecord(id)
		status, _ := tg.call("GET", "/v1/generation/content?id="+id, tg.adminToken, nil)
		return status == 200
	}

	tg.key = strings.TrimSpace(arouter(0, "keys", "create", "--name", "cli", "--prompt-logging", "on"))
	var hash string
	for _, line := range strings.Split(arouter(0, "keys", "list"), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "cli" {
			hash = f[0]
		}
	}
	if !logged() {
		t.Fatal("a key created with --prompt-logging on: its request was not logged")
	}
	arouter(0, "keys", "update", hash, "--prompt-logging", "off")
	if logged() {
		t.Fatal("after keys update --prompt-logging off: a request was logged")
	}
	if got := arouter(0, "orgs", "prompt-logging", "on"); got != "on\n" {
		t.Fatalf("orgs prompt-logging on: %q", got)
	}
	if !logged() {
		t.Fatal("after orgs prompt-logging on: a request was not logged")
	}
	arouter(0, "orgs", "prompt-logging", "off")
	if logged() {
		t.Fatal("after orgs prompt-logging off: a request was logged")
	}
}
