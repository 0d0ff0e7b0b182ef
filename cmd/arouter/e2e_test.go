package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/health"
	"github.com/arouter/arouter/mockllm"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/store/sqlite"
)

type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Message      struct{ Role, Content string } `json:"message"`
		Delta        struct{ Content string }       `json:"delta"`
		FinishReason *string                        `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens        int64   `json:"prompt_tokens"`
		CompletionTokens    int64   `json:"completion_tokens"`
		TotalTokens         int64   `json:"total_tokens"`
		Cost                float64 `json:"cost"`
		PromptTokensDetails struct {
			CachedTokens int64 `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
		CompletionTokensDetails struct {
			ReasoningTokens int64 `json:"reasoning_tokens"`
		} `json:"completion_tokens_details"`
	} `json:"usage"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// expectedCost prices usage at the test catalog's $0.15 / $0.60 / $0.075 per million.
func expectedCost(prompt, cached, completion int64) money.Nanos {
	return money.PricePerMillion(150_000_000).Cost(prompt-cached) +
		money.PricePerMillion(75_000_000).Cost(cached) +
		money.PricePerMillion(600_000_000).Cost(completion)
}

func TestChatCompletionCarriesUsageAndCostAndIsRecorded(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{behavior: mockllm.Behavior{Tokens: 12, ReasoningTokens: 3, CachedTokens: 4}})
	resp := tg.post(chatBody)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	genID := resp.Header.Get("X-Generation-Id")
	if !strings.HasPrefix(genID, "gen-") {
		t.Fatalf("X-Generation-Id = %q", genID)
	}
	var c completion
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	u := c.Usage
	if u == nil || u.CompletionTokens != 15 || u.PromptTokensDetails.CachedTokens != 4 || u.CompletionTokensDetails.ReasoningTokens != 3 {
		t.Fatalf("usage = %+v", u)
	}
	want := expectedCost(u.PromptTokens, 4, 15)
	if got := money.Nanos(u.Cost*1e9 + 0.5); got != want {
		t.Fatalf("cost = %v USD, want %s", u.Cost, want)
	}
	// The answer names the model that served it, as clients asked for it, and the provider.
	if c.Choices[0].Message.Content == "" || c.Model != "openai/gpt-4o-mini" || resp.Header.Get("X-ARouter-Provider") != "upstream" {
		t.Fatalf("completion = %+v, provider %q", c, resp.Header.Get("X-ARouter-Provider"))
	}
	rec := tg.records(genID)[0]
	if rec.Model != "openai/gpt-4o-mini" || rec.Provider != "upstream" || rec.UpstreamModel != "gpt-4o-mini" ||
		rec.PromptTokens != u.PromptTokens || rec.CompletionTokens != 15 || rec.ReasoningTokens != 3 ||
		rec.CachedTokens != 4 || rec.Cost != want || rec.Status != 200 || rec.Streamed || rec.Cancelled ||
		rec.ErrorCode != "" || rec.Latency <= 0 || rec.TTFB <= 0 {
		t.Fatalf("record = %+v", rec)
	}
}

// TestStreamIsRelayedEventByEventWithUsage checks both ways a client can stream: asking for
// OpenAI's usage-only final chunk, or not (then usage rides on the finish chunk, because an
// unrequested "choices": [] chunk crashes the common chunk.choices[0] loop).
func TestStreamIsRelayedEventByEventWithUsage(t *testing.T) {
	t.Parallel()
	for _, wantsUsage := range []bool{true, false} {
		t.Run(fmt.Sprintf("include_usage=%v", wantsUsage), func(t *testing.T) {
			t.Parallel()
			testStream(t, wantsUsage)
		})
	}
}

func testStream(t *testing.T, wantsUsage bool) {
	// Slow enough that the upstream is certainly still generating when the first event lands.
	tg := startGateway(t, gatewayOpts{behavior: mockllm.Behavior{Tokens: 5, EventDelay: mockllm.Duration(150 * time.Millisecond)}})
	body := streamBody
	if wantsUsage {
		body = strings.Replace(streamBody, `"stream":true`, `"stream":true,"stream_options":{"include_usage":true}`, 1)
	}
	resp := tg.post(body)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := (&sseReader{bufio.NewReader(resp.Body)}).all(func(events []string) {
		if len(events) == 2 {
			// The role chunk and the first word are here; the mock still has three words to go.
			if s := tg.mock.Stats(); s.ActiveStreams != 1 {
				t.Fatalf("first events arrived only after the upstream finished (stats %+v): the gateway buffers", s)
			}
		}
	})
	if len(events) < 4 || events[len(events)-1] != "data: [DONE]\n" {
		t.Fatalf("events = %q", events)
	}
	var text strings.Builder
	var usage completion
	usageChunks := 0
	for _, ev := range events[:len(events)-1] {
		var c completion
		if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(ev), "data: ")), &c); err != nil {
			t.Fatalf("event %q: %v", ev, err)
		}
		if len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		} else if !wantsUsage {
			t.Fatalf("a chunk with no choices reached a client that did not ask for one: %q", ev)
		}
		if c.Usage != nil {
			usage = c
			usageChunks++
		}
	}
	if usageChunks != 1 || usage.Usage.CompletionTokens != 5 {
		t.Fatalf("%d usage chunks, last %+v", usageChunks, usage)
	}
	if wantsUsage != (len(usage.Choices) == 0) {
		t.Fatalf("include_usage=%v but usage came on a chunk with %d choices", wantsUsage, len(usage.Choices))
	}
	if !wantsUsage && (usage.Choices[0].FinishReason == nil || *usage.Choices[0].FinishReason != "stop") {
		t.Fatalf("usage not on the finish chunk: %+v", usage)
	}
	if got := money.Nanos(usage.Usage.Cost*1e9 + 0.5); got != expectedCost(usage.Usage.PromptTokens, 0, 5) {
		t.Fatalf("stream cost %v", usage.Usage.Cost)
	}
	if len(strings.Fields(text.String())) != 5 {
		t.Fatalf("streamed text %q", text.String())
	}
	rec := tg.records(resp.Header.Get("X-Generation-Id"))[0]
	if !rec.Streamed || rec.Cancelled || rec.CompletionTokens != 5 || rec.TTFB <= 0 || rec.TTFB >= rec.Latency || rec.ErrorCode != "" {
		t.Fatalf("record = %+v", rec)
	}
}

func TestBadRequestsGetClearErrorsInOurShape(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	disabled := tg.newKey("off", true)
	expired := tg.newKeyExpiring("old", false, time.Now().Add(-time.Minute))
	do := func(method, path, body string, header ...string) *http.Response {
		req, _ := http.NewRequest(method, tg.url+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	auth := "Bearer " + tg.key
	cases := []struct {
		name   string
		resp   *http.Response
		status int
		says   string
	}{
		{"no key", do("POST", "/v1/chat/completions", chatBody), 401, "missing API key"},
		{"not bearer", do("POST", "/v1/chat/completions", chatBody, "Authorization", "Basic abc"), 401, "missing API key"},
		{"unknown key", do("POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer sk-ar-v1-"+strings.Repeat("0", 64)), 401, "invalid API key"},
		{"garbage key", do("POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer hunter2"), 401, "invalid API key"},
		{"disabled key", do("POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+disabled), 401, "disabled"},
		{"expired key", do("POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+expired), 401, "expired"},
		{"malformed JSON", do("POST", "/v1/chat/completions", `{"model":`, "Authorization", auth), 400, "not valid JSON"},
		{"missing model", do("POST", "/v1/chat/completions", `{"messages":[]}`, "Authorization", auth), 400, `"model" is required`},
		{"unknown model", do("POST", "/v1/chat/completions", `{"model":"nope/x","messages":[{"role":"user","content":"hi"}]}`, "Authorization", auth), 404, "nope/x"},
		{"missing messages", do("POST", "/v1/chat/completions", `{"model":"openai/gpt-4o-mini"}`, "Authorization", auth), 400, `"messages" is required`},
		{"empty messages", do("POST", "/v1/chat/completions", `{"model":"openai/gpt-4o-mini","messages":[]}`, "Authorization", auth), 400, `"messages" is empty`},
		{"messages not an array", do("POST", "/v1/chat/completions", `{"model":"openai/gpt-4o-mini","messages":"hi"}`, "Authorization", auth), 400, `"messages" must be an array`},
		{"too large", do("POST", "/v1/chat/completions", `{"model":"openai/gpt-4o-mini","pad":"`+strings.Repeat("x", 70<<10)+`"}`, "Authorization", auth), 413, "larger than"},
		{"wrong method", do("GET", "/v1/chat/completions", "", "Authorization", auth), 405, "POST"},
		{"unknown path", do("GET", "/v2/whatever", ""), 404, "no such endpoint"},
		{"huge header", do("POST", "/v1/chat/completions", chatBody, "Authorization", auth, "X-Junk", strings.Repeat("j", 16<<10)), 431, "headers are too large"},
	}
	for _, c := range cases {
		status, msg, _ := apiErr(t, c.resp)
		if status != c.status || !strings.Contains(msg, c.says) {
			t.Errorf("%s: %d %q, want %d containing %q", c.name, status, msg, c.status, c.says)
		}
	}
	if n := tg.mock.Stats().Requests; n != 0 {
		t.Fatalf("%d bad requests reached the provider", n)
	}
}

// TestRefusalOfAnUnreadRequestReachesTheClient: a request refused before it is read whole (a
// body over max_request_body) leaves the rest of it unread. A plain close of such a socket
// sends a reset, and a client still sending its body sees "connection reset by peer" instead
// of the 413 (CI saw it once). Twenty uploads of 2 MiB each must all get the 413.
func TestRefusalOfAnUnreadRequestReachesTheClient(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	body := `{"model":"openai/gpt-4o-mini","pad":"` + strings.Repeat("x", 2<<20) + `"}`
	for i := range 20 {
		req, _ := http.NewRequest("POST", tg.url+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tg.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("upload %d: the refusal was lost: %v", i, err)
		}
		if status, msg, _ := apiErr(t, resp); status != 413 || !strings.Contains(msg, "larger than") {
			t.Fatalf("upload %d: %d %q, want 413", i, status, msg)
		}
	}
}

func TestUpstreamFailuresAreMappedAndRecorded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		behavior mockllm.Behavior
		stream   bool
		status   int
		code     string
		check    func(*http.Response, map[string]string) string
	}{
		{name: "5xx", behavior: mockllm.Behavior{Fault: "status", FaultStatus: 503}, status: 502, code: "upstream_status"},
		{name: "bad request passes through", behavior: mockllm.Behavior{Fault: "status", FaultStatus: 400}, status: 400, code: "upstream_status"},
		{name: "rate limit", behavior: mockllm.Behavior{Fault: "rate_limit", RetryAfter: 7}, status: 429, code: "upstream_status",
			check: func(r *http.Response, meta map[string]string) string {
				if r.Header.Get("Retry-After") != "7" || meta["limited_by"] != "upstream" {
					return "Retry-After " + r.Header.Get("Retry-After") + ", limited_by " + meta["limited_by"]
				}
				return ""
			}},
		{name: "hang", behavior: mockllm.Behavior{Fault: "hang"}, status: 504, code: "upstream_timeout"},
		{name: "hang, stream", behavior: mockllm.Behavior{Fault: "hang"}, stream: true, status: 504, code: "upstream_timeout"},
		{name: "malformed", behavior: mockllm.Behavior{Fault: "malformed"}, status: 502, code: "upstream_malformed"},
		{name: "connection dropped", behavior: mockllm.Behavior{Fault: "disconnect"}, status: 502, code: "upstream_connect"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tg := startGateway(t, gatewayOpts{behavior: c.behavior, idle: 300 * time.Millisecond})
			body := chatBody
			if c.stream {
				body = streamBody
			}
			resp := tg.post(body)
			genID := resp.Header.Get("X-Generation-Id")
			status, _, meta := apiErr(t, resp)
			if status != c.status || meta["provider"] != "upstream" {
				t.Fatalf("status %d metadata %v, want %d naming the provider", status, meta, c.status)
			}
			if c.check != nil {
				if msg := c.check(resp, meta); msg != "" {
					t.Fatal(msg)
				}
			}
			// Provider faults count against the deployment's health; request errors do not.
			w := tg.g.health.Window(0, health.Span5m, time.Now())
			if wantErrors := int64(map[bool]int{true: 1}[c.status >= 500]); w.Requests != 1 || w.Errors != wantErrors {
				t.Fatalf("health window %+v, want 1 request with %d errors", w, wantErrors)
			}
			rec := tg.records(genID)[0]
			if rec.Status != c.status || rec.ErrorCode != c.code {
				t.Fatalf("record status %d code %q, want %d %q", rec.Status, rec.ErrorCode, c.status, c.code)
			}
		})
	}
}

func TestStalledStreamGetsKeepAlivesThenAFinalErrorEvent(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{
		behavior:  mockllm.Behavior{Fault: "stall", FaultAfter: 2},
		keepAlive: 40 * time.Millisecond,
		idle:      500 * time.Millisecond,
	})
	resp := tg.post(streamBody)
	defer resp.Body.Close()
	events := (&sseReader{bufio.NewReader(resp.Body)}).all(nil)
	keepAlives := 0
	for _, ev := range events {
		if ev == ": keep-alive\n" {
			keepAlives++
		}
	}
	last := events[len(events)-1]
	var c completion
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(last), "data: ")), &c); err != nil {
		t.Fatalf("last event %q: %v", last, err)
	}
	if keepAlives < 3 || c.Error == nil || c.Error.Code != 502 || *c.Choices[0].FinishReason != "error" {
		t.Fatalf("%d keep-alives, last event %q", keepAlives, last)
	}
	rec := tg.records(resp.Header.Get("X-Generation-Id"))[0]
	if rec.ErrorCode != "upstream_idle_timeout" || rec.Cancelled {
		t.Fatalf("record = %+v", rec)
	}
}

func TestInterruptedStreamEndsWithAnErrorEvent(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{behavior: mockllm.Behavior{Fault: "disconnect", FaultAfter: 3}})
	resp := tg.post(streamBody)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	events := strings.Split(strings.TrimSpace(string(b)), "\n\n")
	last := events[len(events)-1]
	if !strings.Contains(last, `"finish_reason":"error"`) || !strings.Contains(last, `"code":502`) || strings.Contains(string(b), "[DONE]") {
		t.Fatalf("stream = %s", b)
	}
	if rec := tg.records(resp.Header.Get("X-Generation-Id"))[0]; rec.ErrorCode != "stream_interrupted" || rec.FinishReason != accounting.FinishError {
		t.Fatalf("record = %+v", rec)
	}
}

func TestClientHangUpStopsTheUpstreamRequest(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{behavior: mockllm.Behavior{Tokens: 2000, EventDelay: mockllm.Duration(20 * time.Millisecond)}})
	conn, resp := tg.rawStream(t, streamBody)
	genID := resp.Header.Get("X-Generation-Id")
	events := &sseReader{bufio.NewReader(resp.Body)}
	for range 5 {
		if _, err := events.next(); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	// The gateway notices at its next write and must then close the provider connection, which
	// the mock sees as a failed write. 2000 events would take 40s; this must be far quicker.
	deadline := time.Now().Add(10 * time.Second)
	for tg.mock.Stats().ClientCancelled == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("upstream still generating after the client left: %+v", tg.mock.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// OpenAI streams report usage only at their end, so the cancelled request is billed on an
	// estimate: the prompt from its size, a token per content chunk relayed (at least the
	// five the client read), never $0.
	// The provider never said why the answer ended: no finish reason, but its id is known.
	if rec := tg.records(genID)[0]; !rec.Cancelled || rec.ErrorCode != "client_cancelled" ||
		rec.PromptTokens <= 0 || rec.CompletionTokens < 5 || rec.CompletionTokens > 2000 || rec.Cost <= 0 ||
		rec.FinishReason != accounting.FinishNone || !strings.HasPrefix(rec.UpstreamID.String(), "chatcmpl-") {
		t.Fatalf("record = %+v", rec)
	}
}

// TestClientHangUpDuringASilenceStopsTheStream: while the provider is silent, the keep-alive
// is the gateway's only write, so it is what notices a client that left; the stream must end
// then, not at the provider's idle timeout. Not parallel: it reads the process-wide gauge of
// streams in flight.
func TestClientHangUpDuringASilenceStopsTheStream(t *testing.T) {
	tg := startGateway(t, gatewayOpts{
		behavior:  mockllm.Behavior{Fault: "stall", FaultAfter: 2},
		keepAlive: 30 * time.Millisecond,
		idle:      time.Minute,
	})
	inFlight := func() string {
		resp, err := http.Get(tg.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "arouter_streams_in_flight "); ok {
				return v
			}
		}
		t.Fatal("no arouter_streams_in_flight in /metrics")
		return ""
	}
	conn, resp := tg.rawStream(t, streamBody)
	genID := resp.Header.Get("X-Generation-Id")
	events := &sseReader{bufio.NewReader(resp.Body)}
	for {
		ev, err := events.next()
		if err != nil {
			t.Fatal(err)
		}
		if ev == ": keep-alive\n" { // the provider has gone silent
			break
		}
	}
	if got := inFlight(); got != "1" {
		t.Fatalf("streams in flight %s, want 1", got)
	}
	conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for inFlight() != "0" {
		if time.Now().After(deadline) {
			t.Fatal("the stream outlived its client by 10s: keep-alives did not notice the hang-up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if rec := tg.records(genID)[0]; !rec.Cancelled || rec.ErrorCode != "client_cancelled" {
		t.Fatalf("record = %+v", rec)
	}
}

func TestModelsHealthReadyAndMetrics(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	tg.post(chatBody).Body.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(tg.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := get("/v1/models")
	var models struct {
		Object string
		Data   []struct {
			ID, Object string
			Pricing    map[string]string
		}
	}
	if err := json.Unmarshal([]byte(body), &models); err != nil || status != 200 || models.Object != "list" ||
		len(models.Data) != 1 || models.Data[0].ID != "openai/gpt-4o-mini" || models.Data[0].Pricing["prompt"] != "0.00000015" {
		t.Fatalf("models %d %s", status, body)
	}
	if status, body := get("/healthz"); status != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz %d %s", status, body)
	}
	if status, body := get("/readyz"); status != 200 || !strings.Contains(body, "ready") {
		t.Fatalf("readyz %d %s", status, body)
	}
	status, body = get("/metrics")
	if status != 200 {
		t.Fatalf("metrics status %d", status)
	}
	for _, want := range []string{`arouter_chat_requests_total{stream="false"}`, `arouter_chat_duration_seconds_bucket{le=`,
		`arouter_upstream_header_seconds_bucket{provider="upstream",le=`, `arouter_tokens_total{kind="completion"}`,
		`arouter_accounting_queue_depth`, `arouter_streams_in_flight`, `arouter_deployment_availability{deployment="openai/gpt-4o-mini@upstream",window="5m"}`, `arouter_cost_usd_total`, `arouter_breaker_state{deployment="openai/gpt-4o-mini@upstream"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestKeyDisabledInTheStoreIsRefusedPromptly disables a key the way `arouter keys disable` does
// (directly in the store, as another process would) while the gateway runs.
func TestKeyDisabledInTheStoreIsRefusedPromptly(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{}) // keys.refresh_after is 50ms
	if resp := tg.post(chatBody); resp.StatusCode != 200 {
		t.Fatalf("status %d before disabling", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
	h := apikey.HashToken([]byte(tg.key))
	disabledAt := time.Now()
	if err := tg.g.store.(*sqlite.Store).SetKeyDisabled(context.Background(), h, true); err != nil {
		t.Fatal(err)
	}
	for {
		resp := tg.post(chatBody)
		if resp.StatusCode == 401 {
			_, msg, _ := apiErr(t, resp)
			if !strings.Contains(msg, "disabled") {
				t.Fatalf("401 says %q", msg)
			}
			break
		}
		resp.Body.Close()
		if time.Since(disabledAt) > time.Second {
			t.Fatal("disabled key still accepted after one second")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStoreOutage closes the database under a running gateway: known keys keep working from the
// cache, an unknown token gets 503 (not 401: the key may well be valid), and /readyz says so.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	if resp := tg.post(chatBody); resp.StatusCode != 200 {
		t.Fatalf("warm-up status %d", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
	newKey := tg.newKey("never-seen", false)
	if err := tg.g.store.Close(); err != nil {
		t.Fatal(err)
	}
	tg.stopped = true // the store is gone; shutdown would only report it
	t.Cleanup(func() {
		_ = tg.g.server.Shutdown(context.Background())
		// Stop the writer's retries and the key refreshes before the log file closes.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = tg.g.records.Close(ctx)
		tg.g.keys.Close()
		tg.g.byokCache.Close() // its reload loop retries every few seconds
		tg.g.credits.Stop()
	})

	if resp := tg.post(chatBody); resp.StatusCode != 200 {
		t.Fatalf("cached key refused during a store outage: %d", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
	tg.key = newKey
	status, msg, _ := apiErr(t, tg.post(chatBody))
	if status != 503 || !strings.Contains(msg, "key store") {
		t.Fatalf("uncached key during outage: %d %q", status, msg)
	}
	resp, err := http.Get(tg.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("/readyz = %d during a store outage", resp.StatusCode)
	}
}

// TestSlowClientIsCut: a client that announces a body and never finishes it is answered 408 in
// the gateway's error shape once server.read_timeout (1s here) passes, and the connection closes.
func TestSlowClientIsCut(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(tg.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tg.key+
		"\r\nContent-Length: 1000\r\n\r\n{\"model\":")
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled request: %v", err)
	}
	status, msg, _ := apiErr(t, resp)
	if status != 408 || !strings.Contains(msg, "not received in time") {
		t.Fatalf("%d %q", status, msg)
	}
	if n := tg.mock.Stats().Requests; n != 0 {
		t.Fatalf("a partial request reached the provider")
	}
}

// rawStream starts a stream over a connection of its own, which the test may cut.
func (tg *testGateway) rawStream(t *testing.T, body string) (net.Conn, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(tg.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", tg.url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tg.key)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	return conn, resp
}
