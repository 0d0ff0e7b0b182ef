package anthropic

import (
	"errors"
	"strings"
	"testing"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/providers"
	"github.com/arouter/arouter/providers/internal/oaitest"
)

// Streams shaped like the examples in Anthropic's streaming documentation.
const (
	textStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-6","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":2048,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!\n\"quoted\""}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}

event: message_stop
data: {"type":"message_stop"}

`
	toolStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-6","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, let's check the weather:"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"San Francisco, CA\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_02","name":"get_time","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

`
	thinkingStream = `event: message_start
data: {"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-6", "stop_reason": null, "stop_sequence": null}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me solve this step by step:\n\n1. First break down 27 * 453"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "\n2. 453 = 400 + 50 + 3"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: content_block_start
data: {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "27 * 453 = 12,231"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 1}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": null}, "usage": {"input_tokens": 40, "cache_creation_input_tokens": 10, "output_tokens": 900}}

event: message_stop
data: {"type": "message_stop"}

`
)

// feed runs a whole SSE text through a Stream the way the proxy would: split on blank lines,
// parse each event, translate it.
func feed(t *testing.T, s *Stream, text string) ([]byte, error) {
	t.Helper()
	var out []byte
	for _, ev := range strings.SplitAfter(text, "\n\n") {
		name, data := providers.SplitEvent([]byte(ev))
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
		{"text", textStream, oaitest.Summary{Role: "assistant", Content: "Hello!\n\"quoted\"", Finish: "stop"},
			catalog.Usage{Prompt: 25 + 2048, Completion: 15, Cached: 2048}},
		{"tool use", toolStream, oaitest.Summary{Role: "assistant", Content: "Okay, let's check the weather:", Finish: "tool_calls",
			Tools: []oaitest.Tool{{ID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", Name: "get_weather", Args: `{"location": "San Francisco, CA"}`}, {ID: "toolu_02", Name: "get_time", Args: "{}"}}},
			catalog.Usage{Prompt: 472, Completion: 89}},
		{"thinking", thinkingStream, oaitest.Summary{Role: "assistant", Content: "27 * 453 = 12,231", Finish: "length",
			Reasoning: "Let me solve this step by step:\n\n1. First break down 27 * 453\n2. 453 = 400 + 50 + 3"},
			catalog.Usage{Prompt: 50, Completion: 900, CacheWrite: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStream("anthropic/claude-sonnet-4-6", "gen-123", 1750000000)
			out, err := feed(t, s, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			cs := oaitest.Frames(t, out)
			for _, c := range cs {
				if c.ID != "gen-123" || c.Model != "anthropic/claude-sonnet-4-6" || c.Created != 1750000000 {
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
				t.Error("not finished after message_stop")
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
	out, err := feed(t, s, textStream)
	if err != nil {
		t.Fatal(err)
	}
	const p = `data: {"id":"id","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":`
	want := p + `{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n" +
		p + `{"content":"Hello"},"finish_reason":null}]}` + "\n\n" +
		p + `{"content":"!\n\"quoted\""},"finish_reason":null}]}` + "\n\n" +
		p + `{},"finish_reason":"stop"}]}` + "\n\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if n := s.Native(); n != (providers.Native{ID: "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", FinishReason: "end_turn"}) {
		t.Errorf("native = %+v", n)
	}
	s.Reset("m", "id", 8)
	if n := s.Native(); n != (providers.Native{}) {
		t.Errorf("native after Reset = %+v", n)
	}
}

func TestStreamIncomplete(t *testing.T) {
	t.Parallel()
	s := NewStream("m", "id", 1)
	cut := textStream[:strings.Index(textStream, "event: message_delta")]
	out, err := feed(t, s, cut)
	if err != nil {
		t.Fatal(err)
	}
	if s.Finished() {
		t.Error("finished without message_stop")
	}
	if got := oaitest.Summarize(t, oaitest.Frames(t, out)); got.Finish != "" || got.Content != "Hello!\n\"quoted\"" {
		t.Errorf("summary %+v", got)
	}
	if u := s.Usage(); u.Completion != 1 || u.Prompt != 2073 {
		t.Errorf("usage before message_delta = %+v", u)
	}
	// message_stop without message_delta still closes the answer.
	out, _ = s.Event(nil, []byte("message_stop"), []byte(`{"type":"message_stop"}`))
	if got := oaitest.Summarize(t, oaitest.Frames(t, out)); got.Finish != "stop" || !s.Finished() {
		t.Errorf("message_stop alone: %+v", got)
	}
	// Nothing after the end.
	if out, _ := s.Event(nil, nil, []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"late"}}`)); len(out) != 0 {
		t.Errorf("frame after message_stop: %s", out)
	}
}

func TestStreamError(t *testing.T) {
	t.Parallel()
	s := NewStream("m", "id", 1)
	head := textStream[:strings.Index(textStream, "event: content_block_stop")]
	out, err := feed(t, s, head+"event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n")
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Type != "overloaded_error" || ue.Message != "Overloaded" {
		t.Fatalf("err = %v", err)
	}
	if len(oaitest.Frames(t, out)) != 3 {
		t.Errorf("frames before the error lost: %s", out)
	}
	if s.Finished() {
		t.Error("finished after an error")
	}
	// An error event named only by its SSE event line, without a message.
	_, err = s.Event(nil, []byte("error"), []byte(`{}`))
	if !errors.As(err, &ue) || ue.Message == "" {
		t.Errorf("bare error event: %v", err)
	}
	for _, bad := range []string{`{"type":`, `[1]`, `{"type":"content_block_delta","index":"0"}`, `nope`} {
		if _, err := s.Event(nil, nil, []byte(bad)); !errors.Is(err, providers.ErrMalformed) {
			t.Errorf("%q: err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestStreamReset(t *testing.T) {
	t.Parallel()
	s := NewStream("a", "1", 1)
	if _, err := feed(t, s, toolStream); err != nil {
		t.Fatal(err)
	}
	s.Reset("b", "2", 2)
	if s.Finished() || s.Usage() != (catalog.Usage{}) {
		t.Fatal("Reset kept state")
	}
	out, err := feed(t, s, toolStream)
	if err != nil {
		t.Fatal(err)
	}
	got := oaitest.Summarize(t, oaitest.Frames(t, out))
	if len(got.Tools) != 2 || got.Tools[0].Args != `{"location": "San Francisco, CA"}` {
		t.Errorf("after Reset: %+v", got)
	}
}
