package mockllm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestChatNonStreamShape(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{ReasoningTokens: 7, CachedTokens: 1000})
	c := newClient(t)

	sys := "You are terse."                      // 14 bytes -> 4 tokens
	parts := []string{"Describe ", "this image"} // 19 bytes -> 5 tokens
	body := `{"model":"gpt-4o-mini","temperature":0.2,"tools":[],"messages":[` +
		`{"role":"system","content":"` + sys + `"},` +
		`{"role":"user","content":[{"type":"text","text":"` + parts[0] + `"},` +
		`{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"text","text":"` + parts[1] + `"}]}]}`
	before := time.Now().Unix()
	resp := do(t, c, "POST", base+"/chat/completions", body)
	raw := readAll(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	var out oaCompletion
	strictDecode(t, raw, &out)

	if !strings.HasPrefix(out.ID, "chatcmpl-") || len(out.ID) < 20 {
		t.Errorf("id = %q", out.ID)
	}
	if out.Object != "chat.completion" || out.Model != "gpt-4o-mini" || out.ServiceTier != "default" ||
		out.SystemFingerprint != "fp_mock" {
		t.Errorf("envelope = %+v", out)
	}
	if out.Created < before || out.Created > time.Now().Unix() {
		t.Errorf("created = %d", out.Created)
	}
	if len(out.Choices) != 1 {
		t.Fatalf("choices = %d", len(out.Choices))
	}
	ch := out.Choices[0]
	if ch.Index != 0 || ch.Message.Role != "assistant" || ch.Message.Refusal != nil || ch.Logprobs != nil ||
		ch.Message.Annotations == nil || len(ch.Message.Annotations) != 0 || ch.FinishReason != "stop" {
		t.Errorf("choice = %+v", ch)
	}
	if n := len(strings.Fields(ch.Message.Content)); n != DefaultTokens {
		t.Errorf("content has %d words, want %d: %q", n, DefaultTokens, ch.Message.Content)
	}

	wantPrompt := 3 + (4 + 4) + (4 + 5)
	u := out.Usage
	if u.PromptTokens != wantPrompt || u.CompletionTokens != DefaultTokens+7 || u.TotalTokens != wantPrompt+DefaultTokens+7 ||
		u.PromptTokensDetails.CachedTokens != wantPrompt || u.CompletionTokensDetails.ReasoningTokens != 7 {
		t.Errorf("usage = %+v, want prompt %d", u, wantPrompt)
	}

	// Byte-exact shape, field order included.
	content, _ := json.Marshal(ch.Message.Content)
	want := fmt.Sprintf(`{"id":"%s","object":"chat.completion","created":%d,"model":"gpt-4o-mini","choices":[{"index":0,`+
		`"message":{"role":"assistant","content":%s,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":%d,"completion_tokens":23,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":%d,"audio_tokens":0},`+
		`"completion_tokens_details":{"reasoning_tokens":7,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},`+
		`"service_tier":"default","system_fingerprint":"fp_mock"}`,
		out.ID, out.Created, content, wantPrompt, wantPrompt+23, wantPrompt)
	if string(raw) != want {
		t.Errorf("body\n got %s\nwant %s", raw, want)
	}
}

func TestChatDeterministicAndLength(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Tokens: 12})
	c := newClient(t)

	a, _ := complete(t, c, base, chatBody("gpt-4o", "hello there", ""))
	b, _ := complete(t, c, base, chatBody("gpt-4o", "hello there", ""))
	if a.Choices[0].Message.Content != b.Choices[0].Message.Content {
		t.Errorf("same request, different content:\n%q\n%q", a.Choices[0].Message.Content, b.Choices[0].Message.Content)
	}
	if a.ID == b.ID {
		t.Errorf("ids not unique: %s", a.ID)
	}
	other, _ := complete(t, c, base, chatBody("gpt-4o", "something else", ""))
	if other.Choices[0].Message.Content == a.Choices[0].Message.Content {
		t.Errorf("different prompts gave identical content %q", a.Choices[0].Message.Content)
	}

	for _, capField := range []string{`"max_tokens":5`, `"max_completion_tokens":5`, `"max_tokens":9,"max_completion_tokens":5`} {
		capped, _ := complete(t, c, base, chatBody("gpt-4o", "hello there", capField))
		ch := capped.Choices[0]
		if ch.FinishReason != "length" || capped.Usage.CompletionTokens != 5 || len(strings.Fields(ch.Message.Content)) != 5 {
			t.Errorf("%s: finish %q, usage %+v, content %q", capField, ch.FinishReason, capped.Usage, ch.Message.Content)
		}
		if !strings.HasPrefix(a.Choices[0].Message.Content, ch.Message.Content) {
			t.Errorf("capped content %q is not a prefix of %q", ch.Message.Content, a.Choices[0].Message.Content)
		}
	}
	// A cap at or above the length is not a truncation.
	full, _ := complete(t, c, base, chatBody("gpt-4o", "hello there", `"max_tokens":12`))
	if full.Choices[0].FinishReason != "stop" {
		t.Errorf("max_tokens == tokens: finish %q", full.Choices[0].FinishReason)
	}
}

