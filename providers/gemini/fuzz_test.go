package gemini

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/arouter/arouter/providers"
	"github.com/arouter/arouter/providers/internal/oaitest"
)

// FuzzStream feeds arbitrary event sequences (the input cut at blank lines, as SSE is) to the
// translator: it must never panic, and every frame it writes must be one "data:" line holding
// valid JSON.
func FuzzStream(f *testing.F) {
	for _, s := range []string{textStream, toolStream,
		"data: {\"error\":{\"code\":500,\"message\":\"\\n\",\"status\":\"INTERNAL\"}}\r\n\r\n",
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\\u0000\\ud800\",\"thought\":true},{\"functionCall\":{\"name\":\"\\u2028\",\"args\":[1, 2]}}]},\"finishReason\":\"\\n\"}]}\n\n",
		"data: {\"usageMetadata\":{\"promptTokenCount\":-1,\"cachedContentTokenCount\":99}}\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := NewStream("m\n\"", "id\u2028", 1)
		out := []byte("prefix")
		for _, ev := range oaitest.Split(in) {
			name, data := providers.SplitEvent(ev)
			before := len(out)
			out, _ = s.Event(out, name, data)
			if string(out[:6]) != "prefix" {
				t.Fatal("dst prefix overwritten")
			}
			oaitest.CheckFrames(t, out[before:])
		}
		u := s.Usage()
		if u.Prompt < 0 || u.Completion < 0 || u.Reasoning > u.Completion || u.Cached > u.Prompt {
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
