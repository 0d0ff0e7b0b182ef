package mockllm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// healthy asserts the server still answers normally after a fault.
func healthy(t *testing.T, c *http.Client, base string) {
	t.Helper()
	complete(t, c, base, chatBody("m", "still there?", `"mock":{"fault":""}`))
	streamChat(t, c, base, chatBody("m", "still there?", `"stream":true,"mock":{"fault":""}`))
}

func hijackedConns(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.hijacked)
}

func TestFaultStatus(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Fault: FaultStatus})
	c := newClient(t)
	for _, stream := range []string{"", `"stream":true,`} {
		expectError(t, do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", stream+`"mock":{}`)), 500, "server_error")
		expectError(t, do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", stream+`"mock":{"fault_status":503}`)), 503, "server_error")
		expectError(t, do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", stream+`"mock":{"fault_status":404}`)), 404, "invalid_request_error")
	}
	// Validation still comes first.
	expectError(t, do(t, c, "POST", base+"/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`), 400, "invalid_request_error")
	healthy(t, c, base)
}

func TestFaultRateLimit(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{})
	c := newClient(t)
	for _, tc := range []struct{ mock, retryAfter string }{
		{`{"fault":"rate_limit"}`, "1"},
		{`{"fault":"rate_limit","retry_after":7}`, "7"},
	} {
		resp := do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", `"stream":true,"mock":`+tc.mock))
		if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
			t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
		}
		e := expectError(t, resp, 429, "requests")
		if e.Error.Code == nil || *e.Error.Code != "rate_limit_exceeded" || !strings.HasPrefix(e.Error.Message, "Rate limit reached") {
			t.Errorf("429 body = %+v", e.Error)
		}
	}
	healthy(t, c, base)
}

func TestFaultHang(t *testing.T) {
	t.Parallel()
	s, base := startMock(t, Behavior{})
	c := newClient(t)
	for _, body := range []string{
		chatBody("m", "hi", `"mock":{"fault":"hang"}`),
		chatBody("m", "hi", `"stream":true,"mock":{"fault":"hang"}`),
		chatBody("m", "hi", `"mock":{"fault":"stall"}`), // non-stream stall hangs too
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/chat/completions", strings.NewReader(body))
		resp, err := c.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			t.Fatalf("hang answered with %d", resp.StatusCode)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("hang: err = %v, want a client timeout", err)
		}
		// The client left: the server notices and lets the connection go.
		waitFor(t, "hung connection released", func() bool { return hijackedConns(s) == 0 })
	}
	healthy(t, c, base)
}

func TestFaultStall(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{})
	c := newClient(t)
	resp := do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", `"stream":true,"mock":{"fault":"stall","fault_after":2}`))
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	events := make(chan string, 16)
	go func() {
		defer close(events)
		r := newSSE(resp.Body)
		for {
			ev, err := r.next()
			if err != nil {
				return
			}
			events <- ev
		}
	}()
	for i := 0; i < 3; i++ { // role chunk + 2 content events
		select {
		case ev := <-events:
			if i > 0 && !strings.Contains(ev, `"delta":{"content":`) {
				t.Errorf("event %d = %s", i, ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d events before the stall", i)
		}
	}
	// Nothing more arrives, and the stream stays open.
	select {
	case ev, ok := <-events:
		t.Fatalf("stalled stream sent %q (open=%v)", ev, ok)
	case <-time.After(300 * time.Millisecond):
	}
	resp.Body.Close()
	healthy(t, c, base)
}

func TestFaultDisconnect(t *testing.T) {
	t.Parallel()
	s, base := startMock(t, Behavior{Fault: FaultDisconnect, FaultAfter: 3, EventDelay: Duration(time.Millisecond)})
	c := newClient(t)

	resp := do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", `"stream":true`))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events, err := readStream(t, resp)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("stream end = %v, want unexpected EOF (incomplete chunked body)", err)
	}
	if len(events) != 1+3 {
		t.Errorf("got %d events before the disconnect, want 4: %q", len(events), events)
	}
	for _, ev := range events {
		var ch oaChunk
		strictDecode(t, []byte(ev), &ch)
	}

	// fault_after beyond the length: all tokens, then the cut (no finish, no [DONE]).
	resp = do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", `"stream":true,"mock":{"tokens":2,"fault_after":10}`))
	events, err = readStream(t, resp)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(events) != 3 {
		t.Errorf("fault_after > tokens: %d events, end %v", len(events), err)
	}

	req, _ := http.NewRequest("POST", base+"/chat/completions", strings.NewReader(chatBody("m", "hi", "")))
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("non-stream disconnect answered %d", resp.StatusCode)
	}
	waitFor(t, "hijacked connections closed", func() bool { return hijackedConns(s) == 0 })
	if st := s.Stats(); st.ClientCancelled != 0 || st.ActiveStreams != 0 || st.Streams != 2 {
		t.Errorf("stats = %+v", st)
	}
	healthy(t, c, base)
}

