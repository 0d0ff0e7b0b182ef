package balancer

import (
	"slices"
	"testing"
	"time"

	"github.com/arouter/arouter/catalog"
)

// TestRoutes runs one request to exhaustion under each combination of provider preferences
// and model policy and checks the order tried and why the rest were not.
func TestRoutes(t *testing.T) {
	t.Parallel()
	abcd := []string{"a", "b", "c", "d"}
	speeds := fakeHealth{0: fast(400), 1: fast(300), 2: fast(200), 3: fast(100)}
	rates := fakeHealth{0: tps(10), 1: tps(40), 2: tps(30), 3: tps(20)}
	const (
		T = ReasonTried
		X = ReasonExcluded
		N = ReasonNoFallbacks
		O = ReasonCircuitOpen
	)
	cases := []struct {
		name    string
		policy  catalog.Policy
		health  fakeHealth
		open    []int
		route   Route
		want    []string
		reasons []Reason
	}{
		{name: "zero route", route: Route{}, want: abcd, reasons: []Reason{T, T, T, T}},
		{name: "order first, then the rest in policy order", route: Route{Order: []string{"c", "a"}},
			want: []string{"c", "a", "b", "d"}},
		{name: "order names an unknown provider", route: Route{Order: []string{"zz", "d"}},
			want: []string{"d", "a", "b", "c"}},
		{name: "only", route: Route{Only: []string{"d", "b"}}, want: []string{"b", "d"}, reasons: []Reason{X, T, X, T}},
		{name: "ignore", route: Route{Ignore: []string{"a", "c"}}, want: []string{"b", "d"}, reasons: []Reason{X, T, X, T}},
		{name: "only and ignore", route: Route{Only: []string{"a", "b"}, Ignore: []string{"a"}}, want: []string{"b"}},
		{name: "ignore beats order", route: Route{Order: []string{"c", "b"}, Ignore: []string{"c"}},
			want: []string{"b", "a", "d"}},
		{name: "no fallbacks: one attempt", route: Route{NoFallbacks: true}, want: []string{"a"},
			reasons: []Reason{T, N, N, N}},
		{name: "no fallbacks: first eligible", route: Route{NoFallbacks: true}, open: []int{0}, want: []string{"b"},
			reasons: []Reason{O, T, N, N}},
		{name: "no fallbacks with order: only the order", route: Route{NoFallbacks: true, Order: []string{"d", "b"}},
			want: []string{"d", "b"}, reasons: []Reason{X, T, X, T}},
		{name: "sort latency overrides priority", health: speeds, route: Route{Sort: SortLatency},
			want: []string{"d", "c", "b", "a"}},
		{name: "sort throughput", health: rates, route: Route{Sort: SortThroughput}, want: []string{"b", "c", "d", "a"}},
		{name: "sort throughput tries unmeasured first", health: fakeHealth{0: tps(10), 1: tps(40)},
			route: Route{Sort: SortThroughput}, want: []string{"c", "d", "b", "a"}},
		{name: "sort price keeps order on ties", policy: catalog.PolicyLatency, health: speeds, route: Route{Sort: SortPrice},
			want: abcd},
		{name: "order then sort", health: speeds, route: Route{Order: []string{"b"}, Sort: SortLatency},
			want: []string{"b", "d", "c", "a"}},
		{name: "order on a latency model", policy: catalog.PolicyLatency, health: speeds, route: Route{Order: []string{"a"}},
			want: []string{"a", "d", "c", "b"}},
		{name: "order skips open", open: []int{2}, route: Route{Order: []string{"c", "b"}},
			want: []string{"b", "a", "d"}, reasons: []Reason{T, T, O, T}},
		{name: "only with unhealthy demoted", health: fakeHealth{1: sick}, route: Route{Only: []string{"b", "c"}},
			want: []string{"c", "b"}},
		{name: "excluded everything", route: Route{Only: []string{"zz"}}, want: nil, reasons: []Reason{X, X, X, X}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cat, m := model(t, c.policy, abcd, nil)
			opts := Options{ConsecutiveFailures: 1, OpenFor: time.Hour}
			if c.health != nil {
				opts.Health = c.health
			}
			b := New(cat, opts)
			for _, pos := range c.open {
				open(t, b, m.Deployments[pos])
			}
			got, nd := sequence(t, b, m, &c.route, time.Now())
			if !slices.Equal(got, c.want) {
				t.Fatalf("tried %v, want %v", got, c.want)
			}
			for pos, want := range c.reasons {
				if r := nd.Deployments[pos].Reason; r != want {
					t.Errorf("deployment %d: reason %v, want %v (%v)", pos, r, want, nd)
				}
			}
		})
	}
}

// TestRouteOnWeightedModel: Order comes first, the draw covers only the rest.
func TestRouteOnWeightedModel(t *testing.T) {
	t.Parallel()
	cat, m := model(t, catalog.PolicyWeighted, []string{"a", "b", "c"}, []int{5, 1, 2})
	b := New(cat, Options{})
	draws := 0
	b.randN = func(n int) int {
		if draws++; draws == 1 && n != 7 {
			t.Errorf("drew from total %d, want 7 (a and c)", n)
		}
		return min(5, n-1) // c, then a
	}
	got, _ := sequence(t, b, m, &Route{Order: []string{"b"}}, time.Now())
	if got[0] != "b" || got[1] != "c" {
		t.Fatalf("tried %v, want b then the draw (c)", got)
	}
}

func TestParseSort(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Sort{"": SortNone, "price": SortPrice, "latency": SortLatency, "throughput": SortThroughput} {
		if s, ok := ParseSort([]byte(in)); !ok || s != want || s.String() != in {
			t.Errorf("ParseSort(%q) = %v, %v", in, s, ok)
		}
	}
	if _, ok := ParseSort([]byte("Price")); ok {
		t.Error("ParseSort accepted Price")
	}
}
