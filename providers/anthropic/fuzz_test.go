package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/arouter/arouter/providers"
	"github.com/arouter/arouter/providers/internal/oaitest"
)

// FuzzStream feeds arbitrary event sequences (the input cut at blank lines, as SSE is) to the
// translator: it must never panic, and every frame it writes must be one "data:" line holding
// valid JSON, so a client can never receive a broken event from a broken provider.
func FuzzStream(f *testing.F) {
	for _, s := range []string{textStream, toolStream, thinkingStream,
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}\n\n",
		"data: {\"type\":\"content_block_start\",\"index\":-1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"\\u0000\",\"name\":\"\\ud800\"}}\n\n" +
			"data: {\"type\":\"content_block_delta\",\"index\":-1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\u2028</script>\"}}\n\n",
		"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"\\n\"},\"usage\":{\"output_tokens\":-5}}\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := NewStream("m\n\"", "id", 1)
		out := []byte("prefix")
		for _, ev := range bytes.SplitAfter(in, []byte("\n\n")) {
			name, data := providers.SplitEvent(ev)
			before := len(out)
			var err error
			out, err = s.Event(out, name, data)
			if string(out[:6]) != "prefix" {
				t.Fatal("dst prefix overwritten")
			}
			oaitest.CheckFrames(t, out[before:])
			if err != nil {
				continue
			}
		}
		u := s.Usage()
		if u.Prompt < 0 || u.Completion < 0 || u.Cached < 0 || u.CacheWrite < 0 || u.Cached+u.CacheWrite > u.Prompt {
			t.Fatalf("usage %+v", u)
		}
	})
}

// FuzzTranslateRequest: any body either fails with a *RequestError or translates into valid
// JSON, never a panic or a broken native request.
func FuzzTranslateRequest(f *testing.F) {
	f.Add([]byte(oaitest.BenchRequest))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA"},"cache_control":{"type":"ephemeral"}}],"cache_control":{"type":"ephemeral"}}],"reasoning":{"max_tokens":5000},"stop":["\u0000"],"tool_choice":"required","parallel_tool_calls":false}`))
	f.Add([]byte(`{"messages":[{"role":"tool","tool_call_id":"a","content":[{"type":"text","text":"x"}]},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":" { \"a\" : [1, \"b c\"] } "}}]}],"mock":{"x":1}}`))
	a := Adapter{Passthrough: []string{"mock"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := a.TranslateRequest([]byte("x"), body, "m")
		if err != nil {
			var re *providers.RequestError
			if !errors.As(err, &re) || string(out) != "x" {
				t.Fatalf("err %T %v, out %q", err, err, out)
			}
			return
		}
		if string(out[:1]) != "x" || !json.Valid(out[1:]) {
			t.Fatalf("invalid native request %q\nfrom %q", out[1:], body)
		}
	})
}
