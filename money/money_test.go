package money

import "testing"

func TestParseUSD(t *testing.T) {
	t.Parallel()
	good := map[string]Nanos{
		"0": 0, "3": 3 * PerUSD, "0.15": 150_000_000, ".5": 500_000_000, "0.0000375": 37_500,
		"-1.25": -1_250_000_000, "10.000000001": 10*PerUSD + 1,
	}
	for in, want := range good {
		got, err := ParseUSD(in)
		if err != nil || got != want {
			t.Errorf("ParseUSD(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-", ".", "1.2.3", "abc", "1e3", "0.0000000001", "99999999999999999999"} {
		if got, err := ParseUSD(bad); err == nil {
			t.Errorf("ParseUSD(%q) = %d, want an error", bad, got)
		}
	}
}

func TestAppendUSDRoundTrips(t *testing.T) {
	t.Parallel()
	for _, n := range []Nanos{0, 1, 150_000_000, PerUSD, -1_250_000_000, 123_456_789_012} {
		s := string(AppendUSD(nil, n))
		back, err := ParseUSD(s)
		if err != nil || back != n {
			t.Errorf("%d formatted as %q parsed back as %d, %v", n, s, back, err)
		}
	}
	if got := Nanos(123_000).String(); got != "0.000123" {
		t.Errorf("String() = %q", got)
	}
}

func TestCostRoundsUp(t *testing.T) {
	t.Parallel()
	p := PricePerMillion(150_000_000) // $0.15 per million tokens
	if got := p.Cost(1_000_000); got != 150_000_000 {
		t.Errorf("cost of 1M tokens = %d", got)
	}
	if got := p.Cost(1); got != 150 {
		t.Errorf("cost of one token = %d, want 150 nano-USD", got)
	}
	if got := PricePerMillion(1).Cost(1); got != 1 {
		t.Errorf("a sub-nano cost must round up to 1, got %d", got)
	}
	if got := p.Cost(0); got != 0 {
		t.Errorf("zero tokens cost %d", got)
	}
}

// TestCostSaturates: counts that would overflow int64 (a client's max_tokens of 999999999999,
// a provider reporting nonsense) cost MaxCharge, never a wrapped negative amount.
func TestCostSaturates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		p      PricePerMillion
		tokens int64
		want   Nanos
	}{
		{150_000_000, 1_000_000, 150_000_000},
		{150_000_000, 1, 150},
		{1, 1, 1}, // rounds up
		{15 * PricePerMillion(PerUSD), 999_999_999_999, MaxCharge},
		{1 << 62, 1 << 62, MaxCharge},
		{60 * PricePerMillion(PerUSD), 1<<63 - 1, MaxCharge},
		{60 * PricePerMillion(PerUSD), 16_000_000, 960 * PerUSD}, // 128-bit path, exact
		{150_000_000, -5, 0},
		{-1, 5, 0},
	}
	for _, c := range cases {
		if got := c.p.Cost(c.tokens); got != c.want {
			t.Errorf("%d tokens at %d/M: got %d, want %d", c.tokens, c.p, got, c.want)
		}
	}
}
