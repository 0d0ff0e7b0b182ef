package mockllm

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Mirrors of Anthropic's objects, decoded strictly so a stray field fails the test.
type anUsage struct {
	InputTokens              int    `json:"input_tokens"`
	CacheCreationInputTokens int    `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int    `json:"cache_read_input_tokens"`
	OutputTokens             int    `json:"output_tokens"`
	ServiceTier              string `json:"service_tier"`
}

type anMessage struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Role    string `json:"role"`
	Model   string `json:"model"`
	Content []struct {
		Type      string `json:"type"`
		Text      string `json:"text"`
		Thinking  string `json:"thinking"`
		Signature string `json:"signature"`
	} `json:"content"`
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        anUsage `json:"usage"`
}

type anError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

func anthPost(t *testing.T, c *http.Client, root, body string, hdr ...string) *http.Response {
	t.Helper()
	return do(t, c, "POST", root+"/v1/messages", body, append([]string{"anthropic-version", "2023-06-01"}, hdr...)...)
}

func anthBody(user, extra string) string {
	u, _ := json.Marshal(user)
	s := `{"model":"claude-sonnet-4-6","max_tokens":1024,"messages":[{"role":"user","content":` + string(u) + `}]`
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

func getAnthMessage(t *testing.T, c *http.Client, root, body string) anMessage {
	t.Helper()
	resp := anthPost(t, c, root, body)
	raw := readAll(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(resp.Header.Get("request-id"), "req_") {
		t.Fatalf("status %d, headers %v: %s", resp.StatusCode, resp.Header, raw)
	}
	var m anMessage
	strictDecode(t, raw, &m)
	return m
}

func expectAnthError(t *testing.T, resp *http.Response, status int, typ string) anError {
	t.Helper()
	raw := readAll(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, raw)
	}
	var e anError
	strictDecode(t, raw, &e)
	if e.Type != "error" || e.Error.Type != typ || e.Error.Message == "" || !strings.HasPrefix(e.RequestID, "req_") {
		t.Errorf("error = %+v, want type %q", e, typ)
	}
	return e
}

func root(base string) string { return strings.TrimSuffix(base, "/v1") }

func TestAnthropicMessage(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Tokens: 5})
	c := newClient(t)
	m := getAnthMessage(t, c, root(base), `{"model":"claude-sonnet-4-6","max_tokens":100,"system":"Be terse.",
		"messages":[{"role":"user","content":[{"type":"text","text":"Describe "},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}},
		{"type":"text","text":"this image"}]}],"temperature":0.5,"metadata":{"user_id":"u"}}`)
	if !strings.HasPrefix(m.ID, "msg_01") || m.Type != "message" || m.Role != "assistant" || m.Model != "claude-sonnet-4-6" ||
		m.StopReason != "end_turn" || m.StopSequence != nil || len(m.Content) != 1 || m.Content[0].Type != "text" {
		t.Fatalf("message = %+v", m)
	}
	if n := len(strings.Fields(m.Content[0].Text)); n != 5 {
		t.Errorf("text %q has %d words", m.Content[0].Text, n)
	}
	// 3 priming + system (4 + ceil(9/4)) + message (4 + ceil(9/4) + ceil(10/4)) = 20
	if u := m.Usage; u.InputTokens != 20 || u.OutputTokens != 5 || u.CacheReadInputTokens != 0 || u.CacheCreationInputTokens != 0 || u.ServiceTier != "standard" {
		t.Errorf("usage = %+v", u)
	}
	// Deterministic: the same request gets the same answer.
	if again := getAnthMessage(t, c, root(base), anthBody("same", "")); again.Content[0].Text != getAnthMessage(t, c, root(base), anthBody("same", "")).Content[0].Text {
		t.Error("not deterministic")
	}
}

func TestAnthropicLimits(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Reply: "alpha beta ### gamma delta"})
	c := newClient(t)
	m := getAnthMessage(t, c, root(base), anthBody("hi", `"max_tokens":2`))
	if m.StopReason != "max_tokens" || m.Content[0].Text != "alpha beta" || m.Usage.OutputTokens != 2 {
		t.Errorf("max_tokens: %+v", m)
	}
	m = getAnthMessage(t, c, root(base), anthBody("hi", `"stop_sequences":["delta","###"]`))
	if m.StopReason != "stop_sequence" || m.StopSequence == nil || *m.StopSequence != "###" || m.Content[0].Text != "alpha beta " {
		t.Errorf("stop_sequences: %+v", m)
	}
	m = getAnthMessage(t, c, root(base), anthBody("hi", `"stop_sequences":["zzz"]`))
	if m.StopReason != "end_turn" || m.Content[0].Text != "alpha beta ### gamma delta" {
		t.Errorf("no stop hit: %+v", m)
	}
}

func TestAnthropicAuthAndValidation(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{APIKey: "sk-ant-test"})
	c := newClient(t)
	r := root(base)
	expectAnthError(t, anthPost(t, c, r, anthBody("hi", "")), 401, "authentication_error")
	expectAnthError(t, anthPost(t, c, r, anthBody("hi", ""), "x-api-key", "wrong"), 401, "authentication_error")
	expectAnthError(t, anthPost(t, c, r, anthBody("hi", ""), "Authorization", "Bearer sk-ant-test"), 401, "authentication_error")
	resp := do(t, c, "POST", r+"/v1/messages", anthBody("hi", ""), "x-api-key", "sk-ant-test")
	if e := expectAnthError(t, resp, 400, "invalid_request_error"); !strings.Contains(e.Error.Message, "anthropic-version") {
		t.Errorf("missing version: %q", e.Error.Message)
	}
	key := []string{"x-api-key", "sk-ant-test"}
	anthPost(t, c, r, anthBody("hi", ""), key...).Body.Close()

	for _, tc := range []struct{ body, want string }{
		{`{"max_tokens":10,"messages":[{"role":"user","content":"x"}]}`, "model: Field required"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}]}`, "max_tokens: Field required"},
		{`{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "greater than or equal to 1"},
		{`{"model":"m","max_tokens":10}`, "messages: Field required"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"x"}]}`, `Unexpected role "system"`},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"tool","content":"x"}]}`, "messages.0.role"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, "must be non-empty"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"}],"temperature":1.5}`, "temperature"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"}],"max_completion_tokens":5}`, "max_completion_tokens: Extra inputs are not permitted"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"x","extra":1}]}]}`, "extra: Extra inputs"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":500}}`, "budget_tokens"},
		{`{"model":"m","max_tokens":2000,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":2000}}`, "must be greater than `thinking.budget_tokens`"},
		{`{"model":"m","max_tokens":5000,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":2000},"temperature":0.5}`, "temperature"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64"}}]}]}`, "source"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, "tool_use_id"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":42}]}`, "content"},
		{`{"model":"m","max_tokens":"ten","messages":[{"role":"user","content":"x"}]}`, "max_tokens: Input should be a valid integer"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f"}]}`, "input_schema"},
		{`{"model":"m","max_tokens":10,"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}],
			"messages":[{"role":"user","content":[{"type":"text","text":"c","cache_control":{"type":"ephemeral"}},{"type":"text","text":"d","cache_control":{"type":"ephemeral"}},
			{"type":"text","text":"e","cache_control":{"type":"ephemeral"}}]}]}`, "A maximum of 4 blocks with cache_control"},
		{`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"persistent"}}]}]}`, "ephemeral"},
		{`{"model":`, "parsing the body"},
		{anthBody("x", `"mock":{"fault":"nope"}`), "mock"},
	} {
		e := expectAnthError(t, anthPost(t, c, r, tc.body, key...), 400, "invalid_request_error")
		if !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("%s:\n message %q, want it to contain %q", tc.body, e.Error.Message, tc.want)
		}
	}
}

