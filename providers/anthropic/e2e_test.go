package anthropic

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

// End to end over loopback: OpenAI request → TranslateRequest → mockllm's Anthropic mode →
// TranslateResponse / Stream, checked with the official OpenAI SDK's types.

const e2eKey = "sk-ant-e2e"

func startMock(t *testing.T, b mockllm.Behavior) string {
	t.Helper()
	b.APIKey = e2eKey
	s, base, err := mockllm.Start("127.0.0.1:0", b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown() }) //nolint:errcheck
	// Anthropic's base URL is the root, without /v1.
	return strings.TrimSuffix(base, "/v1")
}

var e2eAdapter = Adapter{Passthrough: []string{"mock"}}

func complete(t *testing.T, c *fasthttp.Client, root, body string) (openai.ChatCompletion, catalog.Usage) {
	t.Helper()
	status, out, u, msg, typ := oaitest.Complete(t, c, e2eAdapter, root, e2eKey, "anthropic/claude-sonnet-4-6", "claude-sonnet-4-6", body)
	if status != 200 || typ != "" {
		t.Fatalf("status %d: %s %s\n%s", status, typ, msg, out)
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal(out, &cc); err != nil {
		t.Fatalf("SDK decode: %v\n%s", err, out)
	}
	if cc.Object != "chat.completion" || cc.Model != "anthropic/claude-sonnet-4-6" || len(cc.Choices) != 1 || cc.Choices[0].Message.Role != "assistant" {
		t.Fatalf("completion %s", out)
	}
	var details struct {
		Usage struct {
			PromptTokensDetails struct {
				CacheWriteTokens int64 `json:"cache_write_tokens"`
			} `json:"prompt_tokens_details"`
		} `json:"usage"`
	}
	_ = json.Unmarshal(out, &details)
	if cc.Usage.PromptTokens != u.Prompt || cc.Usage.CompletionTokens != u.Completion || cc.Usage.PromptTokensDetails.CachedTokens != u.Cached ||
		cc.Usage.CompletionTokensDetails.ReasoningTokens != u.Reasoning || details.Usage.PromptTokensDetails.CacheWriteTokens != u.CacheWrite ||
		cc.Usage.TotalTokens != u.Prompt+u.Completion {
		t.Errorf("body usage %s disagrees with u %+v", out, u)
	}
	return cc, u
}

func stream(t *testing.T, c *fasthttp.Client, root, body string) (oaitest.Summary, *Stream, error) {
	t.Helper()
	resp := oaitest.Send(t, c, e2eAdapter, root, e2eKey, "claude-sonnet-4-6", body, true)
	defer fasthttp.ReleaseResponse(resp)
	if resp.StatusCode() != 200 {
		t.Fatalf("stream status %d", resp.StatusCode())
	}
	s := NewStream("anthropic/claude-sonnet-4-6", "gen-e2e", 1)
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
	root := startMock(t, mockllm.Behavior{Tokens: 6})
	c := &fasthttp.Client{}
	body := `{"model":"anthropic/claude-sonnet-4-6","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"}],"temperature":0.3}`
	cc, u := complete(t, c, root, body)
	ch := cc.Choices[0]
	if ch.FinishReason != "stop" || len(strings.Fields(ch.Message.Content)) != 6 || !strings.HasPrefix(cc.ID, "msg_") {
		t.Errorf("completion %+v", cc)
	}
	if u.Completion != 6 || u.Prompt == 0 || u.Cached != 0 {
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

func TestE2EPromptCaching(t *testing.T) {
	t.Parallel()
	root := startMock(t, mockllm.Behavior{Tokens: 2})
	c := &fasthttp.Client{}
	doc := strings.Repeat("A long shared document. ", 40)
	body := func(q string) string {
		return `{"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"` + doc + `","cache_control":{"type":"ephemeral"}}]},` +
			`{"role":"user","content":"` + q + `"}]}`
	}
	_, first := complete(t, c, root, body("first?"))
	cc, second := complete(t, c, root, body("second?"))
	if first.CacheWrite == 0 || first.Cached != 0 || second.Cached != first.CacheWrite || second.CacheWrite != 0 {
		t.Errorf("first %+v, second %+v", first, second)
	}
	// OpenAI counting: the prompt includes cached and written tokens.
	if second.Prompt <= second.Cached || cc.Usage.PromptTokensDetails.CachedTokens != second.Cached {
		t.Errorf("second %+v, body %+v", second, cc.Usage)
	}
}

func TestE2EToolsAndThinking(t *testing.T) {
	t.Parallel()
	root := startMock(t, mockllm.Behavior{Tokens: 3, ReasoningTokens: 6})
	c := &fasthttp.Client{}
	// A whole tool round trip, images and breakpoints must pass the mock's checks of the
	// Messages API; reasoning_effort becomes extended thinking.
	body := `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"Weather here?"},
		{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]},
		{"role":"assistant","content":null,"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]},
		{"role":"tool","tool_call_id":"toolu_1","content":"sunny"},{"role":"assistant","content":""},{"role":"user","content":"And tomorrow?"}],
		"tools":[{"type":"function","function":{"name":"weather","description":"Forecast","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
		"tool_choice":"auto","reasoning_effort":"medium","max_tokens":5000,"temperature":0.2,"stop":["\n\n\n"]}`
	cc, u := complete(t, c, root, body)
	msg := cc.Choices[0].Message
	var extra struct {
		Reasoning string `json:"reasoning"`
	}
	_ = json.Unmarshal([]byte(msg.RawJSON()), &extra)
	if len(strings.Fields(extra.Reasoning)) != 6 || len(strings.Fields(msg.Content)) != 3 || u.Completion != 9 {
		t.Errorf("reasoning %q, content %q, usage %+v", extra.Reasoning, msg.Content, u)
	}
	sum, s, err := stream(t, c, root, strings.TrimSuffix(body, "}")+`,"stream":true}`)
	if err != nil || sum.Reasoning != extra.Reasoning || sum.Content != msg.Content || s.Usage() != u {
		t.Errorf("stream %+v (%v), usage %+v", sum, err, s.Usage())
	}
}

func TestE2ELimits(t *testing.T) {
	t.Parallel()
	root := startMock(t, mockllm.Behavior{Reply: "one two three four"})
	c := &fasthttp.Client{}
	cc, _ := complete(t, c, root, `{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":2}`)
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
		{`{"messages":[{"role":"user","content":"x"}],"mock":{"fault":"status","fault_status":529}}`, e2eKey, 529, "overloaded_error"},
		{`{"messages":[{"role":"user","content":"x"}],"mock":{"fault":"status"}}`, e2eKey, 500, "api_error"},
		{`{"messages":[{"role":"user","content":"x"}],"mock":{"fault":"rate_limit"}}`, e2eKey, 429, "rate_limit_error"},
		{`{"messages":[{"role":"user","content":"x"}]}`, "wrong", 401, "authentication_error"},
		// OpenAI allows temperature up to 2; Anthropic refuses above 1, and says so.
		{`{"messages":[{"role":"user","content":"x"}],"temperature":1.5}`, e2eKey, 400, "invalid_request_error"},
	} {
		status, _, _, msg, typ := oaitest.Complete(t, c, e2eAdapter, root, tc.key, "m", "m", tc.body)
		if status != tc.status || typ != tc.typ || msg == "" {
			t.Errorf("%s: %d %q %q, want %d %q", tc.body, status, typ, msg, tc.status, tc.typ)
		}
	}
	resp := oaitest.Send(t, c, e2eAdapter, root, e2eKey, "m", `{"messages":[{"role":"user","content":"x"}],"mock":{"fault":"rate_limit","retry_after":4}}`, false)
	if string(resp.Header.Peek("retry-after")) != "4" {
		t.Errorf("retry-after %q", resp.Header.Peek("retry-after"))
	}
	fasthttp.ReleaseResponse(resp)

	streamBody := func(mock string) string {
		return `{"messages":[{"role":"user","content":"x"}],"stream":true,"mock":` + mock + `}`
	}
	sum, s, err := stream(t, c, root, streamBody(`{"fault":"stream_error","fault_after":2}`))
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Type != "overloaded_error" || s.Finished() || sum.Finish != "" || sum.Content == "" {
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
