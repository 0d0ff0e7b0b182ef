//go:build !race

package balancer

import (
	"testing"
	"time"

	"github.com/arouter/arouter/catalog"
)

// TestAllocationFreeChooseAndAttempt backs the package's promise: choosing a deployment and
// running an attempt on it, under every policy and with a route, allocates nothing, including
// the health score refresh once a second and a failover to a second choice. The try functions
// capture locals, as the proxy's do.
func TestAllocationFreeChooseAndAttempt(t *testing.T) {
	for _, c := range selectionCases {
		t.Run(c.name, func(t *testing.T) {
			b, m := selectionSetup(t, c.policy)
			start := time.Now()
			k := 0
			allocs := testing.AllocsPerRun(2000, func() {
				k++
				now := start.Add(time.Duration(k) * 10 * time.Millisecond) // refreshes scores every 100 runs
				var att Attempts
				tries := 0
				d, err := b.Choose(m, c.route, &att, now)
				if err != nil {
					t.Fatal(err)
				}
				// The first choice answers 429, which fails the request over without counting
				// against the deployment's breaker (a failure would open it in five runs).
				if !b.Attempt(d, func() error { tries++; return nil }) {
					t.Fatal("breaker refused the first attempt")
				}
				if c.route != nil && c.route.NoFallbacks {
					return
				}
				att.Add(d, errA)
				d, err = b.Choose(m, c.route, &att, now)
				if err != nil {
					t.Fatal(err)
				}
				if !b.Attempt(d, func() error { tries++; return nil }) || tries != 2 {
					t.Fatalf("second attempt not run (%d tries)", tries)
				}
			})
			if allocs != 0 {
				t.Fatalf("Choose and Attempt allocate %.2f times, want 0", allocs)
			}
		})
	}
}

// TestAllocationFreeAttemptClosure: a closure passed to Attempt that captures locals and
// changes them stays on the caller's stack. Were it to escape, each captured variable would be
// moved to the heap.
func TestAllocationFreeAttemptClosure(t *testing.T) {
	b, m := selectionSetup(t, catalog.PolicyPriority)
	d := m.Deployments[0]
	total := 0
	allocs := testing.AllocsPerRun(1000, func() {
		calls, status := 0, ""
		var buf [64]byte
		n := 0
		ran := b.Attempt(d, func() error {
			calls++
			n = copy(buf[:], d.Provider)
			status = "served"
			return nil
		})
		// Nothing captured is handed to t.Fatal: that alone would move it to the heap.
		if !ran || calls != 1 || status != "served" || string(buf[:n]) != "a" {
			t.Fatal("the attempt did not run once, or its changes were lost")
		}
		total += calls
	})
	if allocs != 0 {
		t.Fatalf("Attempt with a capturing closure allocates %.2f times, want 0", allocs)
	}
	if total == 0 {
		t.Fatal("the attempts never ran")
	}
}

// TestAllocationFreeBookkeeping covers what the proxy calls around selection, including a
// refusal and the choice after it.
func TestAllocationFreeBookkeeping(t *testing.T) {
	b, m := selectionSetup(t, catalog.PolicyPriority)
	d := m.Deployments[1]
	now := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		var att Attempts
		att.Add(d, errA)
		_ = att.Tried(m)
		att.Refuse(m.Deployments[0])
		if c, err := b.Choose(m, nil, &att, now); err != nil || c != m.Deployments[2] {
			t.Fatalf("chose %v (%v) after a refusal and a failure, want c", c, err)
		}
		att.Reset()
		b.CoolDown(d, now.Add(time.Second))
		_ = b.CoolingUntil(d)
		_ = b.Status(d, now)
		_, _ = ParseSort([]byte("latency"))
	})
	if allocs != 0 {
		t.Fatalf("bookkeeping allocates %.2f times, want 0", allocs)
	}
}
