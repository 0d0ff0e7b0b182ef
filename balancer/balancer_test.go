package balancer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/arouter/arouter/catalog"
)

func twoDeployments(t *testing.T) (*catalog.Catalog, *catalog.Model) {
	t.Helper()
	c, err := catalog.New([]catalog.ModelSpec{{ID: "a/m", Deployments: []catalog.DeploymentSpec{
		{Provider: "primary", UpstreamModel: "m"}, {Provider: "backup", UpstreamModel: "m"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return c, c.Lookup([]byte("a/m"))
}

func TestChoosesInPriorityOrderAndSkipsOpenBreakers(t *testing.T) {
	t.Parallel()
	c, m := twoDeployments(t)
	b := New(c, Options{ConsecutiveFailures: 3, OpenFor: time.Hour})
	fail := errors.New("502 from provider")
	for range 3 {
		d, err := b.Choose(m, nil, nil, time.Now())
		if err != nil || d.Provider != "primary" {
			t.Fatalf("choose = %v, %v; want primary", d, err)
		}
		attempt(t, b, d, fail)
	}
	if b.State(m.Deployments[0]) != gobreaker.StateOpen {
		t.Fatal("breaker not open after 3 consecutive failures")
	}
	if b.Attempt(m.Deployments[0], func() error { t.Error("open breaker ran the attempt"); return nil }) {
		t.Fatal("open breaker admitted an attempt")
	}
	d, err := b.Choose(m, nil, nil, time.Now())
	if err != nil || d.Provider != "backup" {
		t.Fatalf("with primary open, choose = %v, %v; want backup", d, err)
	}
	attempt(t, b, d, nil)
	// Exhaust the backup too: the error names both deployments.
	for range 3 {
		attempt(t, b, choose(t, b, m, nil, nil, time.Now()), fail)
	}
	_, err = b.Choose(m, nil, nil, time.Now())
	var nd *NoDeploymentError
	if !errors.As(err, &nd) || !strings.Contains(err.Error(), "a/m@primary") || !strings.Contains(err.Error(), "a/m@backup") {
		t.Fatalf("all open: err = %v", err)
	}
}

func TestClientCancellationsDoNotOpenTheBreaker(t *testing.T) {
	t.Parallel()
	c, m := twoDeployments(t)
	b := New(c, Options{ConsecutiveFailures: 2, OpenFor: time.Hour})
	for range 10 {
		attempt(t, b, choose(t, b, m, nil, nil, time.Now()), ErrClientGone)
	}
	// Wrapped, too.
	attempt(t, b, m.Deployments[0], errors.Join(errors.New("read: connection reset"), ErrClientGone))
	if s := b.State(m.Deployments[0]); s != gobreaker.StateClosed {
		t.Fatalf("breaker %v after client cancellations", s)
	}
}

// TestHalfOpenProbeClosesOnSuccess waits out a short OpenFor: the time passing is what is tested.
func TestHalfOpenProbeClosesOnSuccess(t *testing.T) {
	t.Parallel()
	c, m := twoDeployments(t)
	b := New(c, Options{ConsecutiveFailures: 1, OpenFor: 20 * time.Millisecond})
	attempt(t, b, choose(t, b, m, nil, nil, time.Now()), errors.New("boom"))
	if b.State(m.Deployments[0]) != gobreaker.StateOpen {
		t.Fatal("not open")
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.State(m.Deployments[0]) != gobreaker.StateHalfOpen {
		if time.Now().After(deadline) {
			t.Fatal("never half-open")
		}
		time.Sleep(5 * time.Millisecond)
	}
	d, err := b.Choose(m, nil, nil, time.Now())
	if err != nil || d.Provider != "primary" {
		t.Fatalf("half-open probe went to %v, %v", d, err)
	}
	finish := hold(t, b, d)
	// While the probe is out, another request is refused by the primary and goes to the backup.
	var att Attempts
	d2 := choose(t, b, m, nil, &att, time.Now())
	if d2 != d {
		t.Fatalf("second request chose %s, want primary (Choose takes no probe slot)", d2.Provider)
	}
	if b.Attempt(d2, func() error { t.Error("second probe ran"); return nil }) {
		t.Fatal("half-open breaker admitted a second probe")
	}
	att.Refuse(d2)
	if d2 = choose(t, b, m, nil, &att, time.Now()); d2.Provider != "backup" {
		t.Fatalf("second request during probe went to %s", d2.Provider)
	}
	attempt(t, b, d2, nil)
	finish(nil)
	if b.State(m.Deployments[0]) != gobreaker.StateClosed {
		t.Fatal("successful probe did not close the breaker")
	}
}

func TestChooseSkipsDeploymentsAlreadyTried(t *testing.T) {
	t.Parallel()
	c, m := twoDeployments(t)
	b := New(c, Options{})
	var att Attempts
	d := choose(t, b, m, nil, &att, time.Now())
	if d.Pos != 0 {
		t.Fatalf("first choice %v at %d", d, d.Pos)
	}
	attempt(t, b, d, nil)
	att.Add(d, errA)
	d = choose(t, b, m, nil, &att, time.Now())
	if d.Pos != 1 || d.Provider != "backup" {
		t.Fatalf("after trying primary: %v at %d", d, d.Pos)
	}
	attempt(t, b, d, nil)
	att.Add(d, errA)
	if _, err := b.Choose(m, nil, &att, time.Now()); err == nil {
		t.Fatal("chose a deployment although both were tried")
	}
}

// TestChooseSkipsRefusedDeployments covers the bookkeeping of refusals: they steer Choose, are
// named in the final error, are not attempts, belong to one model, and Reset forgets them.
func TestChooseSkipsRefusedDeployments(t *testing.T) {
	t.Parallel()
	c, m := twoDeployments(t)
	b := New(c, Options{})
	var att Attempts
	att.Refuse(m.Deployments[0])
	if d := choose(t, b, m, nil, &att, time.Now()); d.Provider != "backup" {
		t.Fatalf("chose %s after primary refused, want backup", d.Provider)
	}
	if att.Len() != 0 || att.Tried(m) != 0 || att.Refused(m) != Tried(0).With(0) {
		t.Fatalf("refusal recorded as an attempt: %d attempts, tried %b, refused %b", att.Len(), att.Tried(m), att.Refused(m))
	}
	att.Refuse(m.Deployments[1])
	_, err := b.Choose(m, nil, &att, time.Now())
	var nd *NoDeploymentError
	if !errors.As(err, &nd) || nd.Deployments[0].Reason != ReasonHalfOpen || nd.Deployments[1].Reason != ReasonHalfOpen {
		t.Fatalf("both refused: err = %v", err)
	}
	// A refusal on another model forgets this one's.
	_, other := twoDeployments(t)
	att.Refuse(other.Deployments[1])
	if att.Refused(m) != 0 || att.Refused(other) != Tried(0).With(1) {
		t.Fatalf("refused %b on m, %b on the other model", att.Refused(m), att.Refused(other))
	}
	att.Refuse(m.Deployments[0])
	att.Reset()
	if att.Refused(m) != 0 {
		t.Fatal("Reset kept the refusals")
	}
	if d := choose(t, b, m, nil, &att, time.Now()); d.Provider != "primary" {
		t.Fatalf("chose %s after Reset, want primary", d.Provider)
	}
}
