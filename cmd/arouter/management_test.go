package main

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arouter/arouter/mockllm"
)

// TestRoleMatrix runs every Management API action as an organization's Admin and as a Member,
// and checks who may do what. A Member's refusals are 403 for organization-wide actions and 404
// for other members' keys (whose existence a Member must not learn).
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	o := tg.newOrg("Acme", 10)
	member, memberID := tg.addMember(o, "bob@acme.test", "member")
	_, carolID := tg.addMember(o, "carol@acme.test", "member")
	_, adminKeyHash := tg.createKey(o.admin, map[string]any{"name": "admin's"})
	_, memberKeyHash := tg.createKey(member, map[string]any{"name": "bob's"})
	members := membersPath(o)

	type action struct {
		name          string
		method, path  string
		body          any
		admin, member int // expected statuses
	}
	actions := []action{
		{"list keys", "GET", "/v1/keys", nil, 200, 200},
		{"create key", "POST", "/v1/keys", map[string]any{"name": "x"}, 201, 201},
		{"read own key", "GET", "/v1/keys/" + memberKeyHash, nil, 200, 200},
		{"update own key", "PATCH", "/v1/keys/" + memberKeyHash, map[string]any{"name": "renamed"}, 200, 200},
		{"read another member's key", "GET", "/v1/keys/" + adminKeyHash, nil, 200, 404},
		{"update another member's key", "PATCH", "/v1/keys/" + adminKeyHash, map[string]any{"limit": 1}, 200, 404},
		{"rotate another member's key", "POST", "/v1/keys/" + adminKeyHash + "/rotate", map[string]any{}, 201, 404},
		{"list members", "GET", members, nil, 200, 403},
		{"add member", "POST", members, map[string]any{"email": "dave@acme.test"}, 201, 403},
		{"change a role", "PATCH", members + "/" + strconv.FormatInt(carolID, 10), map[string]any{"role": "member"}, 200, 403},
		{"read credits", "GET", "/v1/credits", nil, 200, 403},
		{"add credits", "POST", "/v1/credits", map[string]any{"amount": 1}, 403, 403}, // the operator's
		{"whoami", "GET", "/v1/me", nil, 200, 200},
		{"list own organizations", "GET", "/v1/orgs", nil, 200, 200},
	}
	// The member goes first: the admin's rotate replaces the admin's key.
	for _, who := range []string{"member", "admin"} {
		for _, a := range actions {
			token, want := member, a.member
			if who == "admin" {
				token, want = o.admin, a.admin
				if a.name == "add member" {
					a.body = map[string]any{"email": "erin@acme.test"}
				}
			}
			if status, out := tg.call(a.method, a.path, token, a.body); status != want {
				t.Errorf("%s as %s: status %d, want %d: %v", a.name, who, status, want, out)
			}
		}
	}
	// A Member lists only their own keys; an Admin lists all of the organization's.
	count := func(token string) int {
		return len(tg.mustCall(200, "GET", "/v1/keys", token, nil)["data"].([]any))
	}
	if n := count(member); n != 2 { // bob's and "x"
		t.Errorf("member lists %d keys, want their own 2", n)
	}
	if n := count(o.admin); n != 5 { // admin's (expired by the rotation) and its successor, "x", bob's, "x"
		t.Errorf("admin lists %d keys, want all 5", n)
	}
	// Removing a member disables the keys they created and ends their management access.
	out := tg.mustCall(200, "DELETE", members+"/"+strconv.FormatInt(memberID, 10), o.admin, nil)
	if out["keys_disabled"] != float64(2) {
		t.Errorf("removing bob disabled %v keys, want 2", out["keys_disabled"])
	}
	if status, _ := tg.call("GET", "/v1/keys", member, nil); status != 401 {
		t.Errorf("a removed member's management key still works: %d", status)
	}
	if d := data(tg.mustCall(200, "GET", "/v1/keys/"+memberKeyHash, o.admin, nil)); d["disabled"] != true {
		t.Errorf("a removed member's key is not disabled: %v", d)
	}
}