func TestAnthropicStream(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Tokens: 4})
	c := newClient(t)
	body := anthBody("stream please", `"stream":true`)
	resp := anthPost(t, c, root(base), body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	evs, err := readEvents(t, resp)
	if err != nil {
		t.Fatal(err)
	}
	want := "message_start,content_block_start,ping,content_block_delta,content_block_delta,content_block_delta,content_block_delta," +
		"content_block_stop,message_delta,message_stop"
	if got := eventNames(evs); got != want {
		t.Fatalf("events %s\nwant   %s", got, want)
	}
	var text string
	for _, ev := range evs {
		var v struct {
			Type    string `json:"type"`
			Message *struct {
				ID    string  `json:"id"`
				Usage anUsage `json:"usage"`
			} `json:"message"`
			Delta *struct {
				Type       string `json:"type"`
				Text       string `json:"text"`
				StopReason string `json:"stop_reason"`
			} `json:"delta"`
			Usage *anUsage `json:"usage"`
		}
		if err := json.Unmarshal([]byte(ev.data), &v); err != nil || v.Type != ev.name {
			t.Fatalf("event %s: %s (%v)", ev.name, ev.data, err)
		}
		switch ev.name {
		case "message_start":
			if !strings.HasPrefix(v.Message.ID, "msg_") || v.Message.Usage.InputTokens == 0 || v.Message.Usage.OutputTokens != 1 {
				t.Errorf("message_start %s", ev.data)
			}
		case "content_block_delta":
			text += v.Delta.Text
		case "message_delta":
			if v.Delta.StopReason != "end_turn" || v.Usage.OutputTokens != 4 {
				t.Errorf("message_delta %s", ev.data)
			}
		}
	}
	plain := getAnthMessage(t, c, root(base), anthBody("stream please", ""))
	if text != plain.Content[0].Text {
		t.Errorf("streamed %q, plain %q", text, plain.Content[0].Text)
	}
}

