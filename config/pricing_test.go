package config

import (
	"testing"

	"github.com/arouter/arouter/money"
)

// TestPriceExact checks that prices come from the YAML text, not a float: every one of these
// would be off by a nano-dollar or more somewhere if it went through float64.
func TestPriceExact(t *testing.T) {
	t.Parallel()
	cases := []struct {
		yaml string
		want money.PricePerMillion
	}{
		{"0.0000375", 37_500},
		{`"0.0000375"`, 37_500},
		{"0.15", 150_000_000},
		{`'0.15'`, 150_000_000},
		{"0.60", 600_000_000},
		{"2.50", 2_500_000_000},
		{"10.00", 10_000_000_000},
		{"0.075", 75_000_000},
		{"0.000000001", 1},
		{"0.1", 100_000_000},
		{"0.3", 300_000_000},
		{"3", 3_000_000_000},
		{"0", 0},
		{"+1.5", 1_500_000_000},
		{"123456.789012345", 123_456_789_012_345},
	}
	for _, tc := range cases {
		c := mustParse(t, withModel("{id: a/b, pricing: {prompt: "+tc.yaml+", completion: "+tc.yaml+
			", cache_read: "+tc.yaml+", cache_write: "+tc.yaml+"}, deployments: [{provider: mock, model: m}]}"))
		want := Pricing{Prompt: tc.want, Completion: tc.want, CacheRead: tc.want, CacheWrite: tc.want}
		if got := c.Models[0].Pricing; got != want {
			t.Errorf("%s: got %+v, want %+v", tc.yaml, got, want)
		}
	}
}
