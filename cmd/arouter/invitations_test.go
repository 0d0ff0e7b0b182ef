package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
)

// TestInvitationTakeoverIsImpossible replays the review's attack over loopback: an Admin of
// organization A invites a new user and tries to keep a key of theirs; organization B later adds
// the same user. The Admin of A never gets a key of the victim from the gateway, cannot reach B
// with any key it holds, and even a victim's key it obtained by redeeming the victim's code
// itself cannot mint a key for B.
func TestInvitationTakeoverIsImpossible(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	a, b := tg.newOrg("Attacker", 1), tg.newOrg("Bank", 50)
	noKeys := func(out map[string]any) {
		t.Helper()
		raw, _ := json.Marshal(out)
		if strings.Contains(string(raw), "sk-ar-mgmt-v1-") {
			t.Fatalf("an Admin was given a management key of another user: %s", raw)
		}
	}

	// 1. A invites victim@x.test, a new account: the answer is a code, not a key.
	out := tg.mustCall(201, "POST", membersPath(a), a.admin, map[string]any{"email": "victim@x.test"})
	noKeys(out)
	victimCodeA := invitationCode(t, out)
	// The Admin keeps the code and redeems it first: it now holds a key of the victim's, in A.
	stolen := tg.redeem(victimCodeA, "")

	// 2. B adds the same email (an existing account now), and hands its code to the victim.
	out = tg.mustCall(201, "POST", membersPath(b), b.admin, map[string]any{"email": "victim@x.test"})
	noKeys(out)
	victimCodeB := invitationCode(t, out)

	// 3. With the stolen key, A's Admin cannot mint a key for B ...
	status, resp := tg.call("POST", "/v1/management-keys", stolen, map[string]any{"organization_id": b.id})
	if msg, _ := errMessage(resp); status != 403 || !strings.Contains(msg, "invitations/redeem") {
		t.Fatalf("minting a key for B with the stolen key: %d %v, want 403", status, resp)
	}
	// ... nor reach anything of B through it, nor through its own keys.
	for _, token := range []string{stolen, a.admin} {
		if status, _ := tg.call("GET", membersPath(b), token, nil); status != 404 {
			t.Errorf("B's members with an attacker's key: %d, want 404", status)
		}
		if status, _ := tg.call("POST", "/v1/management-keys", token, map[string]any{"organization_id": b.id}); status != 403 {
			t.Errorf("minting for B with an attacker's key: %d, want 403", status)
		}
	}
	// A used code stays used, and a re-invitation by A is no way in either: the victim's account
	// now holds a key, so A's new code needs a key of the victim's, and A's own key is refused.
	if status, _ := tg.call("POST", "/v1/invitations/redeem", "", map[string]any{"code": victimCodeA}); status != 404 {
		t.Errorf("reusing A's code: %d, want 404", status)
	}
	victimID := data(out)["user"].(map[string]any)["id"].(float64)
	tg.mustCall(200, "DELETE", fmt.Sprintf("%s/%d", membersPath(a), int64(victimID)), a.admin, nil)
	again := invitationCode(t, tg.mustCall(201, "POST", membersPath(a), a.admin, map[string]any{"email": "victim@x.test"}))
	if status, _ := tg.call("POST", "/v1/invitations/redeem", a.admin, map[string]any{"code": again}); status != 403 {
		t.Errorf("A's admin redeeming the victim's code with its own key: %d, want 403", status)
	}
	// B's code, in the victim's hands, is what gets the victim into B; it works once.
	if status, _ := tg.call("POST", "/v1/invitations/redeem", "", map[string]any{"code": victimCodeB}); status != 401 {
		t.Errorf("B's code without a key of the (now existing) account: %d, want 401", status)
	}
	if status, _ := tg.call("GET", "/v1/me", stolen, nil); status != 401 {
		t.Errorf("the key A's admin redeemed outlived the victim's removal from A: %d", status)
	}

	// The honest path: a victim who redeemed A's code themselves redeems B's with their own key,
	// and A's Admin, who never held that key, has nothing in B.
	c := tg.newOrg("Clinic", 1)
	own := tg.redeem(invitationCode(t, tg.mustCall(201, "POST", membersPath(a), a.admin, map[string]any{"email": "honest@x.test"})), "")
	inB := tg.redeem(invitationCode(t, tg.mustCall(201, "POST", membersPath(c), c.admin, map[string]any{"email": "honest@x.test"})), own)
	if me := data(tg.mustCall(200, "GET", "/v1/me", inB, nil)); int64(me["organization"].(map[string]any)["id"].(float64)) != c.id {
		t.Errorf("the redeemed key acts in %v", me)
	}
}

