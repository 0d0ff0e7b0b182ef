package proxy

import (
	"bytes"
	"testing"

	"github.com/arouter/arouter/catalog"
)

// sonicUsage is how usage was read before readUsage walked the object once: a sonic path
// search per field (searchUsage, which readUsage now keeps for escaped keys). It is the
// reference readUsage must agree with.
func sonicUsage(obj []byte) (catalog.Usage, bool) {
	var u catalog.Usage
	if !validJSON(obj) {
		return u, false
	}
	searchUsage(obj, &u)
	return u, true
}

const fullUsage = `{"prompt_tokens":31,"completion_tokens":11,"total_tokens":42,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0,"cache_write_tokens":7},"completion_tokens_details":{"reasoning_tokens":3,"audio_tokens":0}}`

func TestReadUsage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want catalog.Usage
		ok   bool
	}{
		{fullUsage, catalog.Usage{Prompt: 31, Completion: 11, Cached: 4, CacheWrite: 7, Reasoning: 3}, true},
		{` { "completion_tokens" : 5 , "prompt_tokens":2 } `, catalog.Usage{Prompt: 2, Completion: 5}, true},
		{`{}`, catalog.Usage{}, true},
		{`{"prompt_tokens":-3,"completion_tokens":"9","prompt_tokens_details":null,"completion_tokens_details":[1]}`, catalog.Usage{Completion: 9}, true},
		{`{"prompt_tokens":9223372036854775807,"completion_tokens":9223372036854775808}`, catalog.Usage{Prompt: 9223372036854775807}, true},
		{`{"prompt_tokens":1.5,"completion_tokens":2e3}`, catalog.Usage{Prompt: 1, Completion: 2000}, true}, // as sonic reads them
		{`{"prompt_tokens":3,"prompt_tokens":4}`, catalog.Usage{Prompt: 3}, true},
		{`{"prompt_tokens":3`, catalog.Usage{}, false},
		{`[1]`, catalog.Usage{}, false},
	} {
		var u catalog.Usage
		if ok := readUsage([]byte(c.in), &u); ok != c.ok || (ok && u != c.want) {
			t.Errorf("readUsage(%s) = %+v, %v; want %+v, %v", c.in, u, ok, c.want, c.ok)
		}
	}
}

func TestReadUsageDoesNotAllocate(t *testing.T) {
	obj := []byte(fullUsage)
	var u catalog.Usage
	if n := testing.AllocsPerRun(100, func() { readUsage(obj, &u) }); n != 0 {
		t.Fatalf("readUsage allocates %.0f times", n)
	}
}

// FuzzReadUsage checks the one-walk readUsage against the sonic path searches it replaced.
func FuzzReadUsage(f *testing.F) {
	for _, s := range []string{fullUsage, `{}`, `{"prompt_tokens":1e2}`, `{"prompt_tokens":"1"}`,
		`{"prompt_tokens_details":{"cached_tokens":2,"cached_tokens":3}}`, `{"prompt\u005ftokens":4}`, `{"completion_tokens":-0}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
			return // only objects are usage; sonic reads any other value as all zeros
		}
		var got catalog.Usage
		ok := readUsage(b, &got)
		want, wantOK := sonicUsage(b)
		if ok != wantOK || got != want {
			t.Fatalf("readUsage(%q) = %+v, %v; sonic reads %+v, %v", b, got, ok, want, wantOK)
		}
	})
}
