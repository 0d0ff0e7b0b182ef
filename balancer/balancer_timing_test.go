package balancer

import (
	"testing"
	"time"
)

// BenchmarkPickRoute measures one selection and its report, as every request makes them, from
// all cores at once, under each policy and with routes.
func BenchmarkPickRoute(b *testing.B) {
	for _, c := range selectionCases {
		b.Run(c.name, func(b *testing.B) {
			bal, m := selectionSetup(b, c.policy)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, done, err := bal.PickRoute(m, c.route, nil, time.Now())
					if err != nil {
						b.Fatal(err)
					}
					done(nil)
				}
			})
		})
	}
}

// BenchmarkPickRouteSerial is the same from one goroutine: the cost of selection without
// contention for the breaker's lock.
func BenchmarkPickRouteSerial(b *testing.B) {
	for _, c := range selectionCases {
		b.Run(c.name, func(b *testing.B) {
			bal, m := selectionSetup(b, c.policy)
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				_, done, err := bal.PickRoute(m, c.route, nil, now)
				if err != nil {
					b.Fatal(err)
				}
				done(nil)
			}
		})
	}
}

// BenchmarkChoose isolates the ranking from the breaker: the part of selection this package
// adds to gobreaker's admission.
func BenchmarkChoose(b *testing.B) {
	for _, c := range selectionCases {
		b.Run(c.name, func(b *testing.B) {
			bal, m := selectionSetup(b, c.policy)
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				if bal.choose(m, c.route, 0, now) < 0 {
					b.Fatal("nothing chosen")
				}
			}
		})
	}
}

// BenchmarkPickLegacy is the selection the proxy used before PickRoute, for comparison.
func BenchmarkPickLegacy(b *testing.B) {
	bal, m := selectionSetup(b, 0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _, done, err := bal.Pick(m, 0)
			if err != nil {
				b.Fatal(err)
			}
			done(nil)
		}
	})
}