func TestAnthropicThinking(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Tokens: 3, ReasoningTokens: 5})
	c := newClient(t)
	extra := `"max_tokens":4000,"thinking":{"type":"enabled","budget_tokens":1024}`
	m := getAnthMessage(t, c, root(base), anthBody("think", extra))
	if len(m.Content) != 2 || m.Content[0].Type != "thinking" || len(strings.Fields(m.Content[0].Thinking)) != 5 ||
		m.Content[0].Signature == "" || m.Content[1].Type != "text" || m.Usage.OutputTokens != 8 {
		t.Errorf("message = %+v", m)
	}
	evs, err := readEvents(t, anthPost(t, c, root(base), anthBody("think", extra+`,"stream":true`)))
	if err != nil {
		t.Fatal(err)
	}
	want := "message_start,content_block_start,ping," + strings.Repeat("content_block_delta,", 6) + "content_block_stop," +
		"content_block_start," + strings.Repeat("content_block_delta,", 3) + "content_block_stop,message_delta,message_stop"
	if got := eventNames(evs); got != want {
		t.Errorf("events %s\nwant   %s", got, want)
	}
	if !strings.Contains(evs[8].data, `"signature_delta"`) || !strings.Contains(evs[11].data, `"index":1`) {
		t.Errorf("signature / text block index: %s / %s", evs[8].data, evs[11].data)
	}
	// Without thinking in the request, ReasoningTokens changes nothing.
	if m := getAnthMessage(t, c, root(base), anthBody("think", "")); len(m.Content) != 1 || m.Usage.OutputTokens != 3 {
		t.Errorf("no thinking requested: %+v", m)
	}
}

func TestAnthropicPromptCache(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Tokens: 2})
	c := newClient(t)
	long := strings.Repeat("context ", 50) // 400 bytes: 100 tokens
	body := func(question string) string {
		q, _ := json.Marshal(question)
		return `{"model":"claude-sonnet-4-6","max_tokens":100,"system":[{"type":"text","text":"` + long + `","cache_control":{"type":"ephemeral"}}],` +
			`"messages":[{"role":"user","content":` + string(q) + `}]}`
	}
	// prefix: 3 priming + 4 system framing + 100 = 107 tokens
	first := getAnthMessage(t, c, root(base), body("first question"))
	if u := first.Usage; u.CacheCreationInputTokens != 107 || u.CacheReadInputTokens != 0 || u.InputTokens != 4+4 {
		t.Errorf("first sight: %+v", u)
	}
	second := getAnthMessage(t, c, root(base), body("another one"))
	if u := second.Usage; u.CacheReadInputTokens != 107 || u.CacheCreationInputTokens != 0 || u.InputTokens != 4+3 {
		t.Errorf("repeat: %+v", u)
	}
	// A longer marked prefix reads the cached part and writes the rest.
	third := getAnthMessage(t, c, root(base), `{"model":"claude-sonnet-4-6","max_tokens":100,"system":[{"type":"text","text":"`+long+
		`","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"0123456789abcdef","cache_control":{"type":"ephemeral","ttl":"1h"}}]},
		{"role":"assistant","content":"ok"},{"role":"user","content":"go"}]}`)
	if u := third.Usage; u.CacheReadInputTokens != 107 || u.CacheCreationInputTokens != 8 || u.InputTokens != 5+5 {
		t.Errorf("extended prefix: %+v", u)
	}
	// Another model does not share the cache; cached_tokens overrides the prefix logic.
	if u := getAnthMessage(t, c, root(base), strings.Replace(body("x"), "claude-sonnet-4-6", "claude-haiku-4-5", 1)).Usage; u.CacheCreationInputTokens != 107 {
		t.Errorf("other model: %+v", u)
	}
	if u := getAnthMessage(t, c, root(base), anthBody("plain", `"mock":{"cached_tokens":5}`)).Usage; u.CacheReadInputTokens != 5 || u.InputTokens != 3+4+2-5+0 {
		t.Errorf("cached_tokens: %+v", u)
	}
}