func TestChatReply(t *testing.T) {
	t.Parallel()
	reply := "Héllo,  \"world\" <ok>\n\tsecond line\u2028 end "
	_, base := startMock(t, Behavior{Reply: reply})
	c := newClient(t)
	out, _ := complete(t, c, base, chatBody("m", "x", ""))
	if got := out.Choices[0].Message.Content; got != reply {
		t.Errorf("content = %q, want %q", got, reply)
	}
	if want := len(strings.Fields(reply)); out.Usage.CompletionTokens != want {
		t.Errorf("completion_tokens = %d, want %d", out.Usage.CompletionTokens, want)
	}
	var streamed strings.Builder
	for _, ev := range streamChat(t, c, base, chatBody("m", "x", `"stream":true`)) {
		var ch oaChunk
		if ev != "[DONE]" {
			strictDecode(t, []byte(ev), &ch)
		}
		if len(ch.Choices) == 1 && ch.Choices[0].Delta.Content != nil {
			streamed.WriteString(*ch.Choices[0].Delta.Content)
		}
	}
	if streamed.String() != reply {
		t.Errorf("streamed %q, want %q", streamed.String(), reply)
	}
	capped, _ := complete(t, c, base, chatBody("m", "x", `"max_tokens":2`))
	if got := capped.Choices[0].Message.Content; got != `Héllo,  "world"` || capped.Choices[0].FinishReason != "length" {
		t.Errorf("capped = %q, %q", got, capped.Choices[0].FinishReason)
	}
}

// streamChat posts a streaming request and returns the parsed events.
func streamChat(t *testing.T, c *http.Client, base, body string) []string {
	t.Helper()
	resp := do(t, c, "POST", base+"/chat/completions", body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
	}
	if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "text/event-stream" || cc != "no-cache" {
		t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
	}
	events, err := readStream(t, resp)
	if err != nil {
		t.Fatalf("stream ended with %v after %d events", err, len(events))
	}
	return events
}

