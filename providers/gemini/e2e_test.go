package gemini

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/mockllm"
	"github.com/arouter/arouter/providers"
	"github.com/arouter/arouter/providers/internal/oaitest"
)

// End to end over loopback: OpenAI request → TranslateRequest → mockllm's Gemini mode →
// TranslateResponse / Stream, checked with the official OpenAI SDK's types.

const e2eKey = "AIza-e2e"

func startMock(t *testing.T, b mockllm.Behavior) string {
	t.Helper()
	b.APIKey = e2eKey
	s, base, err := mockllm.Start("127.0.0.1:0", b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown() }) //nolint:errcheck
	// Gemini's base URL is the root, without /v1.
	return strings.TrimSuffix(base, "/v1")
}

var e2eAdapter = Adapter{Passthrough: []string{"mock"}}

func complete(t *testing.T, c *fasthttp.Client, root, body string) (openai.ChatCompletion, catalog.Usage) {
	t.Helper()
	status, out, u, msg, typ := oaitest.Complete(t, c, e2eAdapter, root, e2eKey, "google/gemini-2.5-flash", "gemini-2.5-flash", body)
	if status != 200 || typ != "" {
		t.Fatalf("status %d: %s %s\n%s", status, typ, msg, out)
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal(out, &cc); err != nil {
		t.Fatalf("SDK decode: %v\n%s", err, out)
	}
	if cc.Object != "chat.completion" || cc.Model != "google/gemini-2.5-flash" || len(cc.Choices) != 1 || cc.Choices[0].Message.Role != "assistant" {
		t.Fatalf("completion %s", out)
	}
	if cc.Usage.PromptTokens != u.Prompt || cc.Usage.CompletionTokens != u.Completion || cc.Usage.PromptTokensDetails.CachedTokens != u.Cached ||
		cc.Usage.CompletionTokensDetails.ReasoningTokens != u.Reasoning || cc.Usage.TotalTokens != u.Prompt+u.Completion {
		t.Errorf("body usage %+v disagrees with u %+v", cc.Usage, u)
	}
	return cc, u
}

func stream(t *testing.T, c *fasthttp.Client, root, body string) (oaitest.Summary, *Stream, error) {
	t.Helper()
	resp := oaitest.Send(t, c, e2eAdapter, root, e2eKey, "gemini-2.5-flash", body, true)
	defer fasthttp.ReleaseResponse(resp)
	if resp.StatusCode() != 200 || string(resp.Header.ContentType()) != "text/event-stream" {
		t.Fatalf("stream status %d, %s", resp.StatusCode(), resp.Header.ContentType())
	}
	s := NewStream("google/gemini-2.5-flash", "gen-e2e", 1)
	out, err := oaitest.Relay(t, resp.BodyStream(), s)
	for _, f := range oaitest.Split(out) {
		var ch openai.ChatCompletionChunk
		if jerr := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(string(f)), "data: ")), &ch); jerr != nil {
			t.Fatalf("SDK chunk decode: %v\n%s", jerr, f)
		}
	}
	return oaitest.Summarize(t, oaitest.Frames(t, out)), s, err
}

func TestE2EText(t *testing.T) {
	t.Parallel()
	root := startMock(t, mockllm.Behavior{Tokens: 6, CachedTokens: 5})
	c := &fasthttp.Client{}
	body := `{"model":"google/gemini-2.5-flash","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"}],"temperature":0.3}`
	cc, u := complete(t, c, root, body)
	ch := cc.Choices[0]
	if ch.FinishReason != "stop" || len(strings.Fields(ch.Message.Content)) != 6 || len(cc.ID) != 22 {
		t.Errorf("completion %+v", cc)
	}
	if u.Completion != 6 || u.Prompt == 0 || u.Cached != 5 || u.Reasoning != 0 {
		t.Errorf("usage %+v", u)
	}
	sum, s, err := stream(t, c, root, strings.TrimSuffix(body, "}")+`,"stream":true}`)
	if err != nil || !s.Finished() {
		t.Fatalf("stream: %v finished=%v", err, s.Finished())
	}
	if sum.Role != "assistant" || sum.Content != ch.Message.Content || sum.Finish != "stop" || sum.AfterFinish != 0 {
		t.Errorf("stream %+v, plain %q", sum, ch.Message.Content)
	}
	if s.Usage() != u {
		t.Errorf("stream usage %+v, plain %+v", s.Usage(), u)
	}
}

