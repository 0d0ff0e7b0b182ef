package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/arouter/arouter/admin"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/store/sqlite"
	"github.com/arouter/arouter/tenancy"
)

// invite adds a member with an Admin's key, redeems the invitation the answer carries (without
// a key: the member must be a new account) and returns the member's management key.
func (e *byokEnv) invite(members, adminKey string, body map[string]any) string {
	e.t.Helper()
	out := e.must(201, "POST", members, adminKey, body)
	return e.redeem(invitationCode(e.t, out), "")
}

// redeem redeems code, sending token if not empty, and returns the new management key.
func (e *byokEnv) redeem(code, token string) string {
	e.t.Helper()
	return e.must(201, "POST", "/v1/invitations/redeem", token, map[string]any{"code": code})["key"].(string)
}

func invitationCode(t *testing.T, out map[string]any) string {
	t.Helper()
	inv, _ := out["invitation"].(map[string]any)
	code, _ := inv["code"].(string)
	if !tenancy.IsInvitationCode(code) {
		t.Fatalf("no invitation code in %v", out)
	}
	return code
}

// fakeClock is the API's clock in these tests; safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// newInvitationEnv is an API on a real store with a clock the test moves, and Acme (admin Ann)
// beside the instance admin's personal context.
func newInvitationEnv(t *testing.T) (*byokEnv, *fakeClock, string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "arouter.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	root, err := apikey.GenerateManagement()
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{}
	clock.ns.Store(time.Now().UnixNano())
	if _, _, err := admin.Bootstrap(ctx, st, admin.BootstrapOptions{AdminEmail: "admin@localhost", AdminKey: root}, clock.now()); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.New([]catalog.ModelSpec{{ID: "openai/gpt-4o-mini", Prices: catalog.Prices{Prompt: 1, Completion: 1},
		Deployments: []catalog.DeploymentSpec{{Provider: "openai", UpstreamModel: "gpt-4o-mini"}}}})
	if err != nil {
		t.Fatal(err)
	}
	api := admin.New(admin.Options{Store: st, Ledger: budget.New(budget.Options{}), Cache: nopInvalidator{}, Catalog: cat,
		Logger: zap.NewNop(), Now: clock.now})
	e := &byokEnv{t: t, store: st, api: api, root: root}
	out := e.must(201, "POST", "/v1/orgs", root, map[string]any{"name": "Acme"})
	founder := out["management_key"].(string)
	e.acmeID = int64(out["data"].(map[string]any)["id"].(float64))
	members := fmt.Sprintf("/v1/orgs/%d/members", e.acmeID)
	e.ann = e.invite(members, founder, map[string]any{"email": "ann@acme.test", "role": "admin"})
	e.must(200, "DELETE", fmt.Sprintf("%s/%d", members, e.userID(root)), e.ann, nil)
	return e, clock, members
}

func (e *byokEnv) userID(token string) int64 {
	e.t.Helper()
	return int64(e.must(200, "GET", "/v1/me", token, nil)["data"].(map[string]any)["user"].(map[string]any)["id"].(float64))
}

// shape lists the JSON paths of v (object keys, recursively), to compare answers' shapes.
func shape(v any, prefix string, into *[]string) {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			*into = append(*into, prefix+k)
			shape(x, prefix+k+".", into)
		}
	}
}

// TestAddMemberAnswersAlikeForNewAndExistingEmails: adding someone who has an account and
// someone who has none answers the same status and shape, an invitation code each, and no
// management key at all.
func TestAddMemberAnswersAlikeForNewAndExistingEmails(t *testing.T) {
	t.Parallel()
	e, clock, members := newInvitationEnv(t)
	fresh := e.must(201, "POST", members, e.ann, map[string]any{"email": "new@acme.test", "name": "New"})
	existing := e.must(201, "POST", members, e.ann, map[string]any{"email": "admin@localhost", "name": "New"})
	var a, b []string
	shape(fresh, "", &a)
	shape(existing, "", &b)
	sort.Strings(a)
	sort.Strings(b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("answers differ in shape:\nnew:      %v\nexisting: %v", a, b)
	}
	want := clock.now().UTC().Truncate(time.Second).Add(7 * 24 * time.Hour).Format(time.RFC3339)
	for _, out := range []map[string]any{fresh, existing} {
		raw, _ := json.Marshal(out)
		if strings.Contains(string(raw), apikey.ManagementPrefix) || out["management_key"] != nil {
			t.Errorf("an Admin received a management key of another user: %s", raw)
		}
		if got := out["invitation"].(map[string]any)["expires_at"]; got != want {
			t.Errorf("expires_at %v, want %v", got, want)
		}
		invitationCode(t, out)
	}
}

