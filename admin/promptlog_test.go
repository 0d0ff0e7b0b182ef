package admin_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/admin"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/catalog"
)

// recordingInvalidator remembers which keys the API dropped from the key cache.
type recordingInvalidator struct {
	mu     sync.Mutex
	hashes []apikey.Hash
}

func (r *recordingInvalidator) Invalidate(h apikey.Hash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hashes = append(r.hashes, h)
}

func (r *recordingInvalidator) take() []apikey.Hash {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.hashes
	r.hashes = nil
	return out
}

// promptLogEnv is byokEnv with GET /v1/generation wired and a recording key cache.
func promptLogEnv(t *testing.T) (*byokEnv, *recordingInvalidator) {
	t.Helper()
	e := newBYOKEnv(t, false)
	inv := &recordingInvalidator{}
	cat, err := catalog.New([]catalog.ModelSpec{{ID: "openai/gpt-4o-mini", Prices: catalog.Prices{Prompt: 1, Completion: 1},
		Deployments: []catalog.DeploymentSpec{{Provider: "openai", UpstreamModel: "gpt-4o-mini"}}}})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	e.api = admin.New(admin.Options{Store: e.store, Ledger: budget.New(budget.Options{}), Cache: inv, Catalog: cat,
		Providers: []string{"openai"}, Recent: accounting.NewRecent(8), Generations: e.store, Logger: zap.New(core)})
	return e, inv
}

// PATCH /v1/orgs/{id}: Admins only, own organization only, validated; a change of
// prompt_logging drops every live key of the organization from the key cache, and everyone
// in the organization sees the setting.
func TestOrgPromptLoggingSetting(t *testing.T) {
	t.Parallel()
	e, inv := promptLogEnv(t)
	acme := fmt.Sprintf("/v1/orgs/%d", e.acmeID)
	annKey := e.must(201, "POST", "/v1/keys", e.ann, map[string]any{"name": "ann's"})["data"].(map[string]any)["hash"].(string)
	bobKey := e.must(201, "POST", "/v1/keys", e.bob, map[string]any{"name": "bob's", "prompt_logging": true})["data"].(map[string]any)
	if bobKey["prompt_logging"] != true {
		t.Errorf("a key created with prompt_logging: %v", bobKey)
	}
	e.must(201, "POST", "/v1/keys", e.root, map[string]any{"name": "elsewhere"})
	inv.take()

	if d := e.must(200, "GET", acme, e.bob, nil)["data"].(map[string]any); d["prompt_logging"] != false || d["role"] != "member" || d["name"] != "Acme" {
		t.Errorf("GET as a Member: %v", d)
	}
	d := e.must(200, "PATCH", acme, e.ann, map[string]any{"prompt_logging": true})["data"].(map[string]any)
	if d["prompt_logging"] != true || d["name"] != "Acme" || int64(d["id"].(float64)) != e.acmeID {
		t.Errorf("PATCH: %v", d)
	}
	got := map[string]bool{}
	for _, h := range inv.take() {
		got[h.String()] = true
	}
	if len(got) != 2 || !got[annKey] || !got[bobKey["hash"].(string)] {
		t.Errorf("keys dropped from the cache: %v, want Acme's two", got)
	}
	for _, token := range []string{e.ann, e.bob} {
		me := e.must(200, "GET", "/v1/me", token, nil)["data"].(map[string]any)["organization"].(map[string]any)
		if me["prompt_logging"] != true {
			t.Errorf("GET /v1/me: %v", me)
		}
	}
	e.must(200, "PATCH", acme, e.ann, map[string]any{"name": "Acme Inc"}) // prompt logging unchanged
	if h := inv.take(); len(h) != 0 {
		t.Errorf("a rename dropped %d keys from the cache", len(h))
	}

	e.must(403, "PATCH", acme, e.bob, map[string]any{"prompt_logging": false})
	e.must(404, "PATCH", acme, e.root, map[string]any{"prompt_logging": false})
	e.must(404, "GET", acme, e.root, nil)
	for _, body := range []any{map[string]any{}, map[string]any{"prompt_logging": "yes"}, map[string]any{"prompt_logging": nil},
		map[string]any{"logging": true}, map[string]any{"name": ""}, "[]"} {
		e.must(400, "PATCH", acme, e.ann, body)
	}
	e.must(405, "DELETE", acme, e.ann, nil)
	if d := e.must(200, "GET", acme, e.ann, nil)["data"].(map[string]any); d["prompt_logging"] != true || d["name"] != "Acme Inc" {
		t.Errorf("after refused changes: %v", d)
	}
}

// GET /v1/generation/content answers an Admin of the record's organization, and nobody else:
// Members, other organizations and requests that were not logged get the same 404.
func TestGenerationContentAccess(t *testing.T) {
	t.Parallel()
	e, _ := promptLogEnv(t)
	ctx := context.Background()
	const canary = "canary-admin-5a0c"
	now := time.Now().UTC()
	rec := func(org int64, bodies *accounting.Bodies) accounting.Record {
		ts := now.Add(time.Duration(org) * time.Microsecond)
		return accounting.Record{GenerationID: accounting.NewGenerationID(ts), Time: ts, KeyID: 1, OrgID: org, BudgetID: 1,
			Model: "openai/gpt-4o-mini", Provider: "openai", UpstreamModel: "gpt-4o-mini", Status: 200, Bodies: bodies}
	}
	long := strings.Repeat("z", 40)
	acme := rec(e.acmeID, &accounting.Bodies{Request: []byte(`{"content":"` + canary + `"}`), RequestSize: 26,
		Response: []byte(long[:10]), ResponseSize: 40})
	root := rec(1, &accounting.Bodies{Request: []byte("{}"), RequestSize: 2, Response: []byte("{}"), ResponseSize: 2})
	plain := rec(e.acmeID+100, nil)
	plain.OrgID = e.acmeID
	if err := e.store.WriteUsage(ctx, []accounting.Record{acme, root, plain}); err != nil {
		t.Fatal(err)
	}
	path := func(r accounting.Record) string { return "/v1/generation/content?id=" + r.GenerationID.String() }

	d := e.must(200, "GET", path(acme), e.ann, nil)["data"].(map[string]any)
	if d["request"] != `{"content":"`+canary+`"}` || d["response"] != long[:10] || d["response_bytes"] != float64(40) ||
		d["response_truncated"] != true || d["request_truncated"] != false || int64(d["organization_id"].(float64)) != e.acmeID {
		t.Errorf("Ann reads: %v", d)
	}
	e.must(404, "GET", path(acme), e.bob, nil)  // a Member of the organization
	e.must(404, "GET", path(acme), e.root, nil) // another organization's Admin
	e.must(404, "GET", path(root), e.ann, nil)
	e.must(200, "GET", path(root), e.root, nil)
	e.must(404, "GET", path(plain), e.ann, nil) // not logged
	e.must(404, "GET", "/v1/generation/content?id="+accounting.NewGenerationID(now).String(), e.ann, nil)
	e.must(400, "GET", "/v1/generation/content?id=gen-1", e.ann, nil)
	e.must(405, "POST", path(acme), e.ann, nil)
	if d := e.must(200, "GET", "/v1/generation?id="+acme.GenerationID.String(), e.ann, nil)["data"].(map[string]any); d["request"] != nil {
		t.Errorf("GET /v1/generation carries bodies: %v", d)
	}
	for _, entry := range e.logs.All() {
		if strings.Contains(fmt.Sprint(entry.Message, entry.Context), canary) {
			t.Errorf("a log line carries a body: %v", entry)
		}
	}
}