// TestOrganizationsAreIsolated checks every read and write across two organizations: each is
// refused as not found, so existence does not leak.
func TestOrganizationsAreIsolated(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	a, b := tg.newOrg("A", 5), tg.newOrg("B", 7)
	_, aUserID := tg.addMember(a, "ann@a.test", "member")
	aToken, aHash := tg.createKey(a.admin, map[string]any{"name": "a-key"})
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/keys/" + aHash},
		{"PATCH", "/v1/keys/" + aHash},
		{"DELETE", "/v1/keys/" + aHash},
		{"POST", "/v1/keys/" + aHash + "/rotate"},
		{"GET", membersPath(a)},
		{"POST", membersPath(a)},
		{"PATCH", membersPath(a) + "/" + strconv.FormatInt(aUserID, 10)},
		{"DELETE", membersPath(a) + "/" + strconv.FormatInt(aUserID, 10)},
	} {
		body := map[string]any{}
		switch {
		case c.method == "PATCH" && strings.Contains(c.path, "members"):
			body = map[string]any{"role": "admin"}
		case c.method == "PATCH":
			body = map[string]any{"disabled": true}
		case c.method == "POST" && strings.Contains(c.path, "members"):
			body = map[string]any{"email": "mallory@b.test"}
		}
		if status, out := tg.call(c.method, c.path, b.admin, body); status != 404 {
			t.Errorf("B's admin: %s %s = %d, want 404: %v", c.method, c.path, status, out)
		}
	}
	if keys := tg.mustCall(200, "GET", "/v1/keys", b.admin, nil)["data"].([]any); len(keys) != 0 {
		t.Errorf("B lists A's keys: %v", keys)
	}
	if got := data(tg.mustCall(200, "GET", "/v1/credits", b.admin, nil))["total_credits"]; got != float64(7) {
		t.Errorf("B's credits = %v, want its own 7", got)
	}
	// A management key for B cannot be minted by A's admin, who is not B's member.
	if status, _ := tg.call("POST", "/v1/management-keys", a.admin, map[string]any{"organization_id": b.id}); status != 403 {
		t.Errorf("minting a key for another organization: %d, want 403", status)
	}
	// A's key still works and nothing of it changed.
	if status, out := tg.chatAs(aToken, chatBody); status != 200 {
		t.Fatalf("A's key after B's attempts: %d %v", status, out)
	}
}

func TestLastAdminStays(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	o := tg.newOrg("Solo", 0)
	me := data(tg.mustCall(200, "GET", "/v1/me", o.admin, nil))["user"].(map[string]any)
	self := membersPath(o) + "/" + strconv.FormatInt(int64(me["id"].(float64)), 10)
	for _, c := range []struct {
		method string
		body   any
	}{{"PATCH", map[string]any{"role": "member"}}, {"DELETE", nil}} {
		if status, out := tg.call(c.method, self, o.admin, c.body); status != 409 {
			t.Errorf("%s the last admin: %d, want 409: %v", c.method, status, out)
		}
	}
	_, otherID := tg.addMember(o, "second@solo.test", "admin")
	tg.mustCall(200, "PATCH", self, o.admin, map[string]any{"role": "member"})
	// The caller is no longer an admin: their own key lost admin rights at once.
	if status, _ := tg.call("GET", membersPath(o), o.admin, nil); status != 403 {
		t.Errorf("demoted admin still lists members: %d", status)
	}
	_ = otherID
}