// TestInvitationRedeemsOnce: a code yields one management key, for the invited user in the
// organization; a second redemption, an unknown code and a code sent as a key are refused.
func TestInvitationRedeemsOnce(t *testing.T) {
	t.Parallel()
	e, _, members := newInvitationEnv(t)
	out := e.must(201, "POST", members, e.ann, map[string]any{"email": "bob@acme.test"})
	code, bobID := invitationCode(t, out), int64(out["data"].(map[string]any)["user"].(map[string]any)["id"].(float64))

	// A code is not a key.
	status, raw := e.call("GET", "/v1/me", code, nil)
	if status != 401 || !strings.Contains(string(raw), "invitations/redeem") {
		t.Errorf("an invitation code used as a key: %d %s", status, raw)
	}
	bob := e.redeem(code, "")
	me := e.must(200, "GET", "/v1/me", bob, nil)["data"].(map[string]any)
	if int64(me["user"].(map[string]any)["id"].(float64)) != bobID || int64(me["organization"].(map[string]any)["id"].(float64)) != e.acmeID ||
		me["role"] != "member" {
		t.Errorf("the redeemed key acts as %v", me)
	}
	unknown, err := tenancy.GenerateInvitationCode()
	if err != nil {
		t.Fatal(err)
	}
	var first []byte
	for _, c := range []struct{ code, token string }{{code, ""}, {code, bob}, {unknown, ""}} {
		status, raw := e.call("POST", "/v1/invitations/redeem", c.token, map[string]any{"code": c.code})
		if status != 404 || !strings.Contains(string(raw), "invitation not found, expired or already used; ask an Admin") {
			t.Errorf("redeeming a used or unknown code: %d %s", status, raw)
		}
		if first == nil {
			first = raw
		} else if string(raw) != string(first) {
			t.Errorf("answers for used and unknown codes differ:\n%s\n%s", first, raw)
		}
	}
	for _, body := range []any{map[string]any{}, map[string]any{"code": 7}, map[string]any{"code": bob},
		map[string]any{"code": code, "org": 1}, "not json"} {
		if status, raw := e.call("POST", "/v1/invitations/redeem", "", body); status != 400 {
			t.Errorf("redeem %v: %d %s, want 400", body, status, raw)
		}
	}
	if status, _ := e.call("GET", "/v1/invitations/redeem", "", nil); status != 405 {
		t.Errorf("GET /v1/invitations/redeem: %d, want 405", status)
	}
	if status, _ := e.call("POST", "/v1/invitations", "", nil); status != 404 {
		t.Errorf("POST /v1/invitations: %d, want 404", status)
	}
}

// TestInvitationExpires: a code works for 7 days and not a second longer.
func TestInvitationExpires(t *testing.T) {
	t.Parallel()
	e, clock, members := newInvitationEnv(t)
	late := invitationCode(t, e.must(201, "POST", members, e.ann, map[string]any{"email": "late@acme.test"}))
	onTime := invitationCode(t, e.must(201, "POST", members, e.ann, map[string]any{"email": "ontime@acme.test"}))
	clock.advance(7*24*time.Hour - 2*time.Second)
	e.redeem(onTime, "")
	clock.advance(2 * time.Second)
	if status, raw := e.call("POST", "/v1/invitations/redeem", "", map[string]any{"code": late}); status != 404 ||
		!strings.Contains(string(raw), "expired") {
		t.Errorf("an expired code: %d %s", status, raw)
	}
}

