package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestManagementCommandsOverTheAPI drives the CLI against a running gateway with a management
// key in AROUTER_MANAGEMENT_KEY, as an operator's script would. (Not parallel: it sets the
// process environment.)
func TestManagementCommandsOverTheAPI(t *testing.T) {
	tg := startGateway(t, gatewayOpts{extraYAML: twoModels})
	t.Setenv("AROUTER_MANAGEMENT_KEY", tg.adminToken)
	arouter := func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(append(args, "--url", tg.url), &out, &errOut); code != want {
			t.Fatalf("arouter %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}

	token, _ := arouter(0, "keys", "create", "--name", "ci", "--limit", "2.50", "--limit-reset", "weekly", "--allowed-models", "acme/*")
	token = strings.TrimSpace(token)
	if status, out := tg.chatAs(token, chatBody); status != 403 {
		t.Fatalf("key made by the CLI allows a model outside acme/*: %d %v", status, out)
	}
	list, _ := arouter(0, "keys", "list")
	var hash string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "ci" {
			hash = f[0]
			if !strings.Contains(line, "$2.5/week") || !strings.Contains(line, "acme/*") {
				t.Fatalf("list line: %q", line)
			}
		}
	}
	if hash == "" {
		t.Fatalf("created key not listed:\n%s", list)
	}
	out, _ := arouter(0, "keys", "update", hash, "--limit", "none", "--allowed-models", "all")
	if !strings.Contains(out, " - ") || !strings.Contains(out, " all ") {
		t.Fatalf("update output: %s", out)
	}
	if status, out := tg.chatAs(token, chatBody); status != 200 {
		t.Fatalf("after lifting the restriction: %d %v", status, out)
	}
	_, msg := arouter(1, "keys", "update", hash, "--limit-reset", "hourly")
	if !strings.Contains(msg, "limit_reset") {
		t.Fatalf("bad period: %s", msg)
	}
	next, info := arouter(0, "keys", "rotate", hash, "--grace", "1h")
	if next = strings.TrimSpace(next); !strings.HasPrefix(next, "sk-ar-v1-") || !strings.Contains(info, "old token works until") {
		t.Fatalf("rotate: %q %q", next, info)
	}
	for _, tok := range []string{token, next} {
		if status, _ := tg.chatAs(tok, chatBody); status != 200 {
			t.Fatalf("during the grace period a token is refused: %d", status)
		}
	}
	arouter(0, "keys", "delete", hash)
	if status, _ := tg.chatAs(token, chatBody); status != 401 {
		t.Fatalf("deleted key: %d", status)
	}

	arouter(0, "credits", "add", "5")
	if out, _ := arouter(0, "credits"); !strings.Contains(out, `"total_credits": 105`) {
		t.Fatalf("credits: %s", out)
	}
	orgKey, _ := arouter(0, "orgs", "create", "Platform Team")
	if out, _ := arouter(0, "orgs", "list"); !strings.Contains(out, "Platform Team") || !strings.Contains(out, "personal") {
		t.Fatalf("orgs list: %s", out)
	}
	// Switch context by switching keys.
	t.Setenv("AROUTER_MANAGEMENT_KEY", strings.TrimSpace(orgKey))
	invite, info := arouter(0, "members", "add", "dev@example.com", "--role", "member")
	if !strings.HasPrefix(strings.TrimSpace(invite), "sk-ar-inv-v1-") || !strings.Contains(info, "arouter invitations redeem") {
		t.Fatalf("members add: %q %q", invite, info)
	}
	members, _ := arouter(0, "members", "list")
	var devID string
	for _, line := range strings.Split(members, "\n") {
		if strings.Contains(line, "dev@example.com") {
			devID = strings.Fields(line)[0]
		}
	}
	arouter(0, "members", "set-role", devID, "admin")
	if members, _ = arouter(0, "members", "list"); !strings.Contains(members, "dev@example.com") || strings.Count(members, "admin") < 2 {
		t.Fatalf("after set-role: %s", members)
	}
	arouter(0, "members", "remove", devID)
	arouter(2, "members", "frob")
	arouter(2, "members", "set-role", "1")

	t.Setenv("AROUTER_MANAGEMENT_KEY", "sk-ar-mgmt-v1-nothex")
	if _, msg := arouter(1, "keys", "list"); !strings.Contains(msg, "AROUTER_MANAGEMENT_KEY") {
		t.Fatalf("malformed management key: %s", msg)
	}
}

// TestAdminKeyFromTheEnvironment: with AROUTER_ADMIN_KEY set, the first start stores that key
// and prints none. (Not parallel: it sets the process environment.)
func TestAdminKeyFromTheEnvironment(t *testing.T) {
	key := "sk-ar-mgmt-v1-" + strings.Repeat("ab", 32)
	t.Setenv("AROUTER_ADMIN_KEY", key)
	tg := startGateway(t, gatewayOpts{})
	if tg.adminToken != "" {
		t.Fatalf("a key was minted and would be printed: %q", tg.adminToken)
	}
	me := data(tg.mustCall(200, "GET", "/v1/me", key, nil))
	if u := me["user"].(map[string]any); u["email"] != "admin@localhost" || me["role"] != "admin" {
		t.Fatalf("AROUTER_ADMIN_KEY acts as %v", me)
	}
	tg.restart() // a second start with the same variable changes nothing
	tg.mustCall(200, "GET", "/v1/me", key, nil)

	t.Setenv("AROUTER_ADMIN_KEY", "not-a-key")
	if _, err := openGateway(tg.cfg, tg.log); err == nil || !strings.Contains(err.Error(), "AROUTER_ADMIN_KEY") {
		t.Fatalf("malformed AROUTER_ADMIN_KEY: %v", err)
	}
}
