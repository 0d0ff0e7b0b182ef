package balancer

import (
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/health"
)

// report sends one request to m's first deployment with outcome err.
func report(t *testing.T, b *Balancer, m *catalog.Model, err error) {
	t.Helper()
	attempt(t, b, m.Deployments[0], err)
}

func TestFailureRatioOpensTheBreaker(t *testing.T) {
	t.Parallel()
	cat, m := model(t, catalog.PolicyPriority, []string{"a"}, nil)
	b := New(cat, Options{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 10, Interval: time.Hour, OpenFor: time.Hour})
	// Alternating outcomes never make 100 in a row; the ratio trips on the first failure once
	// ten requests have finished.
	for k := range 10 {
		if k%2 == 0 {
			report(t, b, m, errA)
		} else {
			report(t, b, m, nil)
		}
		if s := b.State(m.Deployments[0]); s != gobreaker.StateClosed {
			t.Fatalf("open after %d requests, before MinRequests", k+1)
		}
	}
	report(t, b, m, errA)
	if s := b.State(m.Deployments[0]); s != gobreaker.StateOpen {
		t.Fatalf("state %v after 6 of 11 failed", s)
	}
	// Below the ratio it stays closed.
	cat, m = model(t, catalog.PolicyPriority, []string{"a"}, nil)
	b = New(cat, Options{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 10})
	for k := range 30 {
		report(t, b, m, map[bool]error{true: errA}[k%3 == 0])
	}
	if s := b.State(m.Deployments[0]); s != gobreaker.StateClosed {
		t.Fatalf("state %v with a third failing", s)
	}
}

// TestIntervalForgetsOldFailures waits out a short window: the time passing is what is tested.
func TestIntervalForgetsOldFailures(t *testing.T) {
	t.Parallel()
	cat, m := model(t, catalog.PolicyPriority, []string{"a"}, nil)
	b := New(cat, Options{ConsecutiveFailures: 3, FailureRatio: 0.9, MinRequests: 3, Interval: 20 * time.Millisecond})
	report(t, b, m, errA)
	report(t, b, m, errA)
	time.Sleep(40 * time.Millisecond)
	report(t, b, m, errA)
	if s := b.State(m.Deployments[0]); s != gobreaker.StateClosed {
		t.Fatalf("state %v: failures from before the interval still counted", s)
	}
}

func TestHalfOpenLetsConfiguredProbesThrough(t *testing.T) {
	t.Parallel()
	cat, m := model(t, catalog.PolicyPriority, []string{"a", "b"}, nil)
	b := New(cat, Options{ConsecutiveFailures: 1, OpenFor: time.Nanosecond, HalfOpenRequests: 2})
	open(t, b, m.Deployments[0])
	// Two requests probe a and stay in flight; the third is refused by a and goes to b.
	var finish []func(error)
	for range 2 {
		d := choose(t, b, m, nil, nil, time.Now())
		if d.Provider != "a" {
			t.Fatalf("probe went to %s, want a", d.Provider)
		}
		finish = append(finish, hold(t, b, d))
	}
	var att Attempts
	d := choose(t, b, m, nil, &att, time.Now())
	if d.Provider != "a" || b.Attempt(d, func() error { t.Error("third probe ran"); return nil }) {
		t.Fatalf("third request: %s admitted while two probes are out", d.Provider)
	}
	att.Refuse(d)
	if d = choose(t, b, m, nil, &att, time.Now()); d.Provider != "b" {
		t.Fatalf("third request went to %s after a refused it, want b", d.Provider)
	}
	attempt(t, b, d, nil)
	finish[0](nil)
	if s := b.State(m.Deployments[0]); s != gobreaker.StateHalfOpen {
		t.Fatalf("closed after one of two probes: %v", s)
	}
	finish[1](nil)
	if s := b.State(m.Deployments[0]); s != gobreaker.StateClosed {
		t.Fatalf("state %v after two successful probes", s)
	}
}

// TestAttemptOutcome: try's error is the outcome even when it looks like a refusal, and a panic
// in try counts as a failure and reaches the caller.
func TestAttemptOutcome(t *testing.T) {
	t.Parallel()
	cat, m := model(t, catalog.PolicyPriority, []string{"a", "b"}, nil)
	b := New(cat, Options{ConsecutiveFailures: 1, OpenFor: time.Hour})
	a := m.Deployments[0]
	calls := 0
	if !b.Attempt(a, func() error { calls++; return gobreaker.ErrOpenState }) || calls != 1 {
		t.Fatalf("an attempt returning ErrOpenState reported as not run (%d calls)", calls)
	}
	if s := b.State(a); s != gobreaker.StateOpen {
		t.Fatalf("state %v after a failed attempt", s)
	}

	p := m.Deployments[1]
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the attempt's panic", r)
			}
		}()
		b.Attempt(p, func() error { panic("boom") })
		t.Error("Attempt returned after its try panicked")
	}()
	if s := b.State(p); s != gobreaker.StateOpen {
		t.Fatalf("state %v after a panicking attempt, want it counted as a failure", s)
	}
	if b.Attempt(p, func() error { return nil }) {
		t.Fatal("breaker opened by a panic admitted an attempt")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{FailureRatio: -0.1}, {FailureRatio: 1.5}, {OpenFor: -time.Second}, {Interval: -1}, {MaxCoolDown: -1}} {
		if o.Validate() == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("New accepted invalid options")
		}
	}()
	cat, _ := model(t, catalog.PolicyPriority, []string{"a"}, nil)
	New(cat, Options{FailureRatio: 2})
}

// TestWithHealthTracker wires a real tracker: failures demote a deployment, one success
// restores it, and latency ranking follows what the tracker measured.
func TestWithHealthTracker(t *testing.T) {
	t.Parallel()
	cat, m := model(t, catalog.PolicyLatency, []string{"a", "b"}, nil)
	tr := health.NewTracker([]string{"a", "b"}, health.Options{MinRequests: 4})
	b := New(cat, Options{Health: tr, ConsecutiveFailures: 100})
	now := time.Now()
	for range 5 {
		tr.Observe(0, health.Outcome{OK: true, TTFB: 100 * time.Millisecond, Latency: time.Second}, now)
		tr.Observe(1, health.Outcome{OK: true, TTFB: 300 * time.Millisecond, Latency: time.Second}, now)
	}
	pick := func(at time.Time) string {
		t.Helper()
		d := choose(t, b, m, nil, nil, at)
		attempt(t, b, d, nil)
		return d.Provider
	}
	if p := pick(now); p != "a" {
		t.Fatalf("picked %s, want the faster a", p)
	}
	for range 10 {
		tr.Observe(0, health.Outcome{}, now)
	}
	if p := pick(now.Add(time.Second)); p != "b" {
		t.Fatalf("picked %s after a failed 10 of 15 times, want b", p)
	}
	tr.Observe(0, health.Outcome{OK: true, TTFB: 100 * time.Millisecond}, now)
	if p := pick(now.Add(time.Second)); p != "a" {
		t.Fatalf("picked %s after a succeeded again, want a", p)
	}
}