func TestE2EToolsAndThinking(t *testing.T) {
	t.Parallel()
	root := startMock(t, mockllm.Behavior{Tokens: 3, ReasoningTokens: 40})
	c := &fasthttp.Client{}
	body := `{"model":"m","messages":[{"role":"developer","content":"Use tools."},{"role":"user","content":[{"type":"text","text":"Weather here?"},
		{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]},
		{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]},
		{"role":"tool","tool_call_id":"call_1","content":"sunny"},{"role":"user","content":"And tomorrow?"}],
		"tools":[{"type":"function","function":{"name":"weather","description":"Forecast","parameters":{"type":"object","properties":{"city":{"type":"string"}},"additionalProperties":false}}}],
		"tool_choice":"auto","reasoning_effort":"low","max_tokens":500,"stop":["\n\n\n"],"seed":1,"response_format":{"type":"json_object"}}`
	cc, u := complete(t, c, root, body)
	msg := cc.Choices[0].Message
	var extra struct {
		Reasoning string `json:"reasoning"`
	}
	_ = json.Unmarshal([]byte(msg.RawJSON()), &extra)
	if !strings.HasPrefix(extra.Reasoning, "**Thinking it through**") || len(strings.Fields(msg.Content)) != 3 || u.Completion != 43 || u.Reasoning != 40 {
		t.Errorf("reasoning %q, content %q, usage %+v", extra.Reasoning, msg.Content, u)
	}
	sum, s, err := stream(t, c, root, strings.TrimSuffix(body, "}")+`,"stream":true}`)
	if err != nil || sum.Reasoning != extra.Reasoning || sum.Content != msg.Content || s.Usage() != u {
		t.Errorf("stream %+v (%v), usage %+v", sum, err, s.Usage())
	}
	// reasoning off: thinkingBudget 0, no thoughts billed.
	if _, u := complete(t, c, root, `{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"none"}`); u.Reasoning != 0 {
		t.Errorf("reasoning off: %+v", u)
	}
}

func TestE2ELimits(t *testing.T) {
	t.Parallel()
	root := startMock(t, mockllm.Behavior{Reply: "one two three four"})
	c := &fasthttp.Client{}
	cc, _ := complete(t, c, root, `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":2}`)
	if cc.Choices[0].FinishReason != "length" || cc.Choices[0].Message.Content != "one two" {
		t.Errorf("max tokens: %+v", cc.Choices[0])
	}
	cc, _ = complete(t, c, root, `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":"three"}`)
	if cc.Choices[0].FinishReason != "stop" || cc.Choices[0].Message.Content != "one two " {
		t.Errorf("stop: %+v", cc.Choices[0])
	}
}

func TestE2EErrors(t *testing.T) {
	t.Parallel()
	root := startMock(t, mockllm.Behavior{Tokens: 4})
	c := &fasthttp.Client{}
	for _, tc := range []struct {
		body, key string
		status    int
		typ       string
	}{
		{`{"messages":[{"role":"user","content":"x"}],"mock":{"fault":"status","fault_status":503}}`, e2eKey, 503, "UNAVAILABLE"},
		{`{"messages":[{"role":"user","content":"x"}],"mock":{"fault":"status"}}`, e2eKey, 500, "INTERNAL"},
		{`{"messages":[{"role":"user","content":"x"}],"mock":{"fault":"rate_limit"}}`, e2eKey, 429, "RESOURCE_EXHAUSTED"},
		{`{"messages":[{"role":"user","content":"x"}]}`, "wrong", 400, "API_KEY_INVALID"},
	} {
		status, _, _, msg, typ := oaitest.Complete(t, c, e2eAdapter, root, tc.key, "m", "m", tc.body)
		if status != tc.status || typ != tc.typ || msg == "" {
			t.Errorf("%s: %d %q %q, want %d %q", tc.body, status, typ, msg, tc.status, tc.typ)
		}
	}
	resp := oaitest.Send(t, c, e2eAdapter, root, e2eKey, "m", `{"messages":[{"role":"user","content":"x"}],"mock":{"fault":"rate_limit","retry_after":4}}`, false)
	if got := e2eAdapter.RetryAfter(resp.Body()); got != "4" || len(resp.Header.Peek("Retry-After")) != 0 {
		t.Errorf("RetryAfter %q, header %q", got, resp.Header.Peek("Retry-After"))
	}
	fasthttp.ReleaseResponse(resp)

	streamBody := func(mock string) string {
		return `{"messages":[{"role":"user","content":"x"}],"stream":true,"mock":` + mock + `}`
	}
	sum, s, err := stream(t, c, root, streamBody(`{"fault":"stream_error","fault_after":2}`))
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Type != "UNAVAILABLE" || s.Finished() || sum.Finish != "" || sum.Content == "" {
		t.Errorf("stream_error: %v %+v", err, sum)
	}
	_, s, err = stream(t, c, root, streamBody(`{"fault":"malformed","fault_after":1}`))
	if !errors.Is(err, providers.ErrMalformed) || s.Finished() {
		t.Errorf("malformed: %v", err)
	}
	_, s, err = stream(t, c, root, streamBody(`{"fault":"disconnect","fault_after":2}`))
	if err == nil || s.Finished() {
		t.Errorf("disconnect: %v finished=%v", err, s.Finished())
	}
}
