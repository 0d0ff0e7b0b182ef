package gemini

import (
	"errors"
	"testing"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/providers"
	"github.com/arouter/arouter/providers/internal/oaitest"
)

// Streams shaped like streamGenerateContent?alt=sse output: CRLF-framed data-only events, each
// a GenerateContentResponse with cumulative usage, the last with a finishReason.
const (
	textStream = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"**Planning**\\nGreet in several languages.\",\"thought\": true}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 5,\"totalTokenCount\": 191,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 5}],\"thoughtsTokenCount\": 186},\"modelVersion\": \"models/gemini-2.5-flash\",\"responseId\": \"AdVRaMmDCYekqtsPrb_-iAw\"}\r\n\r\n" +
		"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Here you go!\\n\\n1.  **English:** Hi\\n\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 5,\"candidatesTokenCount\": 39,\"totalTokenCount\": 230,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 5}],\"thoughtsTokenCount\": 186},\"modelVersion\": \"models/gemini-2.5-flash\",\"responseId\": \"AdVRaMmDCYekqtsPrb_-iAw\"}\r\n\r\n" +
		"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"2.  **Italian:** Ciao\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 5,\"candidatesTokenCount\": 44,\"totalTokenCount\": 235,\"cachedContentTokenCount\": 2,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 5}],\"thoughtsTokenCount\": 186},\"modelVersion\": \"models/gemini-2.5-flash\",\"responseId\": \"AdVRaMmDCYekqtsPrb_-iAw\"}\r\n\r\n"
	toolStream = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Checking.\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 30,\"candidatesTokenCount\": 2,\"totalTokenCount\": 32},\"responseId\": \"r9\"}\r\n\r\n" +
		"data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"get_weather\",\"args\": {\"location\": \"Paris\"}}},{\"functionCall\": {\"name\": \"get_time\",\"args\": {}}}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 30,\"candidatesTokenCount\": 20,\"totalTokenCount\": 50},\"responseId\": \"r9\"}\r\n\r\n"
)

func feed(t *testing.T, s *Stream, text string) ([]byte, error) {
	t.Helper()
	var out []byte
	for _, ev := range oaitest.Split([]byte(text)) {
		name, data := providers.SplitEvent(ev)
		var err error
		if out, err = s.Event(out, name, data); err != nil {
			return out, err
		}
	}
	return out, nil
}

func TestStream(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     oaitest.Summary
		usage    catalog.Usage
	}{
		{"text with thoughts", textStream, oaitest.Summary{Role: "assistant", Content: "Here you go!\n\n1.  **English:** Hi\n2.  **Italian:** Ciao",
			Reasoning: "**Planning**\nGreet in several languages.", Finish: "stop"},
			catalog.Usage{Prompt: 5, Completion: 44 + 186, Reasoning: 186, Cached: 2}},
		{"function calls", toolStream, oaitest.Summary{Role: "assistant", Content: "Checking.", Finish: "tool_calls",
			Tools: []oaitest.Tool{{ID: "call_gen-1_0", Name: "get_weather", Args: `{"location":"Paris"}`}, {ID: "call_gen-1_1", Name: "get_time", Args: "{}"}}},
			catalog.Usage{Prompt: 30, Completion: 20}},
		{"prompt blocked", `data: {"promptFeedback": {"blockReason": "SAFETY"},"usageMetadata": {"promptTokenCount": 9}}` + "\r\n\r\n",
			oaitest.Summary{Role: "assistant", Finish: "content_filter"}, catalog.Usage{Prompt: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStream("google/gemini-2.5-flash", "gen-1", 1750000000)
			out, err := feed(t, s, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			cs := oaitest.Frames(t, out)
			for _, c := range cs {
				if c.ID != "gen-1" || c.Model != "google/gemini-2.5-flash" || c.Created != 1750000000 {
					t.Fatalf("frame envelope %+v", c)
				}
			}
			got := oaitest.Summarize(t, cs)
			if got.Role != tc.want.Role || got.Content != tc.want.Content || got.Reasoning != tc.want.Reasoning ||
				got.Finish != tc.want.Finish || got.AfterFinish != 0 || len(got.Tools) != len(tc.want.Tools) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			for i := range tc.want.Tools {
				if i < len(got.Tools) && got.Tools[i] != tc.want.Tools[i] {
					t.Errorf("tool %d = %+v, want %+v", i, got.Tools[i], tc.want.Tools[i])
				}
			}
			if !s.Finished() {
				t.Error("not finished")
			}
			if u := s.Usage(); u != tc.usage {
				t.Errorf("usage = %+v, want %+v", u, tc.usage)
			}
		})
	}
}

