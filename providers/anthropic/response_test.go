package anthropic

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/providers"
	"github.com/arouter/arouter/providers/internal/oaitest"
)

var fixedNow = Adapter{Now: func() time.Time { return time.Unix(1750000000, 0) }}

func TestTranslateResponse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
		usage          catalog.Usage
	}{
		{
			name: "text with prompt caching",
			in: `{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","model":"claude-sonnet-4-6",
				"content":[{"type":"text","text":"Hi! My name is Claude."}],"stop_reason":"end_turn","stop_sequence":null,
				"usage":{"input_tokens":21,"cache_creation_input_tokens":188086,"cache_read_input_tokens":100,"output_tokens":393,
				"service_tier":"standard"}}`,
			want: `{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","object":"chat.completion","created":1750000000,"model":"anthropic/claude-sonnet-4-6",
				"choices":[{"index":0,"message":{"role":"assistant","content":"Hi! My name is Claude."},"finish_reason":"stop"}],
				"usage":{"prompt_tokens":188207,"completion_tokens":393,"total_tokens":188600,
				"prompt_tokens_details":{"cached_tokens":100,"cache_write_tokens":188086},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			usage: catalog.Usage{Prompt: 188207, Completion: 393, Cached: 100, CacheWrite: 188086},
		},
		{
			name: "tool use after text",
			in: `{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-sonnet-4-6",
				"content":[{"type":"text","text":"I'll check."},{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9",
				"name":"get_weather","input":{"location": "San Francisco, CA", "unit": "celsius"}}],
				"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":89}}`,
			want: `{"id":"msg_01Aq9w938a90dw8q","object":"chat.completion","created":1750000000,"model":"anthropic/claude-sonnet-4-6",
				"choices":[{"index":0,"message":{"role":"assistant","content":"I'll check.","tool_calls":[{"id":"toolu_01A09q90qw90lq917835lq9",
				"type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"San Francisco, CA\",\"unit\":\"celsius\"}"}}]},
				"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":472,"completion_tokens":89,"total_tokens":561,
				"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			usage: catalog.Usage{Prompt: 472, Completion: 89},
		},
		{
			name: "tool use only: content null",
			in: `{"id":"msg_2","type":"message","role":"assistant","content":[{"type":"tool_use","id":"toolu_2","name":"now","input":{}}],
				"stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":3}}`,
			want: `{"id":"msg_2","object":"chat.completion","created":1750000000,"model":"anthropic/claude-sonnet-4-6",
				"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"toolu_2","type":"function",
				"function":{"name":"now","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":3,
				"total_tokens":8,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			usage: catalog.Usage{Prompt: 5, Completion: 3},
		},
		{
			name: "thinking and redacted thinking, cut by max_tokens",
			in: `{"id":"msg_3","type":"message","role":"assistant","content":[{"type":"thinking","thinking":"Let me analyze this step by step...",
				"signature":"WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL...."},
				{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP..."},
				{"type":"text","text":"Based on my analysis"}],"stop_reason":"max_tokens","usage":{"input_tokens":10,"output_tokens":1000}}`,
			want: `{"id":"msg_3","object":"chat.completion","created":1750000000,"model":"anthropic/claude-sonnet-4-6",
				"choices":[{"index":0,"message":{"role":"assistant","content":"Based on my analysis","reasoning":"Let me analyze this step by step..."},
				"finish_reason":"length"}],"usage":{"prompt_tokens":10,"completion_tokens":1000,"total_tokens":1010,
				"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			usage: catalog.Usage{Prompt: 10, Completion: 1000},
		},
		{
			name: "stop sequence, refusal, unknown stop reasons, empty content",
			in:   `{"id":"msg_4","type":"message","role":"assistant","content":[],"stop_reason":"stop_sequence","stop_sequence":"###","usage":{"input_tokens":1,"output_tokens":0}}`,
			want: `{"id":"msg_4","object":"chat.completion","created":1750000000,"model":"anthropic/claude-sonnet-4-6",
				"choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,
				"completion_tokens":0,"total_tokens":1,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},
				"completion_tokens_details":{"reasoning_tokens":0}}}`,
			usage: catalog.Usage{Prompt: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var u catalog.Usage
			var n providers.Native
			out, err := fixedNow.TranslateResponse([]byte("keep:"), []byte(tc.in), "anthropic/claude-sonnet-4-6", &u, &n)
			if err != nil {
				t.Fatal(err)
			}
			checkNative(t, tc.in, n)
			if got, want := oaitest.NormJSON(t, out[5:]), oaitest.NormJSON(t, []byte(tc.want)); got != want {
				t.Errorf("\n got %s\nwant %s", got, want)
			}
			if u != tc.usage {
				t.Errorf("usage = %+v, want %+v", u, tc.usage)
			}
		})
	}
}

func TestFinishReason(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
		"refusal": "content_filter", "pause_turn": "stop", "model_context_window_exceeded": "length", "": "stop", "new_reason": "stop",
	} {
		if got := finishReason(in); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTranslateResponseErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `{"id":`, `[]`, `{"type":"completion"}`, `{"type":"message","content":"text"}`} {
		var u catalog.Usage
		if _, err := (Adapter{}).TranslateResponse(nil, []byte(in), "m", &u, nil); !errors.Is(err, providers.ErrMalformed) {
			t.Errorf("%q: err = %v, want ErrMalformed", in, err)
		}
	}
	var u catalog.Usage
	_, err := Adapter{}.TranslateResponse(nil, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`), "m", &u, nil)
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Type != "overloaded_error" || ue.Message != "Overloaded" {
		t.Errorf("error body: err = %v", err)
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	a := Adapter{}
	for _, tc := range []struct{ in, msg, typ string }{
		{`{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_1"}`,
			"Number of request tokens has exceeded your per-minute rate limit", "rate_limit_error"},
		{`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, "Overloaded", "overloaded_error"},
		{`{"error":{"message":"openai shape"}}`, "openai shape", ""},
		{`not json`, "", ""},
		{`{"type":"error"}`, "", ""},
	} {
		msg, typ := a.ErrorMessage([]byte(tc.in))
		if msg != tc.msg || typ != tc.typ {
			t.Errorf("%s: (%q, %q), want (%q, %q)", tc.in, msg, typ, tc.msg, tc.typ)
		}
	}
	if a.RetryAfter([]byte(`{}`)) != "" {
		t.Error("RetryAfter from an Anthropic body")
	}
}

func TestSetAuthAndPath(t *testing.T) {
	t.Parallel()
	var h fasthttp.RequestHeader
	Adapter{}.SetAuth(&h, "sk-ant-key")
	if string(h.Peek("x-api-key")) != "sk-ant-key" || string(h.Peek("anthropic-version")) != "2023-06-01" ||
		string(h.ContentType()) != "application/json" || len(h.Peek("Authorization")) != 0 {
		t.Errorf("headers:\n%s", h.String())
	}
	Adapter{Version: "2099-01-01"}.SetAuth(&h, "k")
	if string(h.Peek("anthropic-version")) != "2099-01-01" {
		t.Errorf("Version not used")
	}
	if p := (Adapter{}).Path("claude-x", true); p != "/v1/messages" {
		t.Errorf("Path = %q", p)
	}
}

// checkNative: the usage record gets the message id and the stop_reason, as Anthropic sent them.
func checkNative(t *testing.T, in string, n providers.Native) {
	t.Helper()
	var m struct {
		ID         string `json:"id"`
		StopReason string `json:"stop_reason"`
	}
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	if n.ID != m.ID || n.FinishReason != m.StopReason || n.ID == "" {
		t.Errorf("native = %+v, want id %q and finish reason %q", n, m.ID, m.StopReason)
	}
}