func TestChatStream(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Tokens: 5, ReasoningTokens: 2, CachedTokens: 3})
	c := newClient(t)
	nonStream, _ := complete(t, c, base, chatBody("gpt-4o-mini", "stream me", ""))

	for _, includeUsage := range []bool{false, true} {
		t.Run(fmt.Sprint("include_usage=", includeUsage), func(t *testing.T) {
			extra := `"stream":true`
			if includeUsage {
				extra += `,"stream_options":{"include_usage":true}`
			}
			events := streamChat(t, c, base, chatBody("gpt-4o-mini", "stream me", extra))
			wantEvents := 1 + 5 + 1 + 1 // role, content, finish, [DONE]
			if includeUsage {
				wantEvents++
			}
			if len(events) != wantEvents {
				t.Fatalf("got %d events, want %d: %q", len(events), wantEvents, events)
			}
			if events[len(events)-1] != "[DONE]" {
				t.Errorf("last event = %q", events[len(events)-1])
			}
			var text strings.Builder
			var id string
			for i, ev := range events[:len(events)-1] {
				if includeUsage != strings.Contains(ev, `"usage":`) {
					t.Errorf("event %d usage key presence wrong: %s", i, ev)
				}
				var ch oaChunk
				strictDecode(t, []byte(ev), &ch)
				if i == 0 {
					id = ch.ID
				}
				if ch.ID != id || ch.Object != "chat.completion.chunk" || ch.Model != "gpt-4o-mini" ||
					ch.ServiceTier != "default" || ch.SystemFingerprint != "fp_mock" || ch.Created == 0 {
					t.Errorf("event %d envelope: %s", i, ev)
				}
				isUsage := includeUsage && i == len(events)-2
				if isUsage {
					if len(ch.Choices) != 0 || ch.Usage == nil || !strings.Contains(ev, `"choices":[]`) {
						t.Fatalf("usage chunk = %s", ev)
					}
					u := *ch.Usage
					if u != nonStream.Usage {
						t.Errorf("stream usage %+v != non-stream %+v", u, nonStream.Usage)
					}
					continue
				}
				if ch.Usage != nil || len(ch.Choices) != 1 || ch.Choices[0].Logprobs != nil {
					t.Fatalf("event %d: %s", i, ev)
				}
				d := ch.Choices[0]
				switch {
				case i == 0:
					want := `"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null`
					if !strings.Contains(ev, want) {
						t.Errorf("first chunk = %s", ev)
					}
				case i <= 5:
					if d.Delta.Content == nil || d.Delta.Role != nil || d.FinishReason != nil || !strings.Contains(ev, `"finish_reason":null`) {
						t.Errorf("content chunk %d = %s", i, ev)
					} else {
						text.WriteString(*d.Delta.Content)
					}
				default:
					if !strings.Contains(ev, `"delta":{}`) || d.FinishReason == nil || *d.FinishReason != "stop" {
						t.Errorf("finish chunk = %s", ev)
					}
				}
			}
			if text.String() != nonStream.Choices[0].Message.Content {
				t.Errorf("streamed %q, non-stream %q", text.String(), nonStream.Choices[0].Message.Content)
			}
		})
	}

	// max_tokens: the finish chunk says "length".
	events := streamChat(t, c, base, chatBody("gpt-4o-mini", "stream me", `"stream":true,"max_tokens":2`))
	if len(events) != 1+2+1+1 || !strings.Contains(events[3], `"finish_reason":"length"`) {
		t.Errorf("capped stream = %q", events)
	}
}

// TestChatStreamNotBuffered checks each event leaves when produced: the first
// token must arrive long before the stream could have been completed.
func TestChatStreamNotBuffered(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	_, base := startMock(t, Behavior{Tokens: 5, EventDelay: Duration(delay)})
	c := newClient(t)
	start := time.Now()
	resp := do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", `"stream":true`))
	defer resp.Body.Close()
	r := newSSE(resp.Body)
	var arrivals []time.Duration
	for {
		ev, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(ev, `"content":"`) && !strings.Contains(ev, `"role"`) {
			arrivals = append(arrivals, time.Since(start))
		}
	}
	total := time.Since(start)
	if len(arrivals) != 5 {
		t.Fatalf("got %d content events", len(arrivals))
	}
	if total < 5*delay {
		t.Errorf("stream took %v, want at least %v", total, 5*delay)
	}
	// The first token comes one delay in, the stream ends five delays in.
	if arrivals[0] > total/2 {
		t.Errorf("first content event at %v of a %v stream: events are being buffered", arrivals[0], total)
	}
	for i := 1; i < len(arrivals); i++ {
		if gap := arrivals[i] - arrivals[i-1]; gap < delay/2 {
			t.Errorf("events %d and %d arrived %v apart, want about %v", i-1, i, gap, delay)
		}
	}
}

