package gemini

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

const usageZero = `"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}`

func TestTranslateResponse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
		usage          catalog.Usage
	}{
		{
			name: "text with thoughts and implicit cache",
			in: `{"candidates":[{"content":{"parts":[{"text":"**Thinking about cats**\nThe user wants...","thought":true},
				{"text":"Cats are curious.","thoughtSignature":"CiQB0e2Kb..."}],"role":"model"},"finishReason":"STOP","index":0}],
				"usageMetadata":{"promptTokenCount":2100,"candidatesTokenCount":4,"totalTokenCount":2190,"cachedContentTokenCount":2048,
				"promptTokensDetails":[{"modality":"TEXT","tokenCount":2100}],"thoughtsTokenCount":86},
				"modelVersion":"gemini-2.5-flash","responseId":"AdVRaMmDCYekqtsPrb_-iAw"}`,
			want: `{"id":"AdVRaMmDCYekqtsPrb_-iAw","object":"chat.completion","created":1750000000,"model":"google/gemini-2.5-flash",
				"choices":[{"index":0,"message":{"role":"assistant","content":"Cats are curious.","reasoning":"**Thinking about cats**\nThe user wants..."},
				"finish_reason":"stop"}],"usage":{"prompt_tokens":2100,"completion_tokens":90,"total_tokens":2190,
				"prompt_tokens_details":{"cached_tokens":2048,"cache_write_tokens":0},"completion_tokens_details":{"reasoning_tokens":86}}}`,
			usage: catalog.Usage{Prompt: 2100, Completion: 90, Reasoning: 86, Cached: 2048},
		},
		{
			name: "parallel function calls",
			in: `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"power_disco_ball","args":{"power":true}}},
				{"functionCall":{"name":"dim_lights","args":{"brightness":0.5}}},{"functionCall":{"id":"fc-1","name":"now"}}],"role":"model"},
				"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":20,"totalTokenCount":70},"responseId":"r1"}`,
			want: `{"id":"r1","object":"chat.completion","created":1750000000,"model":"google/gemini-2.5-flash",
				"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
				{"id":"call_r1_0","type":"function","function":{"name":"power_disco_ball","arguments":"{\"power\":true}"}},
				{"id":"call_r1_1","type":"function","function":{"name":"dim_lights","arguments":"{\"brightness\":0.5}"}},
				{"id":"fc-1","type":"function","function":{"name":"now","arguments":"{}"}}]},"finish_reason":"tool_calls"}],
				"usage":{"prompt_tokens":50,"completion_tokens":20,"total_tokens":70,` + usageZero + `,"completion_tokens_details":{"reasoning_tokens":0}}}`,
			usage: catalog.Usage{Prompt: 50, Completion: 20},
		},
		{
			name: "max tokens, tool-use prompt tokens",
			in: `{"candidates":[{"content":{"parts":[{"text":"Once upon"}],"role":"model"},"finishReason":"MAX_TOKENS"}],
				"usageMetadata":{"promptTokenCount":10,"toolUsePromptTokenCount":5,"candidatesTokenCount":2},"responseId":"r2"}`,
			want: `{"id":"r2","object":"chat.completion","created":1750000000,"model":"google/gemini-2.5-flash",
				"choices":[{"index":0,"message":{"role":"assistant","content":"Once upon"},"finish_reason":"length"}],
				"usage":{"prompt_tokens":15,"completion_tokens":2,"total_tokens":17,` + usageZero + `,"completion_tokens_details":{"reasoning_tokens":0}}}`,
			usage: catalog.Usage{Prompt: 15, Completion: 2},
		},
		{
			name: "safety stop without content",
			in: `{"candidates":[{"finishReason":"SAFETY","index":0,"safetyRatings":[{"category":"HARM_CATEGORY_HARASSMENT","probability":"HIGH"}]}],
				"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"responseId":"r3"}`,
			want: `{"id":"r3","object":"chat.completion","created":1750000000,"model":"google/gemini-2.5-flash",
				"choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}],
				"usage":{"prompt_tokens":8,"completion_tokens":0,"total_tokens":8,` + usageZero + `,"completion_tokens_details":{"reasoning_tokens":0}}}`,
			usage: catalog.Usage{Prompt: 8},
		},
		{
			name: "prompt blocked",
			in:   `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8}}`,
			want: `{"id":"gen-1750000000","object":"chat.completion","created":1750000000,"model":"google/gemini-2.5-flash",
				"choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}],
				"usage":{"prompt_tokens":8,"completion_tokens":0,"total_tokens":8,` + usageZero + `,"completion_tokens_details":{"reasoning_tokens":0}}}`,
			usage: catalog.Usage{Prompt: 8},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var u catalog.Usage
			var n providers.Native
			out, err := fixedNow.TranslateResponse([]byte("keep:"), []byte(tc.in), "google/gemini-2.5-flash", &u, &n)
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
	for _, tc := range []struct {
		in    string
		calls bool
		want  string
	}{
		{"STOP", false, "stop"}, {"STOP", true, "tool_calls"}, {"MAX_TOKENS", true, "length"}, {"SAFETY", false, "content_filter"},
		{"RECITATION", false, "content_filter"}, {"BLOCKLIST", false, "content_filter"}, {"PROHIBITED_CONTENT", false, "content_filter"},
		{"SPII", false, "content_filter"}, {"MALFORMED_FUNCTION_CALL", false, "error"}, {"OTHER", false, "stop"}, {"LANGUAGE", false, "stop"},
	} {
		if got := finishReason(tc.in, tc.calls); got != tc.want {
			t.Errorf("finishReason(%q, %v) = %q, want %q", tc.in, tc.calls, got, tc.want)
		}
	}
}

func TestTranslateResponseErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `{"candidates":`, `[]`, `{}`, `{"candidates":[]}`, `{"candidates":"x"}`} {
		var u catalog.Usage
		if _, err := (Adapter{}).TranslateResponse(nil, []byte(in), "m", &u, nil); !errors.Is(err, providers.ErrMalformed) {
			t.Errorf("%q: err = %v, want ErrMalformed", in, err)
		}
	}
	var u catalog.Usage
	_, err := Adapter{}.TranslateResponse(nil, []byte(`{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`), "m", &u, nil)
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Type != "UNAVAILABLE" || ue.Message != "The model is overloaded." {
		t.Errorf("error body: err = %v", err)
	}
}