// TestKeyFieldsAreValidated sends bad input to POST and PATCH: each is a 400 naming the field,
// and nothing is written.
func TestKeyFieldsAreValidated(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{extraYAML: twoModels})
	_, hash := tg.createKey(tg.adminToken, map[string]any{"name": "original", "limit": 3})
	before := data(tg.mustCall(200, "GET", "/v1/keys/"+hash, tg.adminToken, nil))
	cases := []struct{ body, field string }{
		{`{"name":"x","colour":"red"}`, "colour"},
		{`{"name":42}`, "name"},
		{`{"name":""}`, "name"},
		{`{"name":"x","limit":-1}`, "limit"},
		{`{"name":"x","limit":"10"}`, "limit"},
		{`{"name":"x","limit":1e400}`, "limit"},
		{`{"name":"x","limit":0.0000000001}`, "limit"},
		{`{"name":"x","limit_reset":"hourly"}`, "limit_reset"},
		{`{"name":"x","limit_reset":7}`, "limit_reset"},
		{`{"name":"x","expires_at":"next tuesday"}`, "expires_at"},
		{`{"name":"x","expires_at":"2001-01-01T00:00:00Z"}`, "expires_at"},
		{`{"name":"x","allowed_models":["openai/gpt-5-imaginary"]}`, "allowed_models"},
		{`{"name":"x","allowed_models":"openai/*"}`, "allowed_models"},
		{`{"name":"x","allowed_models":["nobody/*"]}`, "allowed_models"},
		{`{"name":"x","include_byok_in_limit":"yes"}`, "include_byok_in_limit"},
		{`{"name":"x","disabled":"no"}`, "disabled"},
	}
	for _, c := range cases {
		for _, method := range []string{"POST", "PATCH"} {
			path := "/v1/keys"
			if method == "PATCH" {
				path += "/" + hash
			} else if c.field == "disabled" {
				continue // not a create field: reported as unknown, checked below
			}
			status, out := tg.call(method, path, tg.adminToken, c.body)
			msg, md := errMessage(out)
			if status != 400 || md["field"] != c.field || !strings.HasPrefix(msg, c.field+":") {
				t.Errorf("%s %s: %d %q %v, want 400 naming %s", method, c.body, status, msg, md, c.field)
			}
		}
	}
	for _, body := range []string{`not json`, `[1,2]`, `{"name":"a"} {"name":"b"}`} {
		if status, _ := tg.call("POST", "/v1/keys", tg.adminToken, body); status != 400 {
			t.Errorf("POST %q: %d, want 400", body, status)
		}
	}
	// A PATCH with one bad field among good ones changes nothing.
	if status, _ := tg.call("PATCH", "/v1/keys/"+hash, tg.adminToken, `{"name":"changed","limit":5,"limit_reset":"yearly"}`); status != 400 {
		t.Fatalf("mixed PATCH: %d", status)
	}
	after := data(tg.mustCall(200, "GET", "/v1/keys/"+hash, tg.adminToken, nil))
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a refused PATCH changed the key:\nbefore %v\nafter  %v", before, after)
	}
	if keys := tg.mustCall(200, "GET", "/v1/keys?include_disabled=true", tg.adminToken, nil)["data"].([]any); len(keys) != 2 { // "original" and startGateway's
		t.Errorf("refused POSTs created keys: %d listed", len(keys))
	}
	// Wildcards and nulls are accepted.
	out := tg.mustCall(200, "PATCH", "/v1/keys/"+hash, tg.adminToken, `{"allowed_models":["acme/*"],"limit":null,"limit_reset":"weekly","expires_at":"2099-01-01T00:00:00+02:00"}`)
	if d := data(out); d["limit"] != nil || d["limit_reset"] != "weekly" || d["expires_at"] != "2098-12-31T22:00:00Z" {
		t.Errorf("PATCH with nulls and a wildcard: %v", d)
	}
}

// TestModelRestrictionsAndKeyLimits: a key refuses models outside allowed_models (403 naming
// the model) and requests past its limit (402 saying which limit), and GET /v1/key shows it
// its own budget.
func TestModelRestrictionsAndKeyLimits(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{extraYAML: twoModels})
	token, hash := tg.createKey(tg.adminToken, map[string]any{"name": "tiny only", "allowed_models": []string{"acme/*"},
		"limit": 0.00001, "limit_reset": "daily"})
	status, out := tg.chatAs(token, chatBody)
	if msg, md := errMessage(out); status != 403 || md["model"] != "openai/gpt-4o-mini" || !strings.Contains(msg, "openai/gpt-4o-mini") {
		t.Fatalf("disallowed model: %d %v", status, out)
	}
	tiny := strings.Replace(chatBody, "openai/gpt-4o-mini", "acme/tiny", 1)
	if status, out := tg.chatAs(token, tiny); status != 200 {
		t.Fatalf("allowed model: %d %v", status, out)
	}
	// acme/tiny costs $1/M prompt and $2/M completion: one request spends the $0.00001 limit.
	status, out = tg.chatAs(token, tiny)
	msg, md := errMessage(out)
	if status != 402 || md["limit"] != "key" || md["limit_reset"] != "daily" || md["resets_at"] == nil || !strings.Contains(msg, "limit") {
		t.Fatalf("over the limit: %d %v", status, out)
	}
	own := data(tg.mustCall(200, "GET", "/v1/key", token, nil))
	if own["hash"] != hash || own["limit_remaining"] != float64(0) || own["usage_daily"].(float64) <= 0.00001 {
		t.Fatalf("GET /v1/key: %v", own)
	}
	// Raising the limit applies to the next request.
	tg.mustCall(200, "PATCH", "/v1/keys/"+hash, tg.adminToken, map[string]any{"limit": 1})
	if status, out := tg.chatAs(token, tiny); status != 200 {
		t.Fatalf("after raising the limit: %d %v", status, out)
	}
}

