package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/arouter/arouter/config"
	"github.com/arouter/arouter/mockllm"
)

// routingYAML serves openai/gpt-4o-mini from two mock providers, primary first, and a second
// model from a third; breakers open after 3 consecutive failures for 300ms.
const routingYAML = `
listen: 127.0.0.1:0
store: {sqlite: "%s/arouter.db"}
accounting: {flush_interval: 10ms}
keys: {refresh_after: 50ms}
routing: {breaker: {consecutive_failures: 3, open_for: 300ms}}
providers:
  - {id: primary, kind: openai, base_url: "%s", probe: false, first_byte_timeout: 300ms, request_timeout: 300ms}
  - {id: backup, kind: openai, base_url: "%s", probe: false, first_byte_timeout: 300ms, request_timeout: 300ms}
  - {id: other, kind: openai, base_url: "%s", probe: false}
models:
  - id: openai/gpt-4o-mini
    pricing: {prompt: "0.15", completion: "0.60"}
    deployments: [{provider: primary, model: gpt-4o-mini}, {provider: backup, model: gpt-4o-mini}]
  - id: acme/tiny
    pricing: {prompt: "1", completion: "2"}
    deployments: [{provider: other, model: tiny}]
`

// routingRig is a gateway in front of three mock providers whose behaviour tests change.
type routingRig struct {
	*testGateway
	primary, backup, other *mockllm.Server
	primaryAddr            string
}

func startRouting(t *testing.T) *routingRig {
	t.Helper()
	return startRoutingWith(t, "")
}

// startRoutingWith is startRouting with the primary at primaryURL instead of a mock, if set.
func startRoutingWith(t *testing.T, primaryURL string) *routingRig {
	t.Helper()
	return startRoutingConfig(t, primaryURL, routingYAML)
}

// startRoutingConfig is startRoutingWith on a variant of routingYAML.
func startRoutingConfig(t *testing.T, primaryURL, yaml string) *routingRig {
	t.Helper()
	rig := &routingRig{}
	urls := make([]string, 3)
	for i, m := range []**mockllm.Server{&rig.primary, &rig.backup, &rig.other} {
		srv, url, err := mockllm.Start("127.0.0.1:0", mockllm.Behavior{})
		if err != nil {
			t.Fatal(err)
		}
		*m, urls[i] = srv, url
		t.Cleanup(func() { _ = (*m).Shutdown() })
	}
	rig.primaryAddr = strings.TrimSuffix(strings.TrimPrefix(urls[0], "http://"), "/v1")
	if primaryURL != "" {
		urls[0] = primaryURL
	}
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(yaml, dir, urls[0], urls[1], urls[2])), "routing.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{t: t, dir: dir, cfg: cfg, log: zap.NewNop()}
	tg.open()
	t.Cleanup(tg.stop)
	tg.key = tg.newKey("routing", false)
	rig.testGateway = tg
	return rig
}

// chat sends body and returns the status, the serving provider and the decoded answer.
func (rig *routingRig) chat(body string) (int, string, map[string]any) {
	rig.t.Helper()
	resp := rig.post(body)
	defer resp.Body.Close()
	provider := resp.Header.Get("X-ARouter-Provider")
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, provider, map[string]any{"stream": string(b)}
	}
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		rig.t.Fatalf("status %d, body %s", resp.StatusCode, b)
	}
	return resp.StatusCode, provider, out
}

// TestBreakerOpensAndCloses: a primary answering 500s is failed over to, its breaker opens and
// traffic stops reaching it; once it recovers, a probe request closes the breaker and traffic
// returns.
func TestBreakerOpensAndCloses(t *testing.T) {
	t.Parallel()
	rig := startRouting(t)
	rig.primary.SetBehavior(mockllm.Behavior{Fault: mockllm.FaultStatus, FaultStatus: 500})
	for i := range 3 {
		if status, provider, out := rig.chat(chatBody); status != 200 || provider != "backup" {
			t.Fatalf("request %d: %d via %q: %v", i, status, provider, out)
		}
	}
	if n := rig.primary.Stats().Requests; n != 3 {
		t.Fatalf("primary saw %d requests before its breaker opened, want 3", n)
	}
	for range 5 {
		if status, provider, _ := rig.chat(chatBody); status != 200 || provider != "backup" {
			t.Fatalf("with the breaker open: %d via %q", status, provider)
		}
	}
	if n := rig.primary.Stats().Requests; n != 3 {
		t.Fatalf("primary got %d requests, want none after its breaker opened", n-3)
	}
	endpoints := rig.endpoints()
	if endpoints["primary"]["breaker"] != "open" || endpoints["primary"]["status"] != "circuit open" || endpoints["backup"]["breaker"] != "closed" {
		t.Fatalf("endpoints while open: %v", endpoints)
	}
	// Recovery: after open_for (300ms) the next request is let through as a probe.
	rig.primary.SetBehavior(mockllm.Behavior{})
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, provider, _ := rig.chat(chatBody)
		if status != 200 {
			t.Fatalf("during recovery: %d", status)
		}
		if provider == "primary" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("traffic never returned to the recovered primary")
		}
	}
	for range 3 {
		if _, provider, _ := rig.chat(chatBody); provider != "primary" {
			t.Fatalf("after recovery traffic goes to %q, want primary", provider)
		}
	}
	if e := rig.endpoints()["primary"]; e["breaker"] != "closed" {
		t.Fatalf("breaker after recovery: %v", e)
	}
}

