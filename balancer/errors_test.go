package balancer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arouter/arouter/catalog"
)

// TestNoDeploymentErrorNamesEveryReason builds the error with one deployment in each state and
// checks what a client and the proxy read from it.
func TestNoDeploymentErrorNamesEveryReason(t *testing.T) {
	t.Parallel()
	cat, m := model(t, catalog.PolicyPriority, []string{"tried", "open", "cool", "ignored"}, nil)
	b := New(cat, Options{ConsecutiveFailures: 1, OpenFor: time.Hour})
	now := time.Now()
	open(t, b, m.Deployments[1])
	b.CoolDown(m.Deployments[2], now.Add(2500*time.Millisecond))
	r := &Route{Ignore: []string{"ignored"}}

	var att Attempts
	d, err := b.Choose(m, r, &att, now)
	if err != nil || d.Provider != "tried" {
		t.Fatalf("first choice %v, %v", d, err)
	}
	attempt(t, b, d, ErrClientGone)
	att.Add(d, errors.New("provider tried failed: overloaded"))
	_, err = b.Choose(m, r, &att, now)
	var nd *NoDeploymentError
	if !errors.As(err, &nd) {
		t.Fatalf("err = %v", err)
	}
	want := []Reason{ReasonTried, ReasonCircuitOpen, ReasonCoolingDown, ReasonExcluded}
	for i, s := range nd.Deployments {
		if s.Deployment != m.Deployments[i] || s.Reason != want[i] {
			t.Errorf("deployment %d: %s %v, want %v", i, s.Deployment.Name(), s.Reason, want[i])
		}
	}
	if u := nd.Deployments[1].Until; u.Sub(now) < 59*time.Minute || u.Sub(now) > time.Hour+time.Minute {
		t.Errorf("open until %v, want about an hour from now", u)
	}
	if !nd.RetryAt.Equal(now.Add(2500*time.Millisecond)) || nd.RetryAfter() != 3*time.Second {
		t.Errorf("RetryAt %v, RetryAfter %v; want the cooldown's end, 3s", nd.RetryAt, nd.RetryAfter())
	}
	msg := err.Error()
	for _, part := range []string{
		"no provider available for a/m: ",
		"a/m@tried failed (provider tried failed: overloaded)",
		"a/m@open circuit open, retry in 1h0m", // opened a moment after now
		"a/m@cool rate-limited by the provider, retry in 3s",
		"a/m@ignored excluded by the request's provider preferences",
	} {
		if !strings.Contains(msg, part) {
			t.Errorf("message lacks %q:\n%s", part, msg)
		}
	}

	// Nothing will free up: no RetryAt.
	_, err = b.Choose(m, &Route{Only: []string{"tried"}}, &att, now)
	if !errors.As(err, &nd) || !nd.RetryAt.IsZero() || nd.RetryAfter() != 0 {
		t.Fatalf("all tried or excluded: %v, RetryAt %v", err, nd.RetryAt)
	}
}

func TestHalfOpenProbeInFlightIsNamed(t *testing.T) {
	t.Parallel()
	cat, m := model(t, catalog.PolicyPriority, []string{"a"}, nil)
	b := New(cat, Options{ConsecutiveFailures: 1, OpenFor: time.Nanosecond})
	open(t, b, m.Deployments[0])
	finish := hold(t, b, choose(t, b, m, nil, nil, time.Now())) // the probe
	defer finish(nil)
	var att Attempts
	d := choose(t, b, m, nil, &att, time.Now())
	if b.Attempt(d, func() error { t.Error("second probe ran"); return nil }) {
		t.Fatal("half-open breaker admitted a second probe")
	}
	att.Refuse(d)
	_, err := b.Choose(m, nil, &att, time.Now())
	var nd *NoDeploymentError
	if !errors.As(err, &nd) || nd.Deployments[0].Reason != ReasonHalfOpen {
		t.Fatalf("err = %v", err)
	}
}

func TestAttemptLimit(t *testing.T) {
	t.Parallel()
	cat, m := model(t, catalog.PolicyPriority, []string{"a", "b"}, nil)
	b := New(cat, Options{})
	var att Attempts
	other := &catalog.Deployment{Model: &catalog.Model{ID: "x/y"}, Provider: "p"}
	for range MaxAttempts {
		if !att.Add(other, errA) {
			t.Fatal("Add refused before MaxAttempts")
		}
	}
	if att.Add(other, errA) || att.Len() != MaxAttempts || !att.Full() {
		t.Fatal("Add accepted more than MaxAttempts")
	}
	if att.Tried(m) != 0 {
		t.Fatal("another model's attempts count as tried")
	}
	_, err := b.Choose(m, nil, &att, time.Now())
	var nd *NoDeploymentError
	if !errors.As(err, &nd) || nd.Deployments[0].Reason != ReasonAttemptLimit {
		t.Fatalf("err = %v", err)
	}
	att.Reset()
	if att.Len() != 0 || att.List() != nil && len(att.List()) != 0 {
		t.Fatal("Reset left attempts")
	}
	if _, err := b.Choose(m, nil, &att, time.Now()); err != nil {
		t.Fatal(err)
	}
}