func TestKeyKindsStayInTheirLane(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	if status, out := tg.chatAs(tg.adminToken, chatBody); status != 403 || !strings.Contains(fmt.Sprint(out), "management keys cannot") {
		t.Errorf("management key on inference: %d %v", status, out)
	}
	if status, out := tg.call("GET", "/v1/keys", tg.key, nil); status != 403 || !strings.Contains(fmt.Sprint(out), "inference keys cannot") {
		t.Errorf("inference key on the Management API: %d %v", status, out)
	}
	if status, _ := tg.call("GET", "/v1/key", tg.adminToken, nil); status != 403 {
		t.Errorf("management key on GET /v1/key: %d", status)
	}
	for _, tok := range []string{"", "sk-ar-mgmt-v1-" + strings.Repeat("0", 64), "garbage"} {
		if status, _ := tg.call("GET", "/v1/keys", tok, nil); status != 401 {
			t.Errorf("token %q on the Management API: %d, want 401", tok, status)
		}
	}
}

// TestCreditsPoolIsShared: the organization's keys draw on one pool; an empty pool refuses with
// 402 naming the credits, and the instance admin's grant lets requests through again.
func TestCreditsPoolIsShared(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{extraYAML: twoModels})
	o := tg.newOrg("Pool", 0.000005)
	member, _ := tg.addMember(o, "m@pool.test", "member")
	k1, _ := tg.createKey(o.admin, map[string]any{"name": "one"})
	k2, _ := tg.createKey(member, map[string]any{"name": "two"})
	tiny := strings.Replace(chatBody, "openai/gpt-4o-mini", "acme/tiny", 1)
	if status, out := tg.chatAs(k1, tiny); status != 200 {
		t.Fatalf("first request: %d %v", status, out)
	}
	status, out := tg.chatAs(k2, tiny)
	if _, md := errMessage(out); status != 402 || md["limit"] != "credits" {
		t.Fatalf("second key on the spent pool: %d %v", status, out)
	}
	if status, _ := tg.call("POST", "/v1/credits", tg.adminToken, map[string]any{"amount": -5, "organization_id": o.id}); status != 400 {
		t.Errorf("negative grant: %d", status)
	}
	tg.grant(o, 1)
	if status, out := tg.chatAs(k2, tiny); status != 200 {
		t.Fatalf("after the grant: %d %v", status, out)
	}
}

