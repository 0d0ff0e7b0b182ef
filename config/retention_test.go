package config

import (
	"testing"
	"time"
)

// retention.usage_records defaults to 90 days; 0s (keep forever) is kept as 0, unlike other
// durations, whose 0 means their default.
func TestRetention(t *testing.T) {
	t.Parallel()
	for yaml, want := range map[string]time.Duration{
		"":                                    90 * 24 * time.Hour,
		"retention: {}\n":                     90 * 24 * time.Hour,
		"retention: {usage_records: 0s}\n":    0,
		"retention: {usage_records: 720h}\n":  720 * time.Hour,
		"retention: {usage_records: 24h}\n":   24 * time.Hour,
		"retention: {usage_records: 8760h}\n": 8760 * time.Hour,
	} {
		c := mustParse(t, yaml+minimal)
		if got := *c.Retention.UsageRecords; got != want {
			t.Errorf("%q: usage_records %v, want %v", yaml, got, want)
		}
	}
	checkErrorCases(t, []errorCase{
		{"too short", "retention: {usage_records: 1h}\n" + minimal, []string{"retention.usage_records: 1h0m0s is too short: use at least 24h0m0s"}},
		{"negative", "retention: {usage_records: -24h}\n" + minimal, []string{"retention.usage_records: must not be negative"}},
		{"days are not a unit", "retention: {usage_records: 90d}\n" + minimal, []string{"retention.usage_records", `a duration with a unit`}},
		{"misspelt", "retention: {usage: 24h}\n" + minimal, []string{"retention", "usage_records"}},
	})
}