func TestStreamFramesExact(t *testing.T) {
	t.Parallel()
	s := NewStream("m", "id", 7)
	out, err := feed(t, s, toolStream)
	if err != nil {
		t.Fatal(err)
	}
	const p = `data: {"id":"id","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":`
	want := p + `{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n" +
		p + `{"content":"Checking."},"finish_reason":null}]}` + "\n\n" +
		p + `{"tool_calls":[{"index":0,"id":"call_id_0","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},"finish_reason":null}]}` + "\n\n" +
		p + `{"tool_calls":[{"index":1,"id":"call_id_1","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]}` + "\n\n" +
		p + `{},"finish_reason":"tool_calls"}]}` + "\n\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if n := s.Native(); n != (providers.Native{ID: "r9", FinishReason: "STOP"}) {
		t.Errorf("native = %+v", n)
	}
	s.Reset("m", "id", 8)
	if n := s.Native(); n != (providers.Native{}) {
		t.Errorf("native after Reset = %+v", n)
	}
}

func TestStreamIncompleteAndAfterFinish(t *testing.T) {
	t.Parallel()
	evs := oaitest.Split([]byte(textStream))
	s := NewStream("m", "id", 1)
	var out []byte
	for _, ev := range evs[:2] {
		_, data := providers.SplitEvent(ev)
		out, _ = s.Event(out, nil, data)
	}
	if s.Finished() {
		t.Error("finished without a finishReason")
	}
	if u := s.Usage(); u.Completion != 39+186 {
		t.Errorf("usage so far = %+v", u)
	}
	_, data := providers.SplitEvent(evs[2])
	out, _ = s.Event(out, nil, data)
	// A usage-only event after the finish updates the usage and writes nothing.
	n := len(out)
	out, err := s.Event(out, nil, []byte(`{"candidates":[{"content":{"parts":[{"text":"late"}]}}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":50}}`))
	if err != nil || len(out) != n {
		t.Errorf("after finish: %v %s", err, out[n:])
	}
	if u := s.Usage(); u.Completion != 50 {
		t.Errorf("late usage ignored: %+v", u)
	}
}

func TestStreamError(t *testing.T) {
	t.Parallel()
	s := NewStream("m", "id", 1)
	out, err := feed(t, s, toolStream[:len(toolStream)/3]+"\r\n\r\n"+
		"data: {\"error\": {\"code\": 503, \"message\": \"The model is overloaded. Please try again later.\", \"status\": \"UNAVAILABLE\"}}\r\n\r\n")
	if !errors.Is(err, providers.ErrMalformed) {
		t.Fatalf("cut event: err = %v", err)
	}
	_ = out
	s = NewStream("m", "id", 1)
	out, err = s.Event(nil, nil, []byte(`{"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}`))
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Type != "UNAVAILABLE" || ue.Message != "The model is overloaded. Please try again later." || len(out) != 0 {
		t.Fatalf("err = %v, out %q", err, out)
	}
	for _, bad := range []string{`{"candidates":`, `[1]`, `{"candidates":[{"content":{"parts":[{"text":1}]}}]}`} {
		if _, err := s.Event(nil, nil, []byte(bad)); !errors.Is(err, providers.ErrMalformed) {
			t.Errorf("%q: err = %v, want ErrMalformed", bad, err)
		}
	}
}