// TestOnlyTheOperatorGrantsCredits: every user administers a personal context and may create
// organizations, so a grant by an Admin would let anyone spend the operator's provider accounts
// without bound. An invited member's personal context and own new organization cannot raise
// their credits; the instance admin grants to either by id, and a key there then spends.
func TestOnlyTheOperatorGrantsCredits(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	o := tg.newOrg("Granted", 1)
	dev, _ := tg.addMember(o, "dev@granted.test", "member")
	if me := data(tg.mustCall(200, "GET", "/v1/me", dev, nil)); me["instance_admin"] != false {
		t.Errorf("a member's /v1/me: instance_admin = %v", me["instance_admin"])
	}
	if me := data(tg.mustCall(200, "GET", "/v1/me", tg.adminToken, nil)); me["instance_admin"] != true {
		t.Errorf("the instance admin's /v1/me: instance_admin = %v", me["instance_admin"])
	}
	var personal int64
	for _, c := range tg.mustCall(200, "GET", "/v1/orgs", dev, nil)["data"].([]any) {
		if c := c.(map[string]any); c["personal"] == true {
			personal = int64(c["id"].(float64))
		}
	}
	own := tg.mustCall(201, "POST", "/v1/management-keys", dev, map[string]any{"name": "mine", "organization_id": personal})["key"].(string)
	mine := tg.mustCall(201, "POST", "/v1/orgs", dev, map[string]any{"name": "Dev's own"})["management_key"].(string)
	for who, token := range map[string]string{"personal context": own, "own organization": mine, "the organization's Admin": o.admin} {
		status, out := tg.call("POST", "/v1/credits", token, map[string]any{"amount": 1000000})
		if msg, _ := errMessage(out); status != 403 || !strings.Contains(msg, "instance admin") {
			t.Errorf("%s grants itself credits: %d %v", who, status, out)
		}
	}
	key, _ := tg.createKey(own, map[string]any{"name": "personal"})
	if status, out := tg.chatAs(key, chatBody); status != 402 {
		t.Fatalf("a personal context with no credits: %d %v", status, out)
	}
	tg.grant(org{id: personal}, 1)
	if status, out := tg.chatAs(key, chatBody); status != 200 {
		t.Fatalf("after the operator's grant: %d %v", status, out)
	}
}

// TestParallelRequestsCannotOverspendALimit: 100 requests at once against a key with less
// than one request's cost left. Spend may pass the limit by at most what one request cost
// beyond what was left.
func TestParallelRequestsCannotOverspendALimit(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{extraYAML: twoModels, behavior: mockllm.Behavior{Latency: mockllm.Duration(20 * time.Millisecond)}})
	tiny := strings.Replace(chatBody, "openai/gpt-4o-mini", "acme/tiny", 1)
	probe, _ := tg.createKey(tg.adminToken, map[string]any{"name": "probe"})
	_, out := tg.chatAs(probe, tiny)
	cost := out["usage"].(map[string]any)["cost"].(float64) // every request costs the same

	limit := cost * 1.5 // after one request, half a request's cost is left
	token, hash := tg.createKey(tg.adminToken, map[string]any{"name": "nearly spent", "limit": limit})
	if status, out := tg.chatAs(token, tiny); status != 200 {
		t.Fatalf("first request: %d %v", status, out)
	}
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 100 {
		wg.Go(func() {
			<-start
			switch status, out := tg.chatAs(token, tiny); status {
			case 200:
				ok.Add(1)
			case 402:
				refused.Add(1)
			default:
				t.Errorf("status %d: %v", status, out)
			}
		})
	}
	close(start)
	wg.Wait()
	spent := data(tg.mustCall(200, "GET", "/v1/keys/"+hash, tg.adminToken, nil))["usage"].(float64)
	left := limit - cost
	t.Logf("limit $%.9f, one request $%.9f: %d admitted, %d refused, spent $%.9f", limit, cost, ok.Load(), refused.Load(), spent)
	if ok.Load() < 1 || refused.Load() < 1 {
		t.Fatalf("want some admitted (budget was left) and the rest refused: %d ok, %d refused", ok.Load(), refused.Load())
	}
	if over := spent - limit; over > cost-left+1e-12 {
		t.Fatalf("overspent by $%.9f, more than one request's settled difference $%.9f", over, cost-left)
	}
}

