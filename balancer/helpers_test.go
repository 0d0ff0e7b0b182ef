package balancer

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/health"
)

// fakeHealth serves fixed scores by deployment index; absent ones are healthy and unmeasured.
type fakeHealth map[int]health.Score

func (f fakeHealth) Score(i int, _ time.Time) health.Score {
	if s, ok := f[i]; ok {
		return s
	}
	return health.Score{Healthy: true}
}

var (
	sick = health.Score{Healthy: false}
	errA = errors.New("502 from provider")
)

func fast(ms int) health.Score {
	return health.Score{Healthy: true, TTFBp50: time.Duration(ms) * time.Millisecond}
}
func tps(r float64) health.Score {
	return health.Score{Healthy: true, TokensPerSecondP50: r}
}

// model builds a one-model catalog "a/m" with a deployment per provider.
func model(t testing.TB, policy catalog.Policy, providers []string, weights []int) (*catalog.Catalog, *catalog.Model) {
	t.Helper()
	spec := catalog.ModelSpec{ID: "a/m", Policy: policy, Prices: catalog.Prices{Prompt: 1000, Completion: 2000}}
	for i, p := range providers {
		ds := catalog.DeploymentSpec{Provider: p, UpstreamModel: "m"}
		if weights != nil {
			ds.Weight = weights[i]
		}
		spec.Deployments = append(spec.Deployments, ds)
	}
	c, err := catalog.New([]catalog.ModelSpec{spec})
	if err != nil {
		t.Fatal(err)
	}
	return c, c.Lookup([]byte("a/m"))
}

// open trips d's breaker; the balancer must have been built with ConsecutiveFailures 1.
func open(t testing.TB, b *Balancer, d *catalog.Deployment) {
	t.Helper()
	attempt(t, b, d, errA)
}

// attempt runs one attempt on d with outcome err and fails the test if the breaker refuses it.
func attempt(t testing.TB, b *Balancer, d *catalog.Deployment, err error) {
	t.Helper()
	if !b.Attempt(d, func() error { return err }) {
		t.Fatalf("breaker of %s refused the attempt", d.Name())
	}
}

// hold starts an attempt on d in another goroutine and keeps it in flight, holding its breaker
// slot (a half-open breaker's probe slot, say), until finish is called with the attempt's
// outcome; finish waits for Attempt to return. The test fails if the breaker refuses the
// attempt. A test that ends without calling finish releases the attempt as ErrClientGone.
func hold(t testing.TB, b *Balancer, d *catalog.Deployment) (finish func(err error)) {
	t.Helper()
	started := make(chan struct{})
	outcome := make(chan error)
	ran := make(chan bool, 1)
	go func() {
		ran <- b.Attempt(d, func() error {
			close(started)
			return <-outcome
		})
	}()
	select {
	case <-started:
	case <-ran:
		t.Fatalf("breaker of %s refused the attempt to hold", d.Name())
	}
	var once sync.Once
	finish = func(err error) {
		once.Do(func() {
			outcome <- err
			<-ran
		})
	}
	t.Cleanup(func() { finish(ErrClientGone) })
	return finish
}

// choose runs Choose and fails the test on an error.
func choose(t testing.TB, b *Balancer, m *catalog.Model, r *Route, att *Attempts, now time.Time) *catalog.Deployment {
	t.Helper()
	d, err := b.Choose(m, r, att, now)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sequence runs one request to exhaustion: choose, attempt, fail, record, until Choose refuses,
// and returns the providers in the order tried and the final error.
func sequence(t testing.TB, b *Balancer, m *catalog.Model, r *Route, now time.Time) ([]string, *NoDeploymentError) {
	t.Helper()
	var att Attempts
	var got []string
	for range 2 * len(m.Deployments) {
		d, err := b.Choose(m, r, &att, now)
		if err != nil {
			var nd *NoDeploymentError
			if !errors.As(err, &nd) {
				t.Fatalf("error %T %v", err, err)
			}
			return got, nd
		}
		if !b.Attempt(d, func() error { return ErrClientGone }) { // leave the breakers alone
			att.Refuse(d)
			continue
		}
		got = append(got, d.Provider)
		att.Add(d, errA)
	}
	t.Fatalf("Choose never gave up: %v", got)
	return nil, nil
}

// selectionCases are the policy and route combinations the allocation test and the benchmarks
// share: each policy alone and with a route that orders, filters and sorts.
var selectionCases = []struct {
	name   string
	policy catalog.Policy
	route  *Route
}{
	{"priority", catalog.PolicyPriority, nil},
	{"weighted", catalog.PolicyWeighted, nil},
	{"latency", catalog.PolicyLatency, nil},
	{"price", catalog.PolicyPrice, nil},
	{"route-order", catalog.PolicyPriority, &Route{Order: []string{"c", "b"}, Ignore: []string{"a"}}},
	{"route-only-sort", catalog.PolicyWeighted, &Route{Only: []string{"a", "b", "d"}, Sort: SortThroughput}},
	{"route-nofallbacks", catalog.PolicyLatency, &Route{Order: []string{"d"}, NoFallbacks: true}},
}

// selectionSetup builds a four-deployment model under policy with a real health tracker that
// has seen traffic, the way the gateway runs.
func selectionSetup(t testing.TB, policy catalog.Policy) (*Balancer, *catalog.Model) {
	var weights []int
	if policy == catalog.PolicyWeighted {
		weights = []int{1, 2, 3, 4}
	}
	cat, m := model(t, policy, []string{"a", "b", "c", "d"}, weights)
	tr := health.New([]string{"a", "b", "c", "d"}, nil)
	now := time.Now()
	for i := range 4 {
		tr.Observe(i, health.Outcome{OK: true, TTFB: time.Duration(i+1) * 100 * time.Millisecond,
			Latency: 2 * time.Second, CompletionTokens: 100}, now)
	}
	return New(cat, Options{Health: tr}), m
}
