//go:build !race

package balancer

import (
	"testing"
	"time"

	"github.com/arouter/arouter/catalog"
)

// TestSelectionAllocatesOnlyTheBreakerClosure backs the package's promise: choosing a
// deployment, under every policy and with a route, costs gobreaker's Allow closure and nothing
// else, including the health score refresh once a second and a failover to a second choice.
func TestSelectionAllocatesOnlyTheBreakerClosure(t *testing.T) {
	for _, c := range selectionCases {
		t.Run(c.name, func(t *testing.T) {
			b, m := selectionSetup(t, c.policy)
			start := time.Now()
			k := 0
			allocs := testing.AllocsPerRun(2000, func() {
				k++
				now := start.Add(time.Duration(k) * 10 * time.Millisecond) // refreshes scores every 100 runs
				var att Attempts
				d, done, err := b.PickRoute(m, c.route, &att, now)
				if err != nil {
					t.Fatal(err)
				}
				done(nil)
				if c.route != nil && c.route.NoFallbacks {
					return
				}
				att.Add(d, errA)
				_, done, err = b.PickRoute(m, c.route, &att, now)
				if err != nil {
					t.Fatal(err)
				}
				done(nil)
			})
			want := 2.0
			if c.route != nil && c.route.NoFallbacks {
				want = 1
			}
			if allocs > want {
				t.Fatalf("selection allocates %.2f times, want %v (gobreaker's closure per pick)", allocs, want)
			}
		})
	}
}

// TestBookkeepingAllocatesNothing covers what the proxy calls around selection.
func TestBookkeepingAllocatesNothing(t *testing.T) {
	b, m := selectionSetup(t, catalog.PolicyPriority)
	d := m.Deployments[1]
	now := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		var att Attempts
		att.Add(d, errA)
		_ = att.Tried(m)
		b.CoolDown(d, now.Add(time.Second))
		_ = b.CoolingUntil(d)
		_ = b.Status(d, now)
		_, _ = ParseSort([]byte("latency"))
	})
	if allocs != 0 {
		t.Fatalf("bookkeeping allocates %.2f times, want 0", allocs)
	}
}
