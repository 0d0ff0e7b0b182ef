package oai

import (
	"encoding/json"
	"testing"
)

func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n cr\r tab\t nul\x00 \x1f", "<html>&amp;", "\u2028\u2029", "é 日本 🙂", "bad \xff utf8 \xe2\x82"} {
		got := AppendString([]byte("x"), s)
		want, _ := json.Marshal(s)
		if string(got[1:]) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got[1:], want)
		}
		if b := AppendString(nil, []byte(s)); string(b) != string(want) {
			t.Errorf("AppendString([]byte %q) = %s", s, b)
		}
	}
}

func TestDataURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, mt, data string
		ok           bool
	}{
		{"data:image/png;base64,iVBOR", "image/png", "iVBOR", true},
		{"data:Image/JPEG;base64,/9j/", "image/jpeg", "/9j/", true},
		{"data:application/pdf;name=x.pdf;base64,JVBE", "application/pdf", "JVBE", true},
		{"data:image/png,raw", "", "", false},
		{"data:;base64,AAAA", "", "", false},
		{"data:image/png;base64", "", "", false},
		{"https://x/y.png", "", "", false},
		{"data:image/png;notbase64,AAAA", "", "", false},
	} {
		mt, data, ok := DataURL(tc.in)
		if mt != tc.mt || data != tc.data || ok != tc.ok {
			t.Errorf("DataURL(%q) = (%q, %q, %v)", tc.in, mt, data, ok)
		}
	}
}

func TestAppendCompact(t *testing.T) {
	t.Parallel()
	if got := AppendCompact([]byte("a"), []byte("{ \"x\" :\n [1, 2] }")); string(got) != `a{"x":[1,2]}` {
		t.Errorf("got %s", got)
	}
	in := `{"s": "a \"b c\" \\ d", "t" : [ 1 ,2 ],"u":"\\"}`
	if got := AppendCompact([]byte("a"), []byte(in)); string(got) != `a{"s":"a \"b c\" \\ d","t":[1,2],"u":"\\"}` {
		t.Errorf("strings: %s", got)
	}
}

func TestThinkSpec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Think
	}{
		{`{}`, Think{}},
		{`{"reasoning_effort":"low"}`, Think{On: true, Effort: "low"}},
		{`{"reasoning_effort":"none"}`, Think{Off: true}},
		{`{"reasoning":{"max_tokens":3000,"exclude":true}}`, Think{On: true, Budget: 3000, Exclude: true}},
		{`{"reasoning":{"max_tokens":0}}`, Think{Off: true}},
		{`{"reasoning":{"enabled":true}}`, Think{On: true, Effort: "medium"}},
		{`{"reasoning":{"enabled":false,"effort":"high"}}`, Think{Off: true}},
		{`{"reasoning":{"effort":"none"},"reasoning_effort":"high"}`, Think{Off: true}},
		{`{"reasoning":{"exclude":true},"reasoning_effort":"high"}`, Think{On: true, Effort: "high", Exclude: true}},
	} {
		var r Request
		if err := json.Unmarshal([]byte(tc.in), &r); err != nil {
			t.Fatal(err)
		}
		got, err := r.ThinkSpec()
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestDecodeNullsAndErrors(t *testing.T) {
	t.Parallel()
	var r Request
	if err := Decode([]byte(`{"messages":[{"role":"user","content":null,"tool_calls":null}],"stream":null,"stop":null,"tools":null,"max_tokens":null}`), &r); err != nil {
		t.Fatalf("nulls: %v", err)
	}
	if r.Stream || r.MaxTokens != nil || r.Messages[0].Content.Set || r.Stop.Seqs != nil {
		t.Errorf("nulls decoded as %+v", r)
	}
	for in, want := range map[string]string{
		`{"messages":[{"role":"user","content":"x"}],"max_tokens":1.5}`:    "max_tokens: expected an integer, got number 1.5",
		`{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}`: "temperature: expected a number, got string",
		`{"messages":[{"role":5}]}`:                                        "messages.role: expected a string, got number",
		`"just a string"`:                                                  "request body must be a JSON object",
		`{"messages":[}`:                                                   "request body is not valid JSON",
	} {
		var r Request
		if err := Decode([]byte(in), &r); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}
