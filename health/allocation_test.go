//go:build !race

package health

import (
	"testing"
	"time"
)

// TestObserveAllocatesNothing backs the package's promise to the proxy: recording a request,
// including the once-a-minute bucket reset, allocates nothing.
func TestObserveAllocatesNothing(t *testing.T) {
	tr := New([]string{"a", "b"}, nil)
	o := Outcome{OK: true, TTFB: 150 * time.Millisecond, Latency: 2 * time.Second, CompletionTokens: 300}
	k := 0
	allocs := testing.AllocsPerRun(5000, func() {
		k++
		at := base.Add(time.Duration(k) * time.Second) // crosses minute and hour boundaries
		tr.Observe(k%2, o, at)
		tr.Observe(k%2, Outcome{}, at)
	})
	if allocs != 0 {
		t.Fatalf("Observe allocates %.2f times per call, want 0", allocs)
	}
}

// TestReadAllocatesNothing covers the read side a router would call per request.
func TestReadAllocatesNothing(t *testing.T) {
	tr := New([]string{"a"}, nil)
	tr.Observe(0, Outcome{OK: true, TTFB: time.Second, Latency: time.Second}, base)
	allocs := testing.AllocsPerRun(1000, func() {
		_ = tr.Window(0, Span5m, base)
		_ = tr.Snapshot(0, base)
	})
	if allocs != 0 {
		t.Fatalf("reading allocates %.2f times per call, want 0", allocs)
	}
}

// TestScoreAllocatesNothing covers the router's read, including the once-a-second refresh, and
// the probe's write.
func TestScoreAllocatesNothing(t *testing.T) {
	tr := New([]string{"a"}, nil)
	tr.Observe(0, Outcome{OK: true, TTFB: time.Second, Latency: 2 * time.Second, CompletionTokens: 10}, base)
	k := 0
	allocs := testing.AllocsPerRun(1000, func() {
		k++
		at := base.Add(time.Duration(k) * 100 * time.Millisecond) // a refresh every 10 runs
		_ = tr.Score(0, at)
		tr.ObserveProbe(0, k%2 == 0, at)
		_ = tr.Healthy(0)
	})
	if allocs != 0 {
		t.Fatalf("Score allocates %.2f times per call, want 0", allocs)
	}
}