// TestAddMemberIsUniformOverHTTP: a new and an existing email answer alike (status, shape).
func TestAddMemberIsUniformOverHTTP(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	o := tg.newOrg("Uniform", 0)
	paths := func(out map[string]any) []string {
		var p []string
		var walk func(v any, prefix string)
		walk = func(v any, prefix string) {
			if m, ok := v.(map[string]any); ok {
				for k, x := range m {
					p = append(p, prefix+k)
					walk(x, prefix+k+".")
				}
			}
		}
		walk(out, "")
		sort.Strings(p)
		return p
	}
	s1, fresh := tg.call("POST", membersPath(o), o.admin, map[string]any{"email": "nobody-yet@uniform.test", "name": "X"})
	s2, existing := tg.call("POST", membersPath(o), o.admin, map[string]any{"email": tg.admin.Email, "name": "X"})
	if s1 != 201 || s2 != 201 || !reflect.DeepEqual(paths(fresh), paths(existing)) {
		t.Errorf("new: %d %v\nexisting: %d %v", s1, fresh, s2, existing)
	}
}

// TestConcurrentRedemptionOverHTTP: parallel redemptions of one code on a running gateway
// yield exactly one key.
func TestConcurrentRedemptionOverHTTP(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	o := tg.newOrg("Race", 0)
	code := invitationCode(t, tg.mustCall(201, "POST", membersPath(o), o.admin, map[string]any{"email": "racer@race.test"}))
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i], _ = tg.call("POST", "/v1/invitations/redeem", "", map[string]any{"code": code})
		}()
	}
	close(start)
	wg.Wait()
	sort.Ints(statuses)
	if statuses[0] != 201 || statuses[1] != 404 || statuses[n-1] != 404 {
		t.Errorf("statuses %v, want one 201 and 404s", statuses)
	}
}

