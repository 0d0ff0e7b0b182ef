package bench

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/balancer"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/cachekeys"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/mockllm"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/proxy"
	"github.com/arouter/arouter/store/sqlite"
)

// targets are the three servers of one benchmark run, all on loopback: the mock provider, the
// bare passthrough in front of it, and ARouter in front of it with every feature on (key cache,
// parsing, routing, breakers, usage and cost, accounting into a real SQLite file).
type targets struct {
	mockAddr, passAddr, arouterAddr string
	token                           string
}

func startTargets(tb testing.TB) *targets {
	tb.Helper()
	mock, mockURL, err := mockllm.Start("127.0.0.1:0", mockllm.Behavior{Tokens: 16})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = mock.Shutdown() })
	mockAddr := strings.TrimSuffix(strings.TrimPrefix(mockURL, "http://"), "/v1")

	pass := NewPassthrough(mockAddr)
	passLn := listen(tb)
	go func() { _ = pass.Serve(passLn) }()
	tb.Cleanup(func() { _ = pass.Shutdown() })

	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "bench.db"))
	if err != nil {
		tb.Fatal(err)
	}
	token, _ := apikey.Generate()
	// The key has a spend limit, a model allow-list and a context with credits, so that the
	// gateway under test admits every request through the full budget check.
	benchKey := &apikey.Key{Hash: apikey.HashToken([]byte(token)), Name: "bench", Label: apikey.Label(token), CreatedAt: time.Now(),
		OrgID: 1, HasLimit: true, Limit: 1_000_000 * money.PerUSD, LimitReset: apikey.Monthly, AllowedModels: []string{"openai/*"}}
	if err := st.InsertKey(context.Background(), benchKey); err != nil {
		tb.Fatal(err)
	}
	keys, err := cachekeys.New(st, cachekeys.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	records := accounting.NewWriter(st, accounting.Options{})
	cat, err := catalog.New([]catalog.ModelSpec{{ID: "openai/gpt-4o-mini",
		Prices:      catalog.Prices{Prompt: 150_000_000, Completion: 600_000_000, CacheRead: 75_000_000},
		Deployments: []catalog.DeploymentSpec{{Provider: "mock", UpstreamModel: "gpt-4o-mini"}}}})
	if err != nil {
		tb.Fatal(err)
	}
	ledger := budget.New(budget.Options{RequireCredits: true})
	ledger.AddCredits(1, 1_000_000*money.PerUSD)
	srv, err := proxy.New(proxy.Options{
		Catalog: cat, Balancer: balancer.New(cat, balancer.Options{}), Keys: keys, Budget: ledger, Records: records, Ready: st,
		Providers: []proxy.ProviderOptions{{ID: "mock", BaseURL: mockURL, MaxConns: 20000}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	arLn := listen(tb)
	go func() { _ = srv.Serve(arLn) }()
	tb.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		_ = records.Close(context.Background())
		keys.Close()
		_ = st.Close()
	})
	return &targets{mockAddr: mockAddr, passAddr: passLn.Addr().String(), arouterAddr: arLn.Addr().String(), token: token}
}

func listen(tb testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

// chatBody is a small, typical request; the mock answers with about 1 KB.
var chatBody = []byte(`{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the plot of Hamlet in one sentence."}],"max_tokens":64}`)

// call sends one chat completion to addr and checks the answer.
func call(tb testing.TB, c *fasthttp.HostClient, token string, req *fasthttp.Request, resp *fasthttp.Response) {
	req.SetRequestURI("http://" + c.Addr + "/v1/chat/completions")
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.Set("Authorization", "Bearer "+token)
	req.SetBodyRaw(chatBody)
	if err := c.Do(req, resp); err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode() != 200 {
		tb.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
	}
}

// TestTargetsAnswerAlike guards the benchmark: all three targets must return a completion, and
// only ARouter adds cost, so a broken target cannot pass for a fast one.
func TestTargetsAnswerAlike(t *testing.T) {
	tg := startTargets(t)
	for _, addr := range []string{tg.mockAddr, tg.passAddr, tg.arouterAddr} {
		c := &fasthttp.HostClient{Addr: addr}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		call(t, c, tg.token, req, resp)
		body := string(resp.Body())
		if !strings.Contains(body, `"chat.completion"`) {
			t.Fatalf("%s answered %s", addr, body)
		}
		if strings.Contains(body, `"cost":`) != (addr == tg.arouterAddr) {
			t.Fatalf("%s: cost present = %v", addr, strings.Contains(body, `"cost":`))
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}
