package balancer

import (
	"testing"
	"time"
)

// BenchmarkChooseAttempt measures one selection and an attempt under the chosen breaker, as every
// request makes them, from all cores at once, under each policy and with routes.
func BenchmarkChooseAttempt(b *testing.B) {
	for _, c := range selectionCases {
		b.Run(c.name, func(b *testing.B) {
			bal, m := selectionSetup(b, c.policy)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d, err := bal.Choose(m, c.route, nil, time.Now())
					if err != nil {
						b.Fatal(err)
					}
					if !bal.Attempt(d, func() error { return nil }) {
						b.Fatal("breaker refused")
					}
				}
			})
		})
	}
}

// BenchmarkChooseAttemptSerial is the same from one goroutine: the cost without contention for
// the breaker's lock.
func BenchmarkChooseAttemptSerial(b *testing.B) {
	for _, c := range selectionCases {
		b.Run(c.name, func(b *testing.B) {
			bal, m := selectionSetup(b, c.policy)
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				d, err := bal.Choose(m, c.route, nil, now)
				if err != nil {
					b.Fatal(err)
				}
				if !bal.Attempt(d, func() error { return nil }) {
					b.Fatal("breaker refused")
				}
			}
		})
	}
}

// BenchmarkChoose is selection alone: the ranking, without the breaker's admission.
func BenchmarkChoose(b *testing.B) {
	for _, c := range selectionCases {
		b.Run(c.name, func(b *testing.B) {
			bal, m := selectionSetup(b, c.policy)
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bal.Choose(m, c.route, nil, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAttempt is the breaker alone: admission and report around an attempt that succeeds
// at once, from all cores at once on one deployment.
func BenchmarkAttempt(b *testing.B) {
	bal, m := selectionSetup(b, 0)
	d := m.Deployments[0]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !bal.Attempt(d, func() error { return nil }) {
				b.Fatal("breaker refused")
			}
		}
	})
}