const quotaError = `{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests"}]},
      {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "43.5s"}
    ]
  }
}`

func TestErrorMessageAndRetryAfter(t *testing.T) {
	t.Parallel()
	a := Adapter{}
	for _, tc := range []struct{ in, msg, typ, retry string }{
		{quotaError, "You exceeded your current quota, please check your plan and billing details.", "RESOURCE_EXHAUSTED", "44"},
		{`[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}]`,
			"API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", ""},
		{`{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`,
			"m", "RESOURCE_EXHAUSTED", "7"},
		{`{"error":{"code":429,"message":"m","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"soon"}]}}`, "m", "", ""},
		{`{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[` +
			`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`,
			"API key not valid. Please pass a valid API key.", "API_KEY_INVALID", ""},
		{`not json`, "", "", ""},
		{`{"candidates":[]}`, "", "", ""},
	} {
		msg, typ := a.ErrorMessage([]byte(tc.in))
		if msg != tc.msg || typ != tc.typ {
			t.Errorf("%s: (%q, %q), want (%q, %q)", tc.in, msg, typ, tc.msg, tc.typ)
		}
		if got := a.RetryAfter([]byte(tc.in)); got != tc.retry {
			t.Errorf("%s: RetryAfter %q, want %q", tc.in, got, tc.retry)
		}
	}
}

func TestSetAuth(t *testing.T) {
	t.Parallel()
	var h fasthttp.RequestHeader
	Adapter{}.SetAuth(&h, "AIza-key")
	if string(h.Peek("x-goog-api-key")) != "AIza-key" || string(h.ContentType()) != "application/json" || len(h.Peek("Authorization")) != 0 {
		t.Errorf("headers:\n%s", h.String())
	}
}

// checkNative: the usage record gets the responseId (none when Gemini sent none: the answer's
// "gen-…" id is made up) and the finishReason, or the blockReason of a blocked prompt.
func checkNative(t *testing.T, in string, n providers.Native) {
	t.Helper()
	var r struct {
		ResponseID string `json:"responseId"`
		Candidates []struct {
			FinishReason string `json:"finishReason"`
		} `json:"candidates"`
		PromptFeedback struct {
			BlockReason string `json:"blockReason"`
		} `json:"promptFeedback"`
	}
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	want := r.PromptFeedback.BlockReason
	if len(r.Candidates) > 0 {
		want = r.Candidates[0].FinishReason
	}
	if n.ID != r.ResponseID || n.FinishReason != want || want == "" {
		t.Errorf("native = %+v, want id %q and finish reason %q", n, r.ResponseID, want)
	}
}
