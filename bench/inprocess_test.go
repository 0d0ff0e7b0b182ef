package bench

import (
	"context"
	"net"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/balancer"
	"github.com/arouter/arouter/bench/bare"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/cachekeys"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/health"
	"github.com/arouter/arouter/mockllm"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/proxy"
	"github.com/arouter/arouter/store/sqlite"
)

// The in-process pipeline: a client, a proxy and the mock provider in one process, so that
// -benchmem and the pprof profiles see the whole request path. Clients reach the proxy over an
// in-memory listener (fasthttputil.InmemoryListener); the proxies reach the mock over loopback
// TCP, because proxy.ProviderOptions has no dial hook, and the bare proxy does the same so that
// the two differ only in what the gateway does. Everything each proxy runs carries the pprof
// label target=<name>, so a CPU profile can be cut to one proxy (-tagfocus target=arouter).

// pipelineTokens makes the mock's answer to pipelineBody about 1 KB, as in the suite.
const pipelineTokens = 75

var pipelineBody = []byte(`{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the plot of Hamlet in one sentence."}],"max_tokens":128}`)

// pipelineStreamBody asks for the same answer as pipelineBody, streamed, with usage at the end.
var pipelineStreamBody = []byte(`{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the plot of Hamlet in one sentence."}],"max_tokens":128,"stream":true,"stream_options":{"include_usage":true}}`)

// inproc is one proxy under test, reachable through client.
type inproc struct {
	name   string
	client *fasthttp.HostClient
	token  string
}

// startMock starts the mock provider on loopback and returns its host:port.
func startMock(tb testing.TB) string {
	tb.Helper()
	mock, url, err := mockllm.Start("127.0.0.1:0", mockllm.Behavior{Tokens: pipelineTokens})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = mock.Shutdown() })
	return strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/v1")
}

// serveInMemory serves handler-owning serve on an in-memory listener, labelled for pprof, and
// returns a client for it.
func serveInMemory(tb testing.TB, name string, serve func(net.Listener) error) *fasthttp.HostClient {
	ln := fasthttputil.NewInmemoryListener()
	labels := pprof.Labels("target", name)
	go pprof.Do(context.Background(), labels, func(context.Context) { _ = serve(ln) })
	tb.Cleanup(func() { _ = ln.Close() })
	return &fasthttp.HostClient{Addr: name, Dial: func(string) (net.Conn, error) { return ln.Dial() }, MaxConns: 1024}
}

// startBare starts the passthrough in front of mockAddr.
func startBare(tb testing.TB, mockAddr string) *inproc {
	tb.Helper()
	var p *bare.Passthrough
	pprof.Do(context.Background(), pprof.Labels("target", TargetPassthrough), func(context.Context) {
		p = bare.NewPassthrough(mockAddr, nil)
	})
	tb.Cleanup(func() { _ = p.Shutdown() })
	return &inproc{name: TargetPassthrough, client: serveInMemory(tb, TargetPassthrough, p.Serve)}
}

// startARouter wires the gateway as `arouter serve` does (store, key cache, budget with credits,
// catalog, balancer with breakers and health, accounting into SQLite) in front of mockAddr, with
// a key that has a spend limit and a model allow-list.
func startARouter(tb testing.TB, mockAddr string) *inproc {
	tb.Helper()
	var (
		srv     *proxy.Server
		records *accounting.Writer
		keys    *cachekeys.Cache
		st      *sqlite.Store
		token   string
		err     error
	)
	pprof.Do(context.Background(), pprof.Labels("target", TargetARouter), func(context.Context) {
		if st, err = sqlite.Open(filepath.Join(tb.TempDir(), "bench.db")); err != nil {
			return
		}
		token, _ = apikey.Generate()
		key := &apikey.Key{Hash: apikey.HashToken([]byte(token)), Name: "bench", Label: apikey.Label(token), CreatedAt: time.Now(),
			OrgID: 1, HasLimit: true, Limit: 1_000_000 * money.PerUSD, LimitReset: apikey.Monthly, AllowedModels: []string{"openai/*"}}
		if err = st.InsertKey(context.Background(), key); err != nil {
			return
		}
		if keys, err = cachekeys.New(st, cachekeys.Options{}); err != nil {
			return
		}
		records = accounting.NewWriter(st, accounting.Options{})
		var cat *catalog.Catalog
		cat, err = catalog.New([]catalog.ModelSpec{{ID: "openai/gpt-4o-mini",
			Prices:      catalog.Prices{Prompt: 150_000_000, Completion: 600_000_000, CacheRead: 75_000_000},
			Deployments: []catalog.DeploymentSpec{{Provider: "mock", UpstreamModel: "gpt-4o-mini"}}}})
		if err != nil {
			return
		}
		set := metrics.NewSet()
		names := make([]string, len(cat.Deployments()))
		for i, d := range cat.Deployments() {
			names[i] = d.Name()
		}
		tracker := health.NewTracker(names, health.Options{Metrics: set})
		ledger := budget.New(budget.Options{RequireCredits: true})
		ledger.RaiseCredits(map[int64]money.Nanos{1: 1_000_000 * money.PerUSD})
		srv, err = proxy.New(proxy.Options{
			Catalog: cat, Balancer: balancer.New(cat, balancer.Options{Health: tracker, Metrics: set}), Health: tracker,
			Keys: keys, Budget: ledger, Records: records, Ready: st, Metrics: set,
			Providers: []proxy.ProviderOptions{{ID: "mock", BaseURL: "http://" + mockAddr + "/v1", MaxConns: 20000}},
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		_ = records.Close(context.Background())
		keys.Close()
		_ = st.Close()
	})
	return &inproc{name: TargetARouter, client: serveInMemory(tb, TargetARouter, srv.Serve), token: token}
}

// prepare makes req a completion request to the proxy with body.
func (p *inproc) prepare(req *fasthttp.Request, body []byte) {
	req.SetRequestURI("http://" + p.client.Addr + "/v1/chat/completions")
	req.Header.SetMethod(fasthttp.MethodPost)
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	req.SetBodyRaw(body)
}

// do sends one completion and fails the test unless it is a 200.
func (p *inproc) do(tb testing.TB, req *fasthttp.Request, resp *fasthttp.Response) {
	p.prepare(req, pipelineBody)
	if err := p.client.Do(req, resp); err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode() != 200 {
		tb.Fatalf("%s: status %d: %s", p.name, resp.StatusCode(), resp.Body())
	}
}

// TestPipelineTargetsAnswerAlike guards the benchmarks: both proxies must return a completion,
// and only ARouter adds cost, so that a broken target cannot pass for a fast one.
func TestPipelineTargetsAnswerAlike(t *testing.T) {
	mock := startMock(t)
	for _, p := range []*inproc{startBare(t, mock), startARouter(t, mock)} {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		p.do(t, req, resp)
		body := string(resp.Body())
		if !strings.Contains(body, `"chat.completion"`) || len(body) < 800 {
			t.Fatalf("%s answered %s", p.name, body)
		}
		if strings.Contains(body, `"cost":`) != (p.name == TargetARouter) {
			t.Fatalf("%s: cost present = %v", p.name, strings.Contains(body, `"cost":`))
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}