func TestFaultMalformed(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Fault: FaultMalformed, FaultAfter: 2})
	c := newClient(t)

	resp := do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", ""))
	raw := readAll(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if json.Valid(raw) || len(raw) == 0 {
		t.Errorf("malformed body is valid JSON: %s", raw)
	}

	events := streamChat(t, c, base, chatBody("m", "hi", `"stream":true`))
	if len(events) != 1+2+2 {
		t.Fatalf("events = %q", events)
	}
	for _, ev := range events[:3] {
		if !json.Valid([]byte(ev)) {
			t.Errorf("event before the fault is invalid: %s", ev)
		}
	}
	if bad := events[3]; json.Valid([]byte(bad)) || !strings.HasPrefix(bad, `{"id":"chatcmpl-`) {
		t.Errorf("malformed event = %q", bad)
	}
	if events[4] != "[DONE]" {
		t.Errorf("last event = %q", events[4])
	}
	healthy(t, c, base)
}

// TestPerRequestOverride shows two requests with different behaviours
// sharing one server, and that an override does not stick.
func TestPerRequestOverride(t *testing.T) {
	t.Parallel()
	s, base := startMock(t, Behavior{Tokens: 4})
	c := newClient(t)
	out, _ := complete(t, c, base, chatBody("m", "hi", `"mock":{"tokens":9,"reply":"","reasoning_tokens":2,"latency":"1ms"}`))
	if out.Usage.CompletionTokens != 11 {
		t.Errorf("override: completion_tokens = %d", out.Usage.CompletionTokens)
	}
	out, _ = complete(t, c, base, chatBody("m", "hi", `"mock":null`))
	if out.Usage.CompletionTokens != 4 {
		t.Errorf("after override: completion_tokens = %d", out.Usage.CompletionTokens)
	}
	if b := s.Behavior(); b.Tokens != 4 || b.ReasoningTokens != 0 {
		t.Errorf("server behaviour changed: %+v", b)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	const latency = 150 * time.Millisecond
	_, base := startMock(t, Behavior{Latency: Duration(latency)})
	c := newClient(t)
	for _, extra := range []string{"", `"stream":true`} {
		start := time.Now()
		resp := do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", extra))
		if ttfb := time.Since(start); ttfb < latency {
			t.Errorf("headers after %v, want >= %v", ttfb, latency)
		}
		readAll(t, resp)
	}
}

func TestFaultStreamErrorOpenAI(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{})
	c := newClient(t)
	events := streamChat(t, c, base, chatBody("m", "hi", `"stream":true,"mock":{"fault":"stream_error","fault_after":2}`))
	if len(events) != 1+2+1 || !strings.HasPrefix(events[3], `{"error":{"message":`) {
		t.Fatalf("events = %q", events)
	}
	var e oaError
	strictDecode(t, []byte(events[3]), &e)
	if e.Error.Type != "server_error" {
		t.Errorf("error event = %+v", e)
	}
	// Without a stream it is a status fault.
	expectError(t, do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", `"mock":{"fault":"stream_error","fault_status":503}`)), 503, "server_error")
	healthy(t, c, base)
}