func TestAnthropicFaults(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Tokens: 4})
	c := newClient(t)
	r := root(base)
	for _, stream := range []string{"", `"stream":true,`} {
		expectAnthError(t, anthPost(t, c, r, anthBody("x", stream+`"mock":{"fault":"status"}`)), 500, "api_error")
		expectAnthError(t, anthPost(t, c, r, anthBody("x", stream+`"mock":{"fault":"status","fault_status":529}`)), 529, "overloaded_error")
		resp := anthPost(t, c, r, anthBody("x", stream+`"mock":{"fault":"rate_limit","retry_after":9}`))
		if resp.Header.Get("retry-after") != "9" {
			t.Errorf("retry-after = %q", resp.Header.Get("retry-after"))
		}
		expectAnthError(t, resp, 429, "rate_limit_error")
	}
	expectAnthError(t, anthPost(t, c, r, anthBody("x", `"mock":{"fault":"stream_error"}`)), 500, "api_error")

	// stream_error: the in-stream error event after fault_after deltas.
	evs, err := readEvents(t, anthPost(t, c, r, anthBody("x", `"stream":true,"mock":{"fault":"stream_error","fault_after":2}`)))
	if err != nil || eventNames(evs) != "message_start,content_block_start,ping,content_block_delta,content_block_delta,error" ||
		!strings.Contains(evs[5].data, `"overloaded_error"`) {
		t.Errorf("stream_error: %v %+v", err, evs)
	}
	// malformed: a cut delta, then the end.
	evs, err = readEvents(t, anthPost(t, c, r, anthBody("x", `"stream":true,"mock":{"fault":"malformed","fault_after":1}`)))
	if err != nil || len(evs) != 5 || json.Valid([]byte(evs[4].data)) {
		t.Errorf("malformed stream: %v %+v", err, evs)
	}
	resp := anthPost(t, c, r, anthBody("x", `"mock":{"fault":"malformed"}`))
	if raw := readAll(t, resp); resp.StatusCode != 200 || json.Valid(raw) {
		t.Errorf("malformed body: %d %s", resp.StatusCode, raw)
	}
	// disconnect: events, then the connection drops mid-body.
	evs, err = readEvents(t, anthPost(t, c, r, anthBody("x", `"stream":true,"mock":{"fault":"disconnect","fault_after":2}`)))
	if err == nil || len(evs) != 5 {
		t.Errorf("disconnect: %v, %d events", err, len(evs))
	}
	// stall: the stream stops and stays open.
	resp = anthPost(t, c, r, anthBody("x", `"stream":true,"mock":{"fault":"stall","fault_after":1}`))
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, resp.Body); close(done) }() //nolint:errcheck
	select {
	case <-done:
		t.Error("stalled stream ended")
	case <-time.After(200 * time.Millisecond):
	}
	resp.Body.Close()
	<-done
	// hang: no answer at all.
	hc := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{}}
	req, _ := http.NewRequest("POST", r+"/v1/messages", strings.NewReader(anthBody("x", `"mock":{"fault":"hang"}`)))
	req.Header.Set("anthropic-version", "2023-06-01")
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("hang answered %d", resp.StatusCode)
	}
	// Still healthy afterwards.
	getAnthMessage(t, c, r, anthBody("x", ""))
}