// TestReinvitingAMemberReplacesTheirCode: an Admin issues a new code for a member whose code
// expired; the new one works, the replaced one does not, and only an Admin of the member's own
// organization may issue it.
func TestReinvitingAMemberReplacesTheirCode(t *testing.T) {
	t.Parallel()
	e, clock, members := newInvitationEnv(t)
	out := e.must(201, "POST", members, e.ann, map[string]any{"email": "slow@acme.test"})
	expired, slowID := invitationCode(t, out), int64(out["data"].(map[string]any)["user"].(map[string]any)["id"].(float64))
	clock.advance(8 * 24 * time.Hour)
	reinvite := fmt.Sprintf("%s/%d/invitation", members, slowID)

	first := e.must(201, "POST", reinvite, e.ann, nil)
	lost := invitationCode(t, first)
	if got, want := first["invitation"].(map[string]any)["expires_at"], clock.now().UTC().Truncate(time.Second).Add(tenancy.InvitationTTL).Format(time.RFC3339); got != want {
		t.Errorf("expires_at %v, want %v", got, want)
	}
	fresh := invitationCode(t, e.must(201, "POST", reinvite, e.ann, nil)) // the first new code was lost too
	for _, code := range []string{expired, lost} {
		if status, raw := e.call("POST", "/v1/invitations/redeem", "", map[string]any{"code": code}); status != 404 {
			t.Errorf("a replaced code: %d %s", status, raw)
		}
	}
	slow := e.redeem(fresh, "")
	if got := e.userID(slow); got != slowID {
		t.Errorf("the new code's key acts as user %d, want %d", got, slowID)
	}

	// Refusals: a Member, a user who is not a member, another organization, a bad method.
	other := int64(e.must(201, "POST", "/v1/orgs", e.root, map[string]any{"name": "Other"})["data"].(map[string]any)["id"].(float64))
	for _, c := range []struct {
		method, path, token string
		status              int
		says                string
	}{
		{"POST", reinvite, slow, 403, "admin"}, // slow is a Member
		{"POST", fmt.Sprintf("%s/%d/invitation", members, e.userID(e.root)), e.ann, 404, "no such member"},
		{"POST", fmt.Sprintf("%s/abc/invitation", members), e.ann, 404, "no such member"},
		{"POST", fmt.Sprintf("/v1/orgs/%d/members/%d/invitation", other, slowID), e.ann, 404, ""},
		{"GET", reinvite, e.ann, 405, ""},
	} {
		status, raw := e.call(c.method, c.path, c.token, nil)
		if status != c.status || !strings.Contains(strings.ToLower(string(raw)), c.says) {
			t.Errorf("%s %s: %d %s, want %d saying %q", c.method, c.path, status, raw, c.status, c.says)
		}
	}
}

// TestInvitationForAnExistingAccountNeedsItsKey: an account that holds management keys redeems
// only with one of them; refusals leave the code valid.
func TestInvitationForAnExistingAccountNeedsItsKey(t *testing.T) {
	t.Parallel()
	e, _, members := newInvitationEnv(t)
	code := invitationCode(t, e.must(201, "POST", members, e.ann, map[string]any{"email": "admin@localhost"}))
	inference := e.must(201, "POST", "/v1/keys", e.ann, map[string]any{"name": "k"})["key"].(string)
	for _, c := range []struct {
		token  string
		status int
		says   string
	}{
		{"", 401, "AROUTER_MANAGEMENT_KEY"},
		{e.ann, 403, "another user"},
		{inference, 403, "inference keys"},
		{"sk-ar-mgmt-v1-" + strings.Repeat("0", 64), 401, "invalid management key"},
	} {
		status, raw := e.call("POST", "/v1/invitations/redeem", c.token, map[string]any{"code": code})
		if status != c.status || !strings.Contains(string(raw), c.says) {
			t.Errorf("redeem with %.20q: %d %s, want %d saying %q", c.token, status, raw, c.status, c.says)
		}
	}
	key := e.redeem(code, e.root)
	me := e.must(200, "GET", "/v1/me", key, nil)["data"].(map[string]any)
	if me["user"].(map[string]any)["email"] != "admin@localhost" || int64(me["organization"].(map[string]any)["id"].(float64)) != e.acmeID {
		t.Errorf("the redeemed key acts as %v", me)
	}
}

