package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/arouter/arouter/admin"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/store/sqlite"
)

// byokEnv is a Management API on a real SQLite store, with a BYOK cache, and an organization
// (Acme: admin Ann, member Bob) beside the instance admin's personal context.
type byokEnv struct {
	t      *testing.T
	store  *sqlite.Store
	api    *admin.API
	cache  *byok.Cache
	logs   *observer.ObservedLogs
	root   string // the instance admin, in their personal context
	ann    string // Acme's admin
	bob    string // Acme's member
	acmeID int64
}

const testMasterKey = "5d3b2c8a1f0e4d6c7b9a8f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a29"

func newBYOKEnv(t *testing.T, withMasterKey bool) *byokEnv {
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
	if _, _, err := admin.Bootstrap(ctx, st, admin.BootstrapOptions{AdminEmail: "admin@localhost", AdminKey: root}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var sealer *byok.Sealer
	if withMasterKey {
		key, err := byok.ParseMasterKey(testMasterKey)
		if err != nil {
			t.Fatal(err)
		}
		if sealer, err = byok.NewSealer(key); err != nil {
			t.Fatal(err)
		}
	}
	cache, err := byok.NewCache(ctx, st, sealer, byok.Options{Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	cat, err := catalog.New([]catalog.ModelSpec{{ID: "openai/gpt-4o-mini", Prices: catalog.Prices{Prompt: 1_000_000_000, Completion: 1_000_000_000},
		Deployments: []catalog.DeploymentSpec{{Provider: "openai", UpstreamModel: "gpt-4o-mini"}}}})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	api := admin.New(admin.Options{Store: st, Ledger: budget.New(budget.Options{}), Keys: nil, Cache: nopInvalidator{},
		Catalog: cat, Providers: []string{"openai", "anthropic", "groq"}, Sealer: sealer, BYOK: cache, Logger: zap.New(core)})
	e := &byokEnv{t: t, store: st, api: api, cache: cache, logs: logs, root: root}

	out := e.must(201, "POST", "/v1/orgs", root, map[string]any{"name": "Acme"})
	founder := out["management_key"].(string)
	e.acmeID = int64(out["data"].(map[string]any)["id"].(float64))
	members := fmt.Sprintf("/v1/orgs/%d/members", e.acmeID)
	e.ann = e.invite(members, founder, map[string]any{"email": "ann@acme.test", "role": "admin"})
	e.bob = e.invite(members, founder, map[string]any{"email": "bob@acme.test"})
	return e
}

type nopInvalidator struct{}

func (nopInvalidator) Invalidate(apikey.Hash) {}

// call serves one request in memory and returns the status and raw body.
func (e *byokEnv) call(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	switch b := body.(type) {
	case nil:
	case string:
		req.SetBodyString(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		req.SetBody(raw)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(req, nil, nil)
	e.api.Handle(&ctx)
	return ctx.Response.StatusCode(), append([]byte(nil), ctx.Response.Body()...)
}

// must calls and fails the test unless the status is want; it returns the decoded body.
func (e *byokEnv) must(want int, method, path, token string, body any) map[string]any {
	e.t.Helper()
	status, raw := e.call(method, path, token, body)
	if status != want {
		e.t.Fatalf("%s %s %v: status %d, want %d: %s", method, path, body, status, want, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	return out
}

func errorOf(out map[string]any) (string, map[string]any) {
	er, _ := out["error"].(map[string]any)
	msg, _ := er["message"].(string)
	md, _ := er["metadata"].(map[string]any)
	return msg, md
}

const annOpenAIKey = "sk-proj-Ann0penAIKeyThatMustNeverLeak9f3c"

func TestBYOKLifecycle(t *testing.T) {
	t.Parallel()
	e := newBYOKEnv(t, true)
	ctx := context.Background()

	out := e.must(201, "POST", "/v1/byok", e.ann, map[string]any{"provider": "openai", "key": "  " + annOpenAIKey + "\n"})
	d := out["data"].(map[string]any)
	var fields []string
	for k := range d {
		fields = append(fields, k)
	}
	sort.Strings(fields)
	if !reflect.DeepEqual(fields, []string{"created_at", "id", "label", "mode", "provider"}) || len(out) != 1 {
		t.Errorf("credential object: %v", out)
	}
	if d["provider"] != "openai" || d["mode"] != "prefer" || d["label"] != "openai key …9f3c" {
		t.Errorf("created: %v", d)
	}
	id := int64(d["id"].(float64))

	// The change applies at once: the cache has the key, whitespace trimmed.
	cred, ok := e.cache.Lookup(e.acmeID, "openai")
	if !ok || cred.Secret != annOpenAIKey || cred.Mode != byok.Prefer || cred.ID != id {
		t.Fatalf("cache after POST: %+v, %v", cred, ok)
	}
	// Stored sealed, never in clear.
	rows, err := e.store.ListBYOK(ctx, e.acmeID)
	if err != nil || len(rows) != 1 || bytes.Contains(rows[0].Ciphertext, []byte(annOpenAIKey)) {
		t.Fatalf("stored: %+v, %v", rows, err)
	}

	out = e.must(201, "POST", "/v1/byok", e.ann, map[string]any{"provider": "groq", "key": "gsk_groqkey12345678", "mode": "only", "name": "ci groq"})
	if d := out["data"].(map[string]any); d["mode"] != "only" || d["label"] != "ci groq …5678" {
		t.Errorf("with mode and name: %v", d)
	}
	list := e.must(200, "GET", "/v1/byok", e.ann, nil)["data"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["provider"] != "groq" || list[1].(map[string]any)["id"] != float64(id) {
		t.Errorf("list: %v", list)
	}

	// A second live key for a provider: 409, saying which to delete.
	out = e.must(409, "POST", "/v1/byok", e.ann, map[string]any{"provider": "openai", "key": "sk-another-key-123"})
	if msg, _ := errorOf(out); !strings.Contains(msg, fmt.Sprintf("DELETE /v1/byok/%d", id)) {
		t.Errorf("409 message: %s", msg)
	}
	if cred, _ := e.cache.Lookup(e.acmeID, "openai"); cred.Secret != annOpenAIKey {
		t.Error("a refused POST replaced the key")
	}

	// Members: 403 on everything. Another organization: nothing to see or delete.
	e.must(403, "GET", "/v1/byok", e.bob, nil)
	e.must(403, "POST", "/v1/byok", e.bob, map[string]any{"provider": "anthropic", "key": "sk-ant-bobs-key-1"})
	e.must(403, "DELETE", fmt.Sprintf("/v1/byok/%d", id), e.bob, nil)
	if n := len(e.must(200, "GET", "/v1/byok", e.root, nil)["data"].([]any)); n != 0 {
		t.Errorf("another organization lists %d credentials", n)
	}
	e.must(404, "DELETE", fmt.Sprintf("/v1/byok/%d", id), e.root, nil)

	// Bad input: 400 naming the field, nothing stored.
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"key": "sk-12345678"}, "provider"},
		{map[string]any{"provider": "nobody", "key": "sk-12345678"}, "provider"},
		{map[string]any{"provider": 7, "key": "sk-12345678"}, "provider"},
		{map[string]any{"provider": "anthropic"}, "key"},
		{map[string]any{"provider": "anthropic", "key": "short"}, "key"},
		{map[string]any{"provider": "anthropic", "key": strings.Repeat("k", 4097)}, "key"},
		{map[string]any{"provider": "anthropic", "key": "sk-ant-12345\r\nX-Injected: 1"}, "key"},
		{map[string]any{"provider": "anthropic", "key": "sk ant 12345678"}, "key"},
		{map[string]any{"provider": "anthropic", "key": 12345678}, "key"},
		{map[string]any{"provider": "anthropic", "key": nil}, "key"},
		{map[string]any{"provider": "anthropic", "key": "sk-ant-12345678", "mode": "always"}, "mode"},
		{map[string]any{"provider": "anthropic", "key": "sk-ant-12345678", "mode": nil}, "mode"},
		{map[string]any{"provider": "anthropic", "key": "sk-ant-12345678", "name": ""}, "name"},
		{map[string]any{"provider": "anthropic", "key": "sk-ant-12345678", "secret": "x"}, "secret"},
	} {
		out := e.must(400, "POST", "/v1/byok", e.ann, c.body)
		msg, md := errorOf(out)
		if md["field"] != c.field || !strings.HasPrefix(msg, c.field+": ") {
			t.Errorf("%v: %s %v, want field %s", c.body, msg, md, c.field)
		}
		if strings.Contains(msg, "sk-ant") || strings.Contains(msg, "Injected") {
			t.Errorf("the error repeats the key: %s", msg)
		}
	}
	e.must(400, "POST", "/v1/byok", e.ann, "not json")
	if _, ok := e.cache.Lookup(e.acmeID, "anthropic"); ok {
		t.Error("a refused POST stored a credential")
	}
	if msg, _ := errorOf(e.must(400, "POST", "/v1/byok", e.ann, map[string]any{"provider": "nobody", "key": "sk-12345678"})); !strings.Contains(msg, "openai, anthropic, groq") {
		t.Errorf("unknown provider message does not list the configured ones: %s", msg)
	}

	// Deletion applies at once; ids of other kinds are not found.
	if out := e.must(200, "DELETE", fmt.Sprintf("/v1/byok/%d", id), e.ann, nil); out["deleted"] != true {
		t.Errorf("DELETE: %v", out)
	}
	if _, ok := e.cache.Lookup(e.acmeID, "openai"); ok {
		t.Error("the deleted credential is still in the cache")
	}
	e.must(404, "DELETE", fmt.Sprintf("/v1/byok/%d", id), e.ann, nil)
	e.must(404, "DELETE", "/v1/byok/abc", e.ann, nil)
	e.must(404, "DELETE", "/v1/byok/-1", e.ann, nil)
	e.must(405, "PATCH", "/v1/byok/1", e.ann, map[string]any{"mode": "only"})
	e.must(405, "PUT", "/v1/byok", e.ann, nil)
	// ... after which the provider takes a new key.
	e.must(201, "POST", "/v1/byok", e.ann, map[string]any{"provider": "openai", "key": "sk-replacement-0000", "mode": "fallback"})
	if cred, _ := e.cache.Lookup(e.acmeID, "openai"); cred.Secret != "sk-replacement-0000" || cred.Mode != byok.Fallback {
		t.Errorf("replacement: %+v", cred)
	}

	// Logs name credentials by label, never by key.
	for _, entry := range e.logs.All() {
		line := fmt.Sprint(entry.Message, entry.ContextMap())
		for _, secret := range []string{annOpenAIKey, "gsk_groqkey12345678", "sk-replacement-0000"} {
			if strings.Contains(line, secret) {
				t.Errorf("a log line contains a key: %s", line)
			}
		}
	}
	if e.logs.FilterMessage("byok credential added").Len() != 3 || e.logs.FilterMessage("byok credential deleted").Len() != 1 {
		t.Errorf("logs: %v", e.logs.All())
	}
}

// Without a master key, storing a key answers 503 saying what to set; listing and deleting
// still work, so an operator can clean up.
func TestBYOKWithoutMasterKey(t *testing.T) {
	t.Parallel()
	e := newBYOKEnv(t, false)
	out := e.must(503, "POST", "/v1/byok", e.ann, map[string]any{"provider": "openai", "key": "sk-12345678"})
	if msg, _ := errorOf(out); !strings.Contains(msg, "AROUTER_MASTER_KEY") || !strings.Contains(msg, "openssl rand -hex 32") {
		t.Errorf("503 message: %s", msg)
	}
	e.must(403, "POST", "/v1/byok", e.bob, map[string]any{"provider": "openai", "key": "sk-12345678"})
	e.must(200, "GET", "/v1/byok", e.ann, nil)
	e.must(404, "DELETE", "/v1/byok/1", e.ann, nil)
}

// Rotating, changing and deleting ARouter API keys never touches the organization's provider
// credentials: they are not keyed by, derived from or stored with inference keys.
func TestRotatingAPIKeysLeavesBYOKAlone(t *testing.T) {
	t.Parallel()
	e := newBYOKEnv(t, true)
	ctx := context.Background()
	e.must(201, "POST", "/v1/byok", e.ann, map[string]any{"provider": "openai", "key": annOpenAIKey, "mode": "only"})
	e.must(201, "POST", "/v1/byok", e.ann, map[string]any{"provider": "groq", "key": "gsk_groqkey12345678"})
	stored, err := e.store.LoadBYOK(ctx)
	if err != nil || len(stored) != 2 {
		t.Fatalf("LoadBYOK: %v, %v", stored, err)
	}
	cached, _ := e.cache.Lookup(e.acmeID, "openai")
	listed := e.must(200, "GET", "/v1/byok", e.ann, nil)

	// Keys of both members: rotated with and without a grace period, changed, disabled,
	// deleted, and the member removed (which disables their keys).
	hashOf := func(out map[string]any) string { return out["data"].(map[string]any)["hash"].(string) }
	prod := hashOf(e.must(201, "POST", "/v1/keys", e.ann, map[string]any{"name": "prod", "limit": 5}))
	ci := hashOf(e.must(201, "POST", "/v1/keys", e.bob, map[string]any{"name": "ci"}))
	grace := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	next := hashOf(e.must(201, "POST", "/v1/keys/"+prod+"/rotate", e.ann, map[string]any{"old_key_expires_at": grace}))
	next = hashOf(e.must(201, "POST", "/v1/keys/"+next+"/rotate", e.ann, nil))
	e.must(201, "POST", "/v1/keys/"+ci+"/rotate", e.bob, nil)
	e.must(200, "PATCH", "/v1/keys/"+next, e.ann, map[string]any{"disabled": true, "include_byok_in_limit": true})
	e.must(200, "DELETE", "/v1/keys/"+prod, e.ann, nil)
	e.must(200, "DELETE", "/v1/keys/"+next, e.ann, nil)
	me := e.must(200, "GET", "/v1/me", e.bob, nil)["data"].(map[string]any)
	bobID := int64(me["user"].(map[string]any)["id"].(float64))
	e.must(200, "DELETE", fmt.Sprintf("/v1/orgs/%d/members/%d", e.acmeID, bobID), e.ann, nil)

	after, err := e.store.LoadBYOK(ctx)
	if err != nil || !reflect.DeepEqual(after, stored) {
		t.Fatalf("stored credentials changed:\n got %+v\nwant %+v", after, stored)
	}
	if err := e.cache.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if cred, ok := e.cache.Lookup(e.acmeID, "openai"); !ok || cred.Secret != annOpenAIKey || cred.Mode != byok.Only || cred.ID != cached.ID {
		t.Errorf("cached credential after key rotation: %+v, %v", cred, ok)
	}
	if got := e.must(200, "GET", "/v1/byok", e.ann, nil); !reflect.DeepEqual(got, listed) {
		t.Errorf("GET /v1/byok changed:\n got %v\nwant %v", got, listed)
	}
}
