package mockllm

import (
	"encoding/json"
	"strings"
	"testing"
)

// appendJSONString must agree byte for byte with encoding/json.
func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", `"quoted" \ back`, "tab\tnl\ncr\r", "\x00\x01\x1f\x7f", "<a href='x'>&amp;</a>",
		"héllo wörld 日本語 🎉", "line\u2028sep\u2029", "bad \xff\xfe utf8 \xe2\x82", "\u00e9\u0301",
	} {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func TestReplySegments(t *testing.T) {
	t.Parallel()
	for _, reply := range []string{"one", "  lead and trail  ", "a\n\nb\tc", "   ", "x y"} {
		text := newReplyText(reply, 0)
		var toks []string
		for {
			tok, ok := text.next()
			if !ok {
				break
			}
			toks = append(toks, tok)
		}
		if strings.Join(toks, "") != reply {
			t.Errorf("%q: tokens %q do not rejoin", reply, toks)
		}
		want := max(len(strings.Fields(reply)), 1)
		if len(toks) != want {
			t.Errorf("%q: %d tokens, want %d", reply, len(toks), want)
		}
	}
}

func TestGeneratedText(t *testing.T) {
	t.Parallel()
	full := newGeneratedText(42, 10, 10)
	s := full.rest()
	if len(strings.Fields(s)) != 10 || !strings.HasSuffix(s, ".") || s[0] < 'A' || s[0] > 'Z' {
		t.Errorf("generated %q", s)
	}
	short := newGeneratedText(42, 10, 4)
	if p := short.rest(); !strings.HasPrefix(s, p) || len(strings.Fields(p)) != 4 {
		t.Errorf("capped %q is not a 4-word prefix of %q", p, s)
	}
	one := newGeneratedText(7, 1, 1)
	if o := one.rest(); strings.Count(o, " ") != 0 || !strings.HasSuffix(o, ".") {
		t.Errorf("one-word text %q", o)
	}
}
