package mockllm

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBehaviorEndpoint(t *testing.T) {
	t.Parallel()
	s, base := startMock(t, Behavior{Tokens: 3})
	c := newClient(t)
	root := strings.TrimSuffix(base, "/v1")

	var got Behavior
	raw := readAll(t, do(t, c, "GET", root+"/_mock/behavior", ""))
	if err := json.Unmarshal(raw, &got); err != nil || got.Tokens != 3 || !strings.Contains(string(raw), `"latency":"0s"`) {
		t.Fatalf("GET behavior = %s (%v)", raw, err)
	}

	resp := do(t, c, "PUT", root+"/_mock/behavior", `{"latency":"20ms","event_delay":5,"tokens":2,"fault":"rate_limit","retry_after":3}`)
	if raw := readAll(t, resp); resp.StatusCode != 200 {
		t.Fatalf("PUT = %d %s", resp.StatusCode, raw)
	}
	want := Behavior{Latency: Duration(20 * time.Millisecond), EventDelay: Duration(5 * time.Millisecond), Tokens: 2,
		Fault: FaultRateLimit, RetryAfter: 3}
	if b := s.Behavior(); b != want {
		t.Errorf("after PUT: %+v, want %+v", b, want)
	}
	resp = do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", ""))
	if resp.Header.Get("Retry-After") != "3" {
		t.Errorf("PUT behaviour not applied")
	}
	expectError(t, resp, 429, "requests")

	for _, bad := range []string{`{"tokens":`, `{"fault":"nope"}`, `{"tokenz":1}`, `{"latency":"soon"}`, `{"fault_status":200}`, `{"processing":-5}`, `{} {}`} {
		expectError(t, do(t, c, "PUT", root+"/_mock/behavior", bad), 400, "invalid_request_error")
	}
	if b := s.Behavior(); b != want {
		t.Errorf("rejected PUT changed the behaviour: %+v", b)
	}
	// PUT replaces the whole behaviour; absent fields reset.
	readAll(t, do(t, c, "PUT", root+"/_mock/behavior", `{}`))
	if b := s.Behavior(); b != (Behavior{}) {
		t.Errorf("PUT {} left %+v", b)
	}
}

func getStats(t *testing.T, c *http.Client, root string) Stats {
	t.Helper()
	var st Stats
	strictDecode(t, readAll(t, do(t, c, "GET", root+"/_mock/stats", "")), &st)
	return st
}

func TestStats(t *testing.T) {
	t.Parallel()
	s, base := startMock(t, Behavior{Tokens: 2})
	c := newClient(t)
	root := strings.TrimSuffix(base, "/v1")

	complete(t, c, base, chatBody("m", "a", ""))
	streamChat(t, c, base, chatBody("m", "a", `"stream":true`))
	readAll(t, do(t, c, "POST", base+"/chat/completions", `{bad`))
	if st := getStats(t, c, root); st != (Stats{Requests: 3, Streams: 1}) {
		t.Errorf("stats = %+v", st)
	}

	// A client that leaves mid-stream is counted once the server's write
	// fails, and the stream stops.
	resp := do(t, c, "POST", base+"/chat/completions",
		chatBody("m", "a", `"stream":true,"mock":{"tokens":100000,"event_delay":"2ms"}`))
	r := newSSE(resp.Body)
	for i := 0; i < 2; i++ {
		if _, err := r.next(); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.ActiveStreams != 1 || st.Streams != 2 {
		t.Errorf("mid-stream stats = %+v", st)
	}
	resp.Body.Close() // abandons the connection
	waitFor(t, "ClientCancelled", func() bool {
		st := s.Stats()
		return st.ClientCancelled == 1 && st.ActiveStreams == 0
	})
	if st := getStats(t, c, root); st != (Stats{Requests: 4, Streams: 2, ClientCancelled: 1}) {
		t.Errorf("final stats = %+v", st)
	}
}

// TestShutdownEndsHeldRequests checks Shutdown does not wait out hangs,
// stalls, latency or slow streams.
func TestShutdownEndsHeldRequests(t *testing.T) {
	t.Parallel()
	s, base, err := Start("127.0.0.1:0", Behavior{})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	ended := make(chan error, 4)
	post := func(body string, onResp func(*http.Response)) {
		go func() {
			req, _ := http.NewRequest("POST", base+"/chat/completions", strings.NewReader(body))
			resp, err := c.Do(req)
			if err == nil {
				onResp(resp)
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			ended <- err
		}()
	}
	started := make(chan struct{}, 2)
	firstEvent := func(resp *http.Response) {
		newSSE(resp.Body).next()
		started <- struct{}{}
	}
	post(chatBody("m", "a", `"mock":{"fault":"hang"}`), func(*http.Response) {})
	post(chatBody("m", "a", `"mock":{"latency":"1h"}`), func(*http.Response) {})
	post(chatBody("m", "a", `"stream":true,"mock":{"fault":"stall"}`), firstEvent)
	post(chatBody("m", "a", `"stream":true,"mock":{"event_delay":"1h"}`), firstEvent)
	<-started
	<-started
	waitFor(t, "hang and latency requests to arrive", func() bool { return s.Stats().Requests == 4 && hijackedConns(s) == 1 })

	done := make(chan error, 1)
	go func() { done <- s.Shutdown() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown blocked on held requests")
	}
	for i := 0; i < 4; i++ {
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("a held request outlived Shutdown")
		}
	}
	if err := s.Shutdown(); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestRegisterFlags(t *testing.T) {
	t.Parallel()
	b := Behavior{Tokens: 8}
	fs := flag.NewFlagSet("mock", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	b.RegisterFlags(fs)
	err := fs.Parse([]string{"-latency=250ms", "-event-delay=15", "-reply=hi there", "-reasoning-tokens=1",
		"-cached-tokens=2", "-fault=status", "-fault-status=502", "-retry-after=4", "-fault-after=5", "-api-key=k"})
	if err != nil {
		t.Fatal(err)
	}
	want := Behavior{Latency: Duration(250 * time.Millisecond), EventDelay: Duration(15 * time.Millisecond), Tokens: 8,
		Reply: "hi there", ReasoningTokens: 1, CachedTokens: 2, Fault: FaultStatus, FaultStatus: 502, RetryAfter: 4,
		FaultAfter: 5, APIKey: "k"}
	if b != want {
		t.Errorf("parsed %+v\nwant   %+v", b, want)
	}
	for _, name := range []string{"latency", "event-delay", "tokens", "reply", "reasoning-tokens", "cached-tokens",
		"fault", "fault-status", "retry-after", "fault-after", "api-key"} {
		if f := fs.Lookup(name); f == nil || f.Usage == "" {
			t.Errorf("flag -%s missing or undocumented", name)
		}
	}
	if err := fs.Parse([]string{"-fault=boom"}); err == nil {
		t.Error("-fault=boom accepted")
	}
}

func TestDurationJSON(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		`"20ms"`: 20 * time.Millisecond, `"1.5s"`: 1500 * time.Millisecond, `250`: 250 * time.Millisecond,
		`0.5`: 500 * time.Microsecond, `"40"`: 40 * time.Millisecond, `""`: 0,
	} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s -> %v (%v), want %v", in, time.Duration(d), err, want)
		}
	}
	for _, bad := range []string{`"fast"`, `true`, `{}`} {
		var d Duration
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	out, _ := json.Marshal(Behavior{Latency: Duration(20 * time.Millisecond)})
	if !strings.Contains(string(out), `"latency":"20ms","event_delay":"0s"`) {
		t.Errorf("marshal = %s", out)
	}
}