// TestInvitationCommands drives members add and invitations redeem from the command line:
// a new account without a key, an existing account with AROUTER_MANAGEMENT_KEY, the instance
// admin on the store with --local. (Not parallel: it sets the process environment.)
func TestInvitationCommands(t *testing.T) {
	tg := startGateway(t, gatewayOpts{})
	arouter := func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != want {
			t.Fatalf("arouter %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errOut.String())
		}
		return strings.TrimSpace(out.String()), errOut.String()
	}
	actsIn := func(key string) (string, int64) {
		t.Helper()
		me := data(tg.mustCall(200, "GET", "/v1/me", key, nil))
		return me["user"].(map[string]any)["email"].(string), int64(me["organization"].(map[string]any)["id"].(float64))
	}
	team := tg.mustCall(201, "POST", "/v1/orgs", tg.adminToken, map[string]any{"name": "Team"})
	teamID, teamKey := int64(data(team)["id"].(float64)), team["management_key"].(string)

	// A new account: the Admin adds, the member redeems without a key.
	t.Setenv("AROUTER_MANAGEMENT_KEY", teamKey)
	code, info := arouter(0, "members", "add", "dev@example.com", "--url", tg.url)
	if !strings.HasPrefix(code, "sk-ar-inv-v1-") || !strings.Contains(info, "arouter invitations redeem CODE --url "+tg.url) {
		t.Fatalf("members add: %q %q", code, info)
	}
	t.Setenv("AROUTER_MANAGEMENT_KEY", "")
	devKey, info := arouter(0, "invitations", "redeem", code, "--url", tg.url)
	if email, org := actsIn(devKey); email != "dev@example.com" || org != teamID || !strings.Contains(info, "shown only once") {
		t.Fatalf("redeemed key acts as %s in %d; %s", email, org, info)
	}
	if _, msg := arouter(1, "invitations", "redeem", code, "--url", tg.url); !strings.Contains(msg, "already used") {
		t.Errorf("second redemption: %s", msg)
	}

	// A lost code: the Admin reissues it by user id; the old one stops working.
	t.Setenv("AROUTER_MANAGEMENT_KEY", teamKey)
	lost, _ := arouter(0, "members", "add", "late@example.com", "--url", tg.url)
	var lateID string
	for _, m := range tg.mustCall(200, "GET", fmt.Sprintf("/v1/orgs/%d/members", teamID), teamKey, nil)["data"].([]any) {
		if u := m.(map[string]any)["user"].(map[string]any); u["email"] == "late@example.com" {
			lateID = fmt.Sprint(int64(u["id"].(float64)))
		}
	}
	code, info = arouter(0, "members", "reinvite", lateID, "--url", tg.url)
	if !strings.HasPrefix(code, "sk-ar-inv-v1-") || code == lost || !strings.Contains(info, "earlier codes no longer work") {
		t.Fatalf("members reinvite: %q %q", code, info)
	}
	t.Setenv("AROUTER_MANAGEMENT_KEY", "")
	if _, msg := arouter(1, "invitations", "redeem", lost, "--url", tg.url); !strings.Contains(msg, "already used") {
		t.Errorf("the replaced code: %s", msg)
	}
	if lateKey, _ := arouter(0, "invitations", "redeem", code, "--url", tg.url); lateKey == "" {
		t.Error("the reissued code redeemed to nothing")
	}
	t.Setenv("AROUTER_MANAGEMENT_KEY", teamKey)
	if _, msg := arouter(1, "members", "reinvite", "999999", "--url", tg.url); !strings.Contains(msg, "no such member") {
		t.Errorf("reinvite a non-member: %s", msg)
	}
	arouter(2, "members", "reinvite")

	// An existing account: without its key the CLI says what to set; with it the code works.
	other := tg.mustCall(201, "POST", "/v1/orgs", tg.adminToken, map[string]any{"name": "Other"})
	otherID := int64(data(other)["id"].(float64))
	t.Setenv("AROUTER_MANAGEMENT_KEY", other["management_key"].(string))
	code, _ = arouter(0, "members", "add", "dev@example.com", "--url", tg.url)
	t.Setenv("AROUTER_MANAGEMENT_KEY", "")
	if _, msg := arouter(1, "invitations", "redeem", code, "--url", tg.url); !strings.Contains(msg, "AROUTER_MANAGEMENT_KEY") {
		t.Errorf("existing account without its key: %s", msg)
	}
	t.Setenv("AROUTER_MANAGEMENT_KEY", devKey)
	key, _ := arouter(0, "invitations", "redeem", code, "--url", tg.url, "--name", "laptop")
	if email, org := actsIn(key); email != "dev@example.com" || org != otherID {
		t.Errorf("redeemed key acts as %s in %d", email, org)
	}

	// The instance admin, invited to an organization it did not create, redeems on the store.
	devOrg := tg.mustCall(201, "POST", "/v1/orgs", devKey, map[string]any{"name": "Dev's"})
	code = invitationCode(t, tg.mustCall(201, "POST", fmt.Sprintf("/v1/orgs/%d/members", int64(data(devOrg)["id"].(float64))),
		devOrg["management_key"].(string), map[string]any{"email": tg.admin.Email}))
	cfgPath := filepath.Join(t.TempDir(), "arouter.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(processYAML, filepath.Join(tg.dir, "arouter.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AROUTER_MANAGEMENT_KEY", "")
	key, _ = arouter(0, "invitations", "redeem", code, "--local", "--config", cfgPath)
	if email, org := actsIn(key); email != tg.admin.Email || org != int64(data(devOrg)["id"].(float64)) {
		t.Errorf("locally redeemed key acts as %s in %d", email, org)
	}

	// A member removed and added again has no live key left (removal revoked the one acting in
	// the organization), so the code alone cannot let them in; the instance admin mints them
	// one, and with it the code works.
	t.Setenv("AROUTER_MANAGEMENT_KEY", teamKey)
	solo, _ := arouter(0, "members", "add", "solo@example.com", "--url", tg.url)
	t.Setenv("AROUTER_MANAGEMENT_KEY", "")
	soloKey, _ := arouter(0, "invitations", "redeem", solo, "--url", tg.url)
	soloID := int64(data(tg.mustCall(200, "GET", "/v1/me", soloKey, nil))["user"].(map[string]any)["id"].(float64))
	tg.mustCall(200, "DELETE", fmt.Sprintf("/v1/orgs/%d/members/%d", teamID, soloID), teamKey, nil)
	t.Setenv("AROUTER_MANAGEMENT_KEY", teamKey)
	solo, _ = arouter(0, "members", "add", "solo@example.com", "--url", tg.url)
	t.Setenv("AROUTER_MANAGEMENT_KEY", "")
	if _, msg := arouter(1, "invitations", "redeem", solo, "--url", tg.url); !strings.Contains(msg, "arouter admin-key --user EMAIL") {
		t.Errorf("a re-added member without a live key is not told the way back: %s", msg)
	}
	minted, info := arouter(0, "admin-key", "--user", "solo@example.com", "--config", cfgPath)
	if email, org := actsIn(minted); email != "solo@example.com" || !strings.Contains(info, "personal context") {
		t.Fatalf("admin-key --user: a key for %s in %d; %s", email, org, info)
	}
	t.Setenv("AROUTER_MANAGEMENT_KEY", minted)
	if back, _ := arouter(0, "invitations", "redeem", solo, "--url", tg.url); back == "" {
		t.Fatal("the re-added member's code redeemed to nothing")
	} else if email, org := actsIn(back); email != "solo@example.com" || org != teamID {
		t.Errorf("the re-added member's key acts as %s in %d", email, org)
	}
	t.Setenv("AROUTER_MANAGEMENT_KEY", "")
	if _, msg := arouter(1, "admin-key", "--user", "nobody@example.com", "--config", cfgPath); !strings.Contains(msg, "members add") {
		t.Errorf("admin-key for an unknown email: %s", msg)
	}

	arouter(2, "invitations")
	arouter(2, "invitations", "redeem")
	arouter(2, "invitations", "accept", code)
	if out, _ := arouter(0, "invitations", "-h"); !strings.Contains(out, "AROUTER_MANAGEMENT_KEY") {
		t.Errorf("invitations -h: %s", out)
	}
	if out, _ := arouter(0, "help"); !strings.Contains(out, "invitations redeem CODE") {
		t.Errorf("usage does not mention invitations: %s", out)
	}
}
