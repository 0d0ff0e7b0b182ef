package proxy

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzRequestAndResponseScanning feeds arbitrary bytes to everything that reads client or
// provider JSON without a full parser: it must never panic, and on valid JSON it must agree with
// encoding/json.
func FuzzRequestAndResponseScanning(f *testing.F) {
	for _, s := range []string{
		`{"model":"a/b","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		`{"stream_options":{"include_usage":false},"model":"openai\/x"}`,
		`{"usage":{"prompt_tokens":3,"completion_tokens":4,"cost":1}}`,
		`{"a":[1,{"b":"}"}],"model":"m"}`, `{`, `{"model":}`, `{"usage":{}}`, `"x"`, `{"\\":1}`,
		`{"models":["a/b","c/d"],"route":"fallback","provider":{"order":["x"],"sort":"price"},"stream":true}`,
		`{"provider":{"only":["p"]} ,"model":"m","usage":{"include":true}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r chatRequest
		if err := r.parse(b); err == nil {
			var m map[string]json.RawMessage
			if json.Unmarshal(b, &m) != nil {
				// sonic's validator is lenient inside strings (raw control characters, unknown
				// escapes); the provider rejects such bodies, so routing and billing are
				// unaffected. What must hold is agreement whenever both parsers accept.
				return
			}
			var model string
			if r.haveModel && (json.Unmarshal(m["model"], &model) != nil || (utf8.Valid(r.model) && model != string(r.model))) {
				t.Fatalf("model %q, encoding/json says %s", r.model, m["model"])
			}
			out := r.appendUpstreamBody(nil, b, []byte(`"up"`))
			var back map[string]json.RawMessage
			if err := json.Unmarshal(out, &back); err != nil {
				t.Fatalf("rewrite produced invalid JSON: %v\n%s", err, out)
			}
			if string(back["model"]) != `"up"` {
				t.Fatalf("rewritten model is %s", back["model"])
			}
			for _, routing := range []string{"models", "route", "provider", "usage"} {
				if _, ok := back[routing]; ok {
					t.Fatalf("%q reached the provider:\n%s", routing, out)
				}
			}
		}
		x := testExchange()
		out, ok := addCostToResponse(append([]byte(nil), b...), x)
		if ok && json.Valid(b) && !json.Valid(out) {
			t.Fatalf("cost insertion broke valid JSON:\n%s\n%s", b, out)
		}
		rl := &sseRelay{x: *testExchange()}
		rl.consume(b)
	})
}
