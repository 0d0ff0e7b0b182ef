package balancer

import (
	"slices"
	"testing"
	"time"

	"github.com/arouter/arouter/catalog"
)

// TestPolicies runs one request to exhaustion under each policy and checks the order in which
// its deployments are tried.
func TestPolicies(t *testing.T) {
	t.Parallel()
	abc := []string{"a", "b", "c"}
	cases := []struct {
		name    string
		policy  catalog.Policy
		health  fakeHealth
		open    []int // positions with an open breaker
		cool    []int // positions cooling down
		want    []string
		reasons []Reason // of the final error, by position
	}{
		{name: "priority", policy: catalog.PolicyPriority, want: abc,
			reasons: []Reason{ReasonTried, ReasonTried, ReasonTried}},
		{name: "priority skips open and cooling", policy: catalog.PolicyPriority, open: []int{0}, cool: []int{1},
			want: []string{"c"}, reasons: []Reason{ReasonCircuitOpen, ReasonCoolingDown, ReasonTried}},
		{name: "priority demotes unhealthy", policy: catalog.PolicyPriority, health: fakeHealth{0: sick, 1: sick},
			want: []string{"c", "a", "b"}},
		{name: "all unhealthy are still tried", policy: catalog.PolicyPriority, health: fakeHealth{0: sick, 1: sick, 2: sick},
			want: abc},
		{name: "unhealthy is tried before nothing", policy: catalog.PolicyPriority, health: fakeHealth{0: sick}, open: []int{1, 2},
			want: []string{"a"}, reasons: []Reason{ReasonTried, ReasonCircuitOpen, ReasonCircuitOpen}},
		{name: "latency", policy: catalog.PolicyLatency, health: fakeHealth{0: fast(300), 1: fast(100), 2: fast(200)},
			want: []string{"b", "c", "a"}},
		{name: "latency tries unmeasured first", policy: catalog.PolicyLatency, health: fakeHealth{0: fast(300), 1: fast(100)},
			want: []string{"c", "b", "a"}},
		{name: "latency demotes unhealthy fastest", policy: catalog.PolicyLatency,
			health: fakeHealth{0: fast(300), 1: {TTFBp50: time.Millisecond}, 2: fast(200)},
			want:   []string{"c", "a", "b"}},
		{name: "latency without data is priority", policy: catalog.PolicyLatency, want: abc},
		{name: "price ties keep order", policy: catalog.PolicyPrice, want: abc},
		{name: "price skips open", policy: catalog.PolicyPrice, open: []int{0}, want: []string{"b", "c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cat, m := model(t, c.policy, abc, nil)
			opts := Options{ConsecutiveFailures: 1, OpenFor: time.Hour}
			if c.health != nil {
				opts.Health = c.health
			}
			b := New(cat, opts)
			now := time.Now()
			for _, pos := range c.open {
				open(t, b, m.Deployments[pos])
			}
			for _, pos := range c.cool {
				b.CoolDown(m.Deployments[pos], now.Add(time.Minute))
			}
			got, nd := sequence(t, b, m, nil, now)
			if !slices.Equal(got, c.want) {
				t.Fatalf("tried %v, want %v", got, c.want)
			}
			if c.reasons != nil {
				for pos, want := range c.reasons {
					if r := nd.Deployments[pos].Reason; r != want {
						t.Errorf("deployment %d: reason %v, want %v (%v)", pos, r, want, nd)
					}
				}
			}
		})
	}
}