// TestRotationUnderContinuousTraffic rotates a key with a grace period while a client sends
// requests without pause: no request fails, the new key shares the old one's budget, and the
// old token is refused right after it is deleted.
func TestRotationUnderContinuousTraffic(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	oldToken, oldHash := tg.createKey(tg.adminToken, map[string]any{"name": "prod", "limit": 100, "limit_reset": "monthly"})
	var current atomic.Value
	current.Store(oldToken)
	const workers = 4
	var lastUsed [workers]atomic.Value // the token each worker's latest finished request used
	stop := make(chan struct{})
	progress := make(chan struct{}, 1) // signalled after each request, so waiting needs no sleep
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				token := current.Load().(string)
				if status, out := tg.chatAs(token, chatBody); status != 200 {
					failed.Add(1)
					t.Errorf("request during rotation: %d %v", status, out)
				}
				lastUsed[i].Store(token)
				sent.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	waitFor := func(n int64) {
		for target := sent.Load() + n; sent.Load() < target; {
			<-progress
		}
	}
	waitFor(20)
	out := tg.mustCall(201, "POST", "/v1/keys/"+oldHash+"/rotate", tg.adminToken,
		map[string]any{"old_key_expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	newToken, newHash := out["key"].(string), data(out)["hash"].(string)
	waitFor(20) // both tokens valid: clients still on the old one keep working
	current.Store(newToken)
	// Traffic has moved once every client's latest request used the new token.
	for moved := false; !moved; {
		<-progress
		moved = true
		for i := range lastUsed {
			moved = moved && lastUsed[i].Load() == newToken
		}
	}
	tg.mustCall(200, "DELETE", "/v1/keys/"+oldHash, tg.adminToken, nil)
	if status, _ := tg.chatAs(oldToken, chatBody); status != 401 {
		t.Errorf("old token right after deletion: %d, want 401", status)
	}
	waitFor(20)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d requests failed during the rotation", failed.Load(), sent.Load())
	}
	// The successor kept the name, limit and the spend so far.
	d := data(tg.mustCall(200, "GET", "/v1/keys/"+newHash, tg.adminToken, nil))
	if d["name"] != "prod" || d["limit"] != float64(100) || d["usage"].(float64) <= 0 {
		t.Errorf("rotated key: %v", d)
	}
	t.Logf("%d requests, none failed, through rotation and deletion", sent.Load())
}

// TestDisablingAKeyAppliesToTheNextRequest: PATCH disabled through the API drops the cached
// key at once, while a request already streaming on it finishes normally.
func TestDisablingAKeyAppliesToTheNextRequest(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{behavior: mockllm.Behavior{EventDelay: mockllm.Duration(20 * time.Millisecond)}})
	token, hash := tg.createKey(tg.adminToken, map[string]any{"name": "soon disabled"})
	tg.key = token
	resp := tg.post(streamBody)
	defer resp.Body.Close()
	r := &sseReader{bufio.NewReader(resp.Body)}
	if _, err := r.next(); err != nil {
		t.Fatal(err)
	}
	tg.mustCall(200, "PATCH", "/v1/keys/"+hash, tg.adminToken, map[string]any{"disabled": true})
	if status, _ := tg.chatAs(token, chatBody); status != 401 {
		t.Fatalf("disabled key, next request: %d, want 401", status)
	}
	events := r.all(nil)
	if last := events[len(events)-1]; !strings.Contains(last, "[DONE]") {
		t.Fatalf("the in-flight stream did not finish normally; last event %q", last)
	}
}

// TestSpendSurvivesARestart: counters are rebuilt from the store at start-up.
func TestSpendSurvivesARestart(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	token, hash := tg.createKey(tg.adminToken, map[string]any{"name": "persistent", "limit": 1, "limit_reset": "monthly"})
	for range 3 {
		if status, out := tg.chatAs(token, chatBody); status != 200 {
			t.Fatal(status, out)
		}
	}
	before := data(tg.mustCall(200, "GET", "/v1/keys/"+hash, tg.adminToken, nil))
	credits := data(tg.mustCall(200, "GET", "/v1/credits", tg.adminToken, nil))
	tg.restart()
	after := data(tg.mustCall(200, "GET", "/v1/keys/"+hash, tg.adminToken, nil))
	for _, f := range []string{"usage", "usage_daily", "usage_weekly", "usage_monthly", "limit_remaining"} {
		if after[f] != before[f] || after[f] == float64(0) && f != "limit_remaining" {
			t.Errorf("%s: %v before the restart, %v after", f, before[f], after[f])
		}
	}
	if got := data(tg.mustCall(200, "GET", "/v1/credits", tg.adminToken, nil)); fmt.Sprint(got) != fmt.Sprint(credits) {
		t.Errorf("credits: %v before the restart, %v after", credits, got)
	}
}
