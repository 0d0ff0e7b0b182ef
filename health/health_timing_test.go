package health

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkObserve measures Observe as the proxy calls it: from every core at once, with
// time.Now. "one" makes all goroutines contend for one deployment's buckets, the worst case;
// "spread" gives each goroutine its own deployment.
func BenchmarkObserve(b *testing.B) {
	o := Outcome{OK: true, TTFB: 150 * time.Millisecond, Latency: 2 * time.Second, CompletionTokens: 300}
	for _, mode := range []string{"one", "spread"} {
		b.Run(mode, func(b *testing.B) {
			names := make([]string, 64)
			for i := range names {
				names[i] = "model-" + strconv.Itoa(i) + "@p"
			}
			tr := New(names, nil)
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				if mode == "spread" {
					i = int(next.Add(1)) % len(names)
				}
				for pb.Next() {
					tr.Observe(i, o, time.Now())
				}
			})
		})
	}
}

// BenchmarkWindow measures the read a latency-aware router would make.
func BenchmarkWindow(b *testing.B) {
	tr := New([]string{"a"}, nil)
	now := time.Now()
	for k := range 1000 {
		tr.Observe(0, Outcome{OK: true, TTFB: time.Duration(k) * time.Millisecond}, now.Add(-time.Duration(k)*time.Second))
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = tr.Window(0, Span5m, now)
	}
}

// BenchmarkScore measures the router's per-candidate read from every core, with the clock
// moving so that the cached score is recomputed once a second as in production.
func BenchmarkScore(b *testing.B) {
	tr := New([]string{"a"}, nil)
	now := time.Now()
	for k := range 1000 {
		tr.Observe(0, Outcome{OK: true, TTFB: time.Duration(k) * time.Millisecond}, now.Add(-time.Duration(k%300)*time.Second))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = tr.Score(0, time.Now())
		}
	})
}
