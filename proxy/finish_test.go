package proxy

import "testing"

// TestHasFinishReason: the finish chunk is found whatever the provider's spacing, and a null
// or absent finish_reason, or one inside content text, does not count.
func TestHasFinishReason(t *testing.T) {
	t.Parallel()
	cases := []struct {
		choices string
		want    bool
	}{
		{`[{"index":0,"delta":{},"finish_reason":"stop"}]`, true},
		{`[ { "index": 0, "delta": {}, "finish_reason" : "length" } ]`, true},
		{"[{\"index\":0,\n\"finish_reason\":\n\"tool_calls\"}]", true},
		{`[{"index":0,"delta":{"content":"x"},"finish_reason":null}]`, false},
		{`[{"index":0,"delta":{"content":"\"finish_reason\":\"stop\""}}]`, false},
		{`[{"index":0,"delta":{}},{"index":1,"delta":{},"finish_reason":"stop"}]`, true},
		{`[]`, false},
		{`[{"finish_reason":"stop"`, false},
		{`{}`, false},
	}
	for _, c := range cases {
		if got := hasFinishReason([]byte(c.choices)); got != c.want {
			t.Errorf("%s: got %v, want %v", c.choices, got, c.want)
		}
	}
}