func TestChatValidation(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{})
	c := newClient(t)
	cases := []struct {
		name, body, param string
	}{
		{"malformed json", `{"model":`, ""},
		{"empty body", ``, ""},
		{"missing model", `{"messages":[{"role":"user","content":"hi"}]}`, ""},
		{"missing messages", `{"model":"m"}`, "messages"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages"},
		{"missing role", `{"model":"m","messages":[{"content":"hi"}]}`, "messages[0].role"},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, "messages[0].role"},
		{"bad content type", `{"model":"m","messages":[{"role":"user","content":42}]}`, "messages.content"},
		{"bad stream type", `{"model":"m","stream":"yes","messages":[{"role":"user","content":"hi"}]}`, "stream"},
		{"max_tokens zero", chatBody("m", "hi", `"max_tokens":0`), "max_tokens"},
		{"stream_options without stream", chatBody("m", "hi", `"stream_options":{"include_usage":true}`), "stream_options"},
		{"bad mock", chatBody("m", "hi", `"mock":{"fault":"explode"}`), "mock"},
		{"unknown mock field", chatBody("m", "hi", `"mock":{"tokenz":3}`), "mock"},
	}
	for _, tc := range cases {
		e := expectError(t, do(t, c, "POST", base+"/chat/completions", tc.body), 400, "invalid_request_error")
		gotParam := ""
		if e.Error.Param != nil {
			gotParam = *e.Error.Param
		}
		if gotParam != tc.param {
			t.Errorf("%s: param = %q, want %q (%s)", tc.name, gotParam, tc.param, e.Error.Message)
		}
	}
	e := expectError(t, do(t, c, "POST", base+"/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`), 400, "invalid_request_error")
	if e.Error.Message != "you must provide a model parameter" || e.Error.Param != nil || e.Error.Code != nil {
		t.Errorf("missing model error = %+v", e.Error)
	}
	// Content may be null (assistant tool calls) and unknown fields are ignored.
	complete(t, c, base, `{"model":"m","user":"u","n":1,"messages":[{"role":"assistant","content":null,"tool_calls":[]},{"role":"user","content":"hi"}]}`)
}

func TestRouting(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{})
	c := newClient(t)
	root := strings.TrimSuffix(base, "/v1")

	expectError(t, do(t, c, "POST", base+"/completions", "{}"), 404, "invalid_request_error")
	expectError(t, do(t, c, "GET", root+"/", ""), 404, "invalid_request_error")
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "/v1/chat/completions", "POST"},
		{"POST", "/v1/models", "GET"},
		{"DELETE", "/_mock/behavior", "GET, PUT"},
		{"POST", "/_mock/stats", "GET"},
	} {
		resp := do(t, c, tc.method, root+tc.path, "{}")
		if got := resp.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, got, tc.allow)
		}
		expectError(t, resp, 405, "invalid_request_error")
	}

	resp := do(t, c, "GET", base+"/models", "")
	raw := readAll(t, resp)
	var models struct {
		Object string `json:"object"`
		Data   []struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		} `json:"data"`
	}
	strictDecode(t, raw, &models)
	if resp.StatusCode != 200 || models.Object != "list" || len(models.Data) < 2 {
		t.Fatalf("models = %d %s", resp.StatusCode, raw)
	}
	for _, m := range models.Data {
		if m.ID == "" || m.Object != "model" || m.Created == 0 || m.OwnedBy != "mockllm" {
			t.Errorf("model entry = %+v", m)
		}
	}
}

func TestAPIKey(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{APIKey: "sk-test"})
	c := newClient(t)
	body := chatBody("m", "hi", "")

	e := expectError(t, do(t, c, "POST", base+"/chat/completions", body), 401, "invalid_request_error")
	if e.Error.Code != nil {
		t.Errorf("missing key: code = %q", *e.Error.Code)
	}
	e = expectError(t, do(t, c, "POST", base+"/chat/completions", body, "Authorization", "Bearer sk-wrong"), 401, "invalid_request_error")
	if e.Error.Code == nil || *e.Error.Code != "invalid_api_key" {
		t.Errorf("wrong key: %+v", e.Error)
	}
	// Authentication precedes body validation.
	expectError(t, do(t, c, "POST", base+"/chat/completions", "not json"), 401, "invalid_request_error")
	expectError(t, do(t, c, "GET", base+"/models", ""), 401, "invalid_request_error")

	resp := do(t, c, "POST", base+"/chat/completions", body, "Authorization", "Bearer sk-test")
	if raw := readAll(t, resp); resp.StatusCode != 200 {
		t.Errorf("right key: %d %s", resp.StatusCode, raw)
	}
	resp = do(t, c, "GET", base+"/models", "", "Authorization", "Bearer sk-test")
	if raw := readAll(t, resp); resp.StatusCode != 200 {
		t.Errorf("models with key: %d %s", resp.StatusCode, raw)
	}
}
