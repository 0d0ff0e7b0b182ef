package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeysCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "arouter.yaml")
	yaml := fmt.Sprintf(processYAML, filepath.Join(dir, "arouter.db"))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	arouter := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(args, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, token, info := arouter("keys", "create", "--name", "ci", "--config", cfg)
	token = strings.TrimSpace(token)
	if code != 0 || !strings.HasPrefix(token, "sk-ar-v1-") || strings.Contains(token, "\n") || !strings.Contains(info, "shown only once") {
		t.Fatalf("create: %d %q %q", code, token, info)
	}
	code, list, _ := arouter("keys", "list", "--config", cfg)
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[1], "active") || strings.Contains(list, token) {
		t.Fatalf("list: %d %q", code, list)
	}
	hash := strings.Fields(lines[1])[0]
	// A negative amount is refused for what it is, not taken for an unknown flag.
	if code, _, e := arouter("credits", "add", "-5", "--config", cfg); code != 1 || !strings.Contains(e, "amount") {
		t.Errorf("credits add -5: %d %q", code, e)
	}
	// A --url without AROUTER_MANAGEMENT_KEY is not used, and the command says so.
	if code, _, e := arouter("keys", "list", "--url", "http://127.0.0.1:1", "--config", cfg); code != 0 || !strings.Contains(e, "--url is used only with AROUTER_MANAGEMENT_KEY") {
		t.Errorf("keys list --url without a management key: %d %q", code, e)
	}
	// Amounts print as the API writes them, never in a float's exponent notation.
	if code, _, e := arouter("keys", "create", "--name", "tiny", "--limit", "0.0000219", "--config", cfg); code != 0 {
		t.Fatalf("create tiny: %d %s", code, e)
	}
	if _, list, _ = arouter("keys", "list", "--config", cfg); !strings.Contains(list, "$0.0000219") || !strings.Contains(list, "$0\t") && !strings.Contains(list, "$0 ") {
		t.Fatalf("amounts in the list: %s", list)
	}
	// Flags may follow the hash, as the usage text shows.
	if code, _, e := arouter("keys", "disable", hash, "--config", cfg); code != 0 {
		t.Fatalf("disable: %d %s", code, e)
	}
	if _, list, _ = arouter("keys", "list", "--config", cfg); strings.Contains(list, hash) {
		t.Fatalf("disabled key listed without --include-disabled: %s", list)
	}
	if _, list, _ = arouter("keys", "list", "--include-disabled", "--config", cfg); !strings.Contains(list, "disabled") {
		t.Fatalf("after disable: %s", list)
	}
	for _, bad := range [][]string{
		{"keys"}, {"keys", "create", "--config", cfg}, {"keys", "disable", "--config", cfg},
		{"keys", "frob", "--config", cfg}, {"keys", "list", "extra", "--config", cfg}, {"frob"}, {},
	} {
		if code, _, _ := arouter(bad...); code != 2 {
			t.Errorf("arouter %q exited %d, want 2 (usage)", bad, code)
		}
	}
	for args, says := range map[string]string{"frob": "unknown subcommand", "get": "which key?", "list extra": "unexpected arguments"} {
		if _, _, e := arouter(append(append([]string{"keys"}, strings.Fields(args)...), "--config", cfg)...); !strings.Contains(e, says) {
			t.Errorf("arouter keys %s: %q, want it to say %q", args, e, says)
		}
	}
	if code, _, e := arouter("keys", "disable", "nothex", "--config", cfg); code != 1 || !strings.Contains(e, "keys list") {
		t.Errorf("bad hash: %d %q", code, e)
	}
	if code, out, _ := arouter("help"); code != 0 || !strings.Contains(out, "Quick start") {
		t.Errorf("help: %d", code)
	}
	// Help asked for, for a command group: its own usage, on stdout, exit 0.
	for _, group := range []string{"keys", "orgs", "members", "credits", "invitations", "byok", "activity", "serve", "admin-key"} {
		for _, args := range [][]string{{group, "--help"}, {group, "-h"}, {"help", group}} {
			if code, out, e := arouter(args...); code != 0 || !strings.Contains(out, "usage: arouter "+group) && !strings.Contains(out, "arouter "+group+" ") || e != "" {
				t.Errorf("arouter %q: exit %d, stdout %q, stderr %q", args, code, out, e)
			}
		}
	}
	if code, _, e := arouter("serve", "--config", filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(e, "missing.yaml") {
		t.Errorf("serve with a missing config: %d %q", code, e)
	}
}