// TestWeighted checks the draw: which deployment each random number selects, that only
// eligible deployments take part, and the long-run shares.
func TestWeighted(t *testing.T) {
	t.Parallel()
	cat, m := model(t, catalog.PolicyWeighted, []string{"a", "b", "c"}, []int{1, 3, 0})
	b := New(cat, Options{ConsecutiveFailures: 1, OpenFor: time.Hour})
	now := time.Now()
	var drawn []int
	for x, want := range []string{"a", "b", "b", "b", "c"} { // weights 1, 3 and 1 (0 means 1)
		b.randN = func(n int) int { drawn = append(drawn, n); return x }
		d, err := b.Choose(m, nil, nil, now)
		if err != nil || d.Provider != want {
			t.Fatalf("draw %d chose %v (%v), want %s", x, d, err, want)
		}
		attempt(t, b, d, nil)
	}
	if !slices.Equal(drawn, []int{5, 5, 5, 5, 5}) {
		t.Fatalf("drew from totals %v, want 5 each time", drawn)
	}

	// After "b" failed, the draw is among the others only.
	var att Attempts
	att.Add(m.Deployments[1], errA)
	b.randN = func(n int) int {
		if n != 2 {
			t.Errorf("total weight %d without b, want 2", n)
		}
		return 1
	}
	if d := choose(t, b, m, nil, &att, now); d.Provider != "c" {
		t.Fatalf("second draw chose %s, want c", d.Provider)
	}
	// Open and cooling deployments are not drawn.
	open(t, b, m.Deployments[0])
	b.CoolDown(m.Deployments[2], now.Add(time.Minute))
	b.randN = func(n int) int {
		if n != 3 {
			t.Errorf("total weight %d with only b eligible, want 3", n)
		}
		return n - 1
	}
	if d := choose(t, b, m, nil, nil, now); d.Provider != "b" {
		t.Fatalf("chose %s, want b", d.Provider)
	}

	// The real source: shares follow the weights.
	cat, m = model(t, catalog.PolicyWeighted, []string{"a", "b"}, []int{1, 3})
	b = New(cat, Options{})
	counts := map[string]int{}
	const n = 20000
	for range n {
		d := choose(t, b, m, nil, nil, now)
		attempt(t, b, d, nil)
		counts[d.Provider]++
	}
	if share := float64(counts["b"]) / n; share < 0.72 || share > 0.78 {
		t.Fatalf("b got %.3f of requests, want 0.75 (%v)", share, counts)
	}
}

// TestPriceRanking covers the figure price ranks by, which only differs between models while
// prices belong to models.
func TestPriceRanking(t *testing.T) {
	t.Parallel()
	cheap := &catalog.Deployment{Model: &catalog.Model{Prices: catalog.Prices{Prompt: 100, Completion: 400}}}
	dear := &catalog.Deployment{Model: &catalog.Model{Prices: catalog.Prices{Prompt: 150, Completion: 600}}}
	if rankKey(byPrice, cheap, nil) >= rankKey(byPrice, dear, nil) {
		t.Fatal("cheaper deployment does not rank first")
	}
}

// TestHalfOpenIgnoresHealth: a breaker ready to probe gets its probe even if health, which
// remembers the failures that opened it, says unhealthy; otherwise it could never close.
func TestHalfOpenIgnoresHealth(t *testing.T) {
	t.Parallel()
	cat, m := model(t, catalog.PolicyPriority, []string{"a", "b"}, nil)
	b := New(cat, Options{ConsecutiveFailures: 1, OpenFor: time.Nanosecond, Health: fakeHealth{0: sick}})
	open(t, b, m.Deployments[0])
	d, err := b.Choose(m, nil, nil, time.Now())
	if err != nil || d.Provider != "a" {
		t.Fatalf("probe went to %v (%v), want a", d, err)
	}
	finish := hold(t, b, d)
	// While the probe is out, the unhealthy deployment refuses a second request, which then
	// goes to b.
	var att Attempts
	d2 := choose(t, b, m, nil, &att, time.Now())
	if d2.Provider != "a" || b.Attempt(d2, func() error { t.Error("second probe ran"); return nil }) {
		t.Fatalf("second request: %s admitted while the probe is out", d2.Provider)
	}
	att.Refuse(d2)
	if d2 = choose(t, b, m, nil, &att, time.Now()); d2.Provider != "b" {
		t.Fatalf("second request went to %s, want b", d2.Provider)
	}
	attempt(t, b, d2, nil)
	finish(nil)
	if s := b.State(m.Deployments[0]); s.String() != "closed" {
		t.Fatalf("breaker %v after a successful probe", s)
	}
}