// TestRemovingAMemberVoidsTheirInvitation: a code handed out before a removal stays dead
// after the user is added again; the new code works.
func TestRemovingAMemberVoidsTheirInvitation(t *testing.T) {
	t.Parallel()
	e, _, members := newInvitationEnv(t)
	out := e.must(201, "POST", members, e.ann, map[string]any{"email": "gone@acme.test"})
	old, id := invitationCode(t, out), int64(out["data"].(map[string]any)["user"].(map[string]any)["id"].(float64))
	e.must(200, "DELETE", fmt.Sprintf("%s/%d", members, id), e.ann, nil)
	if status, raw := e.call("POST", "/v1/invitations/redeem", "", map[string]any{"code": old}); status != 404 {
		t.Errorf("a removed member's code: %d %s", status, raw)
	}
	fresh := invitationCode(t, e.must(201, "POST", members, e.ann, map[string]any{"email": "gone@acme.test"}))
	if status, _ := e.call("POST", "/v1/invitations/redeem", "", map[string]any{"code": old}); status != 404 {
		t.Errorf("the voided code came back with the new membership: %d", status)
	}
	e.redeem(fresh, "")
}

// TestConcurrentRedemptionsOfOneCode: of many simultaneous redemptions, exactly one wins.
func TestConcurrentRedemptionsOfOneCode(t *testing.T) {
	t.Parallel()
	e, _, members := newInvitationEnv(t)
	code := invitationCode(t, e.must(201, "POST", members, e.ann, map[string]any{"email": "race@acme.test"}))
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i], _ = e.call("POST", "/v1/invitations/redeem", "", map[string]any{"code": code})
		}()
	}
	close(start)
	wg.Wait()
	sort.Ints(statuses)
	want := []int{201, 404, 404, 404, 404, 404, 404, 404}
	if !reflect.DeepEqual(statuses, want) {
		t.Errorf("statuses %v, want exactly one 201", statuses)
	}
}

// TestManagementKeysStayInTheirContexts: a key mints keys for its own context and the user's
// personal one; any other organization, even one the user belongs to, is refused alike.
func TestManagementKeysStayInTheirContexts(t *testing.T) {
	t.Parallel()
	e, _, members := newInvitationEnv(t)
	// The instance admin is a member of Acme but holds no key acting in it.
	e.must(201, "POST", members, e.ann, map[string]any{"email": "admin@localhost"})
	orgs := e.must(200, "GET", "/v1/orgs", e.ann, nil)["data"].([]any)
	annPersonal := int64(orgs[0].(map[string]any)["id"].(float64))
	var refusals []string
	for _, id := range []int64{e.acmeID, 999999} {
		status, raw := e.call("POST", "/v1/management-keys", e.root, map[string]any{"organization_id": id})
		if status != 403 || !strings.Contains(string(raw), "invitations/redeem") {
			t.Errorf("minting for organization %d: %d %s, want 403", id, status, raw)
		}
		refusals = append(refusals, string(raw))
	}
	if refusals[0] != refusals[1] {
		t.Errorf("a member organization and a missing one are refused differently:\n%s\n%s", refusals[0], refusals[1])
	}
	for _, body := range []map[string]any{nil, {"organization_id": e.acmeID}, {"organization_id": annPersonal}} {
		var b any
		if body != nil {
			b = body
		}
		out := e.must(201, "POST", "/v1/management-keys", e.ann, b)
		want := e.acmeID
		if body != nil && body["organization_id"] == annPersonal {
			want = annPersonal
		}
		if got := int64(out["data"].(map[string]any)["organization_id"].(float64)); got != want {
			t.Errorf("minted with %v: acts in %d, want %d", body, got, want)
		}
	}
}
