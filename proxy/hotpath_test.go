package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/balancer"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/cachekeys"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/money"
)

// oneKey is a cachekeys.Loader holding a single key: the store, reduced to what auth needs.
type oneKey struct{ k *apikey.Key }

func (o oneKey) LoadKey(_ context.Context, h apikey.Hash) (*apikey.Key, error) {
	if h != o.k.Hash {
		return nil, fmt.Errorf("%w", apikey.ErrNotFound)
	}
	return o.k, nil
}

// hotPath is the part of a Server the request path reads before it forwards: a warm key cache
// and a catalog.
type hotPath struct {
	s     *Server
	ctx   *fasthttp.RequestCtx
	body  []byte
	resp  []byte
	token string
}

func newHotPath(tb testing.TB) *hotPath {
	tb.Helper()
	token := apikey.Prefix + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	key := &apikey.Key{ID: 1, BudgetID: 1, OrgID: 1, Hash: apikey.HashToken([]byte(token)),
		HasLimit: true, Limit: 1 << 60, LimitReset: apikey.Monthly, AllowedModels: []string{"anthropic/*", "openai/*"}}
	keys, err := cachekeys.New(oneKey{key}, cachekeys.Options{RefreshAfter: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(keys.Close)
	cat, err := catalog.New([]catalog.ModelSpec{{ID: "openai/gpt-4o-mini", Prices: catalog.Prices{Prompt: 150_000_000, Completion: 600_000_000},
		Deployments: []catalog.DeploymentSpec{{Provider: "p", UpstreamModel: "gpt-4o-mini"}}}})
	if err != nil {
		tb.Fatal(err)
	}
	ledger := budget.New(budget.Options{RequireCredits: true})
	ledger.RaiseCredits(map[int64]money.Nanos{1: 1 << 60})
	h := &hotPath{
		s: &Server{keys: keys, cat: cat, budget: ledger, opts: Options{DefaultMaxTokens: 4096},
			routes: []route{{quotedModel: quoteJSON("gpt-4o-mini"), quotedPublic: quoteJSON("openai/gpt-4o-mini"), providerID: []byte("p")}}},
		ctx:   &fasthttp.RequestCtx{},
		token: token,
		body:  []byte(`{"model":"openai/gpt-4o-mini","models":["openai/gpt-4o-mini"],"provider":{"order":["p"],"sort":"price"},"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the plot of Hamlet in one sentence."}],"temperature":0.2,"max_tokens":200}`),
		resp:  []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"A prince avenges his father and everyone dies.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":31,"completion_tokens":11,"total_tokens":42,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_1"}`),
	}
	h.ctx.Request.Header.Set("Authorization", "Bearer "+token)
	// Warm the cache: the first lookup loads, later ones hit.
	if _, e := h.s.authenticate(h.ctx, time.Now()); e != nil {
		tb.Fatal(e)
	}
	keys.Wait()
	return h
}

// auth, parse, admit and route as chat does, then extract usage, write the cost as forward
// does, and settle the reservation as account does.
func (h *hotPath) run(tb testing.TB, out []byte) []byte {
	now := time.Now()
	k, e := h.s.authenticate(h.ctx, now)
	if e != nil {
		tb.Fatal(e)
	}
	var req chatRequest
	if e := req.parse(h.body); e != nil {
		tb.Fatal(e)
	}
	var models [maxFallbackModels + 1]*catalog.Model
	n, e := h.s.candidateModels(&req, k, &models)
	if e != nil || n != 1 {
		tb.Fatal("models", e, n)
	}
	m := models[0]
	var names [3 * maxRouteProviders]string
	if r := h.s.route(&req, names[:0]); len(r.Order) != 1 || r.Order[0] != "p" || r.Sort != balancer.SortPrice {
		tb.Fatal("provider route not read")
	}
	res, refusal := h.s.budget.Reserve(k, h.s.estimate(m, &req, len(h.body)), now)
	if refusal.Reason != budget.Admitted {
		tb.Fatal("refused")
	}
	x := exchange{model: m, rt: &h.s.routes[0]}
	out = append(out[:0], h.resp...)
	out, ok := addCostToResponse(out, &x)
	if !ok || x.rec.Cost == 0 {
		tb.Fatal("usage not read")
	}
	h.s.budget.Settle(res, budget.Charge{Cost: x.rec.Cost}, now)
	return out
}