// endpoints returns GET /v1/models/openai/gpt-4o-mini/endpoints keyed by provider.
func (rig *routingRig) endpoints() map[string]map[string]any {
	rig.t.Helper()
	resp, err := http.Get(rig.url + "/v1/models/openai/gpt-4o-mini/endpoints")
	if err != nil {
		rig.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Endpoints []map[string]any `json:"endpoints"`
		} `json:"data"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 {
		rig.t.Fatalf("endpoints: %d %s", resp.StatusCode, b)
	}
	m := map[string]map[string]any{}
	for _, e := range out.Data.Endpoints {
		m[e["provider_name"].(string)] = e
	}
	return m
}

// TestHungPrimaryFailsOverAfterTheFirstByteTimeout: a provider that never answers costs one
// first_byte_timeout (streams) or request_timeout (plain), then the backup serves.
func TestHungPrimaryFailsOverAfterTheFirstByteTimeout(t *testing.T) {
	t.Parallel()
	rig := startRouting(t)
	rig.primary.SetBehavior(mockllm.Behavior{Fault: mockllm.FaultHang})
	for _, body := range []string{streamBody, chatBody} {
		start := time.Now()
		status, provider, out := rig.chat(body)
		took := time.Since(start)
		if status != 200 || provider != "backup" {
			t.Fatalf("%d via %q: %v", status, provider, out)
		}
		if took < 300*time.Millisecond || took > 3*time.Second {
			t.Errorf("failover took %v, want about the 300ms timeout", took)
		}
	}
}

// TestPrimaryThatOnlyKeepsAliveFailsOverAtTheFirstByteTimeout: a provider that sends its
// stream headers and then only comments keeps the connection busy, so no idle deadline fires;
// the first-event deadline alone must end it, close the provider's stream and fail over.
func TestPrimaryThatOnlyKeepsAliveFailsOverAtTheFirstByteTimeout(t *testing.T) {
	t.Parallel()
	rig := startRouting(t)
	rig.primary.SetBehavior(mockllm.Behavior{Processing: mockllm.Duration(time.Minute)})
	start := time.Now()
	status, provider, out := rig.chat(streamBody)
	took := time.Since(start)
	if status != 200 || provider != "backup" || !strings.Contains(out["stream"].(string), "[DONE]") {
		t.Fatalf("%d via %q: %v", status, provider, out)
	}
	if took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("failover took %v, want about the 300ms first byte timeout", took)
	}
	if strings.Contains(out["stream"].(string), "PROCESSING") {
		t.Errorf("the failed primary's comments reached the client:\n%s", out["stream"])
	}
	// The mock notices the closed stream at its next comment, 100ms at most.
	deadline := time.Now().Add(10 * time.Second)
	for rig.primary.Stats().ClientCancelled != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the primary's stream outlived the failover: %+v", rig.primary.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStallAfterTheFirstEventIsNotRetried: once the client has bytes, a stalled provider
// ends the stream with an error event; the backup is never asked (that would duplicate output).
func TestStallAfterTheFirstEventIsNotRetried(t *testing.T) {
	t.Parallel()
	rig := startRouting(t)
	rig.primary.SetBehavior(mockllm.Behavior{Fault: mockllm.FaultDisconnect, FaultAfter: 2})
	status, provider, out := rig.chat(streamBody)
	stream := out["stream"].(string)
	if status != 200 || provider != "primary" || !strings.Contains(stream, `"finish_reason":"error"`) || strings.Contains(stream, "[DONE]") {
		t.Fatalf("%d via %q:\n%s", status, provider, stream)
	}
	if n := rig.backup.Stats().Requests; n != 0 {
		t.Fatalf("backup was asked %d times after the client had bytes", n)
	}
}

// TestStreamDyingBeforeItsFirstEventIsRetried: a provider that sends stream headers and then
// hangs up has sent the client nothing, so the backup serves the request.
func TestStreamDyingBeforeItsFirstEventIsRetried(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	rig := startRoutingWith(t, "http://"+ln.Addr().String()+"/v1")
	status, provider, out := rig.chat(streamBody)
	if status != 200 || provider != "backup" || !strings.Contains(out["stream"].(string), "[DONE]") {
		t.Fatalf("stream dying before its first event: %d via %q: %v", status, provider, out)
	}
}

// TestRetryAfterSkipsTheDeployment: a 429 with Retry-After takes the primary out until then.
func TestRetryAfterSkipsTheDeployment(t *testing.T) {
	t.Parallel()
	rig := startRouting(t)
	rig.primary.SetBehavior(mockllm.Behavior{Fault: mockllm.FaultRateLimit, RetryAfter: 30})
	for range 4 {
		if status, provider, _ := rig.chat(chatBody); status != 200 || provider != "backup" {
			t.Fatalf("%d via %q", status, provider)
		}
	}
	if n := rig.primary.Stats().Requests; n != 1 {
		t.Fatalf("primary asked %d times within its Retry-After, want once", n)
	}
	if e := rig.endpoints()["primary"]; e["status"] != "rate-limited by the provider" || e["status_until"] == nil {
		t.Fatalf("endpoint of the rate-limited primary: %v", e)
	}
}

// TestAllProvidersDown: a 503 naming every deployment and why, quickly, one attempt each.
func TestAllProvidersDown(t *testing.T) {
	t.Parallel()
	rig := startRouting(t)
	rig.primary.SetBehavior(mockllm.Behavior{Fault: mockllm.FaultStatus, FaultStatus: 502})
	rig.backup.SetBehavior(mockllm.Behavior{Fault: mockllm.FaultStatus, FaultStatus: 500})
	start := time.Now()
	status, _, out := rig.chat(chatBody)
	msg, md := errMessage(out)
	if status != 503 || !strings.Contains(msg, "openai/gpt-4o-mini@primary failed") || !strings.Contains(msg, "openai/gpt-4o-mini@backup failed") || md["model"] != "openai/gpt-4o-mini" {
		t.Fatalf("%d %v", status, out)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v to give up", took)
	}
	if p, b := rig.primary.Stats().Requests, rig.backup.Stats().Requests; p != 1 || b != 1 {
		t.Fatalf("attempts: primary %d, backup %d; want one each, no retry storm", p, b)
	}
	// Once both breakers are open, the answer is immediate and says when to come back.
	for range 3 {
		rig.chat(chatBody)
	}
	resp := rig.post(chatBody)
	status, msg, _ = apiErr(t, resp)
	if status != 503 || !strings.Contains(msg, "circuit open") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with open breakers: %d %q Retry-After %q", status, msg, resp.Header.Get("Retry-After"))
	}
}

// TestAttemptLimitAcrossAFallbackList: when routing.max_attempts runs out before the fallback
// list does, the answer is a 503 that names the bound and every attempt, and the model left
// untried is never called.
func TestAttemptLimitAcrossAFallbackList(t *testing.T) {
	t.Parallel()
	yaml := strings.Replace(routingYAML, "routing: {", "routing: {max_attempts: 2, ", 1)
	rig := startRoutingConfig(t, "", yaml)
	rig.primary.SetBehavior(mockllm.Behavior{Fault: mockllm.FaultStatus, FaultStatus: 500})
	rig.backup.SetBehavior(mockllm.Behavior{Fault: mockllm.FaultStatus, FaultStatus: 500})
	var ids []string
	for _, stream := range []string{"false", "true"} {
		resp := rig.post(`{"models":["openai/gpt-4o-mini","acme/tiny"],"stream":` + stream + `,"messages":[{"role":"user","content":"hi"}]}`)
		status, msg, _ := apiErr(t, resp)
		if status != 503 || !strings.Contains(msg, "routing.max_attempts") ||
			!strings.Contains(msg, "openai/gpt-4o-mini@primary failed") || !strings.Contains(msg, "openai/gpt-4o-mini@backup failed") {
			t.Fatalf("stream %s: %d %q", stream, status, msg)
		}
		ids = append(ids, resp.Header.Get("X-Generation-Id"))
	}
	if n := rig.other.Stats().Requests; n != 0 {
		t.Fatalf("the model past the attempt limit was called %d times", n)
	}
	for _, rec := range rig.records(ids...) {
		if rec.Status != 503 || rec.Cost != 0 || rec.Provider != "backup" {
			t.Fatalf("record %+v", rec)
		}
	}
}

// TestModelFallbackListAndProviderRoute covers OpenRouter's request-level routing: "models"
// falls back to another model (billed as the model that served), and "provider" orders,
// restricts and excludes deployments.
func TestModelFallbackListAndProviderRoute(t *testing.T) {
	t.Parallel()
	rig := startRouting(t)
	rig.primary.SetBehavior(mockllm.Behavior{Fault: mockllm.FaultStatus, FaultStatus: 500})
	rig.backup.SetBehavior(mockllm.Behavior{Fault: mockllm.FaultStatus, FaultStatus: 500})
	resp := rig.post(`{"models":["openai/gpt-4o-mini","acme/tiny"],"route":"fallback","messages":[{"role":"user","content":"hi"}]}`)
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 || out["model"] != "acme/tiny" || resp.Header.Get("X-ARouter-Provider") != "other" {
		t.Fatalf("fallback model: %d %s", resp.StatusCode, b)
	}
	if rec := rig.records(resp.Header.Get("X-Generation-Id"))[0]; rec.Model != "acme/tiny" || rec.Provider != "other" {
		t.Fatalf("billed as %s on %s, want acme/tiny on other", rec.Model, rec.Provider)
	}

	rig2 := startRouting(t)
	cases := []struct {
		name, provider string
		want           []string // providers that may serve, in order of calls
	}{
		{"order", `{"order":["backup","primary"]}`, []string{"backup"}},
		{"only", `{"only":["primary"]}`, []string{"primary"}},
		{"ignore", `{"ignore":["primary"]}`, []string{"backup"}},
		{"sort by price keeps order on equal prices", `{"sort":"price"}`, []string{"primary"}},
	}
	for _, c := range cases {
		body := `{"model":"openai/gpt-4o-mini","provider":` + c.provider + `,"messages":[{"role":"user","content":"hi"}]}`
		if status, provider, out := rig2.chat(body); status != 200 || !slices.Contains(c.want, provider) {
			t.Errorf("%s: %d via %q: %v", c.name, status, provider, out)
		}
	}
	// Without fallbacks, a failing first choice is the answer.
	rig2.backup.SetBehavior(mockllm.Behavior{Fault: mockllm.FaultStatus, FaultStatus: 500})
	body := `{"model":"openai/gpt-4o-mini","provider":{"order":["backup"],"allow_fallbacks":false},"messages":[{"role":"user","content":"hi"}]}`
	if status, _, out := rig2.chat(body); status != 502 {
		t.Errorf("allow_fallbacks false: %d %v", status, out)
	}
	body = `{"model":"openai/gpt-4o-mini","provider":{"only":["nobody"]},"messages":[{"role":"user","content":"hi"}]}`
	if status, _, out := rig2.chat(body); status != 503 {
		t.Errorf("only an unknown provider: %d %v", status, out)
	}
}

// TestOutageUnderLoad sends a steady stream of requests while the primary is killed and then
// restarted on the same address, and reports the success rate and the latency added during
// the outage. Every request must succeed.
func TestOutageUnderLoad(t *testing.T) {
	t.Parallel()
	rig := startRouting(t)
	const rate, phase = 200, 600 * time.Millisecond // requests per second; length of each phase
	type result struct {
		phase   int
		latency time.Duration
		status  int
	}
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	phaseOf := func(at time.Duration) int { return min(int(at/phase), 2) }
	start := time.Now()
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	killed, restarted := false, false
	for at := time.Duration(0); at < 3*phase; at = time.Since(start) {
		switch {
		case !killed && at >= phase:
			_ = rig.primary.Shutdown()
			killed = true
		case !restarted && at >= 2*phase:
			srv, _, err := mockllm.Start(rig.primaryAddr, mockllm.Behavior{})
			if err != nil {
				t.Fatalf("restart primary: %v", err)
			}
			rig.primary = srv
			t.Cleanup(func() { _ = srv.Shutdown() })
			restarted = true
		}
		<-tick.C
		wg.Go(func() {
			sent := time.Now()
			resp := rig.post(chatBody)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			results = append(results, result{phaseOf(sent.Sub(start)), time.Since(sent), resp.StatusCode})
			mu.Unlock()
		})
	}
	wg.Wait()
	names := []string{"before", "outage", "after restart"}
	var lat [3][]time.Duration
	failed := 0
	for _, r := range results {
		lat[r.phase] = append(lat[r.phase], r.latency)
		if r.status != 200 {
			failed++
		}
	}
	pct := func(l []time.Duration, p float64) time.Duration {
		if len(l) == 0 {
			return 0
		}
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		return l[min(len(l)-1, int(p*float64(len(l))))]
	}
	for i, name := range names {
		t.Logf("%-13s %4d requests  p50 %8v  p99 %8v", name, len(lat[i]), pct(lat[i], 0.5), pct(lat[i], 0.99))
	}
	t.Logf("success rate %.2f%% (%d of %d); outage added p50 %v, p99 %v", 100*float64(len(results)-failed)/float64(len(results)),
		len(results)-failed, len(results), pct(lat[1], 0.5)-pct(lat[0], 0.5), pct(lat[1], 0.99)-pct(lat[0], 0.99))
	if failed > 0 {
		t.Fatalf("%d requests failed during the outage", failed)
	}
}
