package providers

import (
	"encoding/json"
	"testing"

	"github.com/arouter/arouter/catalog"
)

func TestSplitEvent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, event, data string
		nilData         bool
	}{
		{"event: message_start\ndata: {\"a\":1}\n\n", "message_start", `{"a":1}`, false},
		{"data: {\"b\":2}\r\n\r\n", "", `{"b":2}`, false},
		{"data:{\"c\":3}\n\n", "", `{"c":3}`, false},
		{": keep-alive\n\n", "", "", true},
		{"event: ping\n\n", "ping", "", true},
		{"id: 7\nretry: 100\nevent:x\ndata: a\ndata: b\ndata:  c\n\n", "x", "a\nb\n c", false},
		{"data\n\n", "", "", false},
		{"data: last line without newline", "", "last line without newline", false},
		{"", "", "", true},
	} {
		ev, data := SplitEvent([]byte(tc.in))
		if string(ev) != tc.event || string(data) != tc.data || (data == nil) != tc.nilData {
			t.Errorf("SplitEvent(%q) = (%q, %q nil=%v), want (%q, %q nil=%v)", tc.in, ev, data, data == nil, tc.event, tc.data, tc.nilData)
		}
	}
}

func TestAppendUsageChunk(t *testing.T) {
	t.Parallel()
	u := catalog.Usage{Prompt: 100, Completion: 30, Reasoning: 10, Cached: 60, CacheWrite: 20}
	out := AppendUsageChunk([]byte("x"), "gen-1", "anthropic/claude", 5, &u)
	want := "x" + `data: {"id":"gen-1","object":"chat.completion.chunk","created":5,"model":"anthropic/claude","choices":[],` +
		`"usage":{"prompt_tokens":100,"completion_tokens":30,"total_tokens":130,"prompt_tokens_details":{"cached_tokens":60,"cache_write_tokens":20},` +
		`"completion_tokens_details":{"reasoning_tokens":10}}}` + "\n\n"
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if !json.Valid(AppendUsage(nil, &u)) {
		t.Error("AppendUsage: invalid JSON")
	}
}
