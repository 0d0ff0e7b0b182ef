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

func TestPicksInPriorityOrderAndSkipsOpenBreakers(t *testing.T) {
	t.Parallel()
	c, m := twoDeployments(t)
	b := New(c, Options{ConsecutiveFailures: 3, OpenFor: time.Hour})
	fail := errors.New("502 from provider")
	for range 3 {
		d, _, done, err := b.Pick(m, 0)
		if err != nil || d.Provider != "primary" {
			t.Fatalf("pick = %v, %v; want primary", d, err)
		}
		done(fail)
	}
	if b.State(m.Deployments[0]) != gobreaker.StateOpen {
		t.Fatal("breaker not open after 3 consecutive failures")
	}
	d, _, done, err := b.Pick(m, 0)
	if err != nil || d.Provider != "backup" {
		t.Fatalf("with primary open, pick = %v, %v; want backup", d, err)
	}
	done(nil)
	// Exhaust the backup too: the error names both deployments.
	for range 3 {
		_, _, done, _ := b.Pick(m, 0)
		done(fail)
	}
	_, _, _, err = b.Pick(m, 0)
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
		_, _, done, _ := b.Pick(m, 0)
		done(ErrClientGone)
	}
	if s := b.State(m.Deployments[0]); s != gobreaker.StateClosed {
		t.Fatalf("breaker %v after client cancellations", s)
	}
}

func TestHalfOpenProbeClosesOnSuccess(t *testing.T) {
	t.Parallel()
	c, m := twoDeployments(t)
	b := New(c, Options{ConsecutiveFailures: 1, OpenFor: 20 * time.Millisecond})
	_, _, done, _ := b.Pick(m, 0)
	done(errors.New("boom"))
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
	d, _, done, err := b.Pick(m, 0)
	if err != nil || d.Provider != "primary" {
		t.Fatalf("half-open probe went to %v, %v", d, err)
	}
	// While the probe is out, other requests go to the backup.
	d2, _, done2, _ := b.Pick(m, 0)
	if d2.Provider != "backup" {
		t.Fatalf("second request during probe went to %s", d2.Provider)
	}
	done2(nil)
	done(nil)
	if b.State(m.Deployments[0]) != gobreaker.StateClosed {
		t.Fatal("successful probe did not close the breaker")
	}
}

func TestPickSkipsDeploymentsAlreadyTried(t *testing.T) {
	t.Parallel()
	c, m := twoDeployments(t)
	b := New(c, Options{})
	d, pos, done, err := b.Pick(m, 0)
	if err != nil || pos != 0 {
		t.Fatalf("first pick %v at %d: %v", d, pos, err)
	}
	done(nil)
	d, pos, done, err = b.Pick(m, Tried(0).With(0))
	if err != nil || pos != 1 || d.Provider != "backup" {
		t.Fatalf("after trying primary: %v at %d: %v", d, pos, err)
	}
	done(nil)
	if _, _, _, err := b.Pick(m, Tried(0).With(0).With(1)); err == nil {
		t.Fatal("picked a deployment although both were tried")
	}
}
