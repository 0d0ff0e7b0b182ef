//go:build !race

package proxy

import "testing"

// TestHotPathAllocatesNothing proves the design card's claim for the steps before and after the
// network: auth from a warm cache, body parsing, model lookup, usage extraction and cost
// insertion allocate nothing per request.
func TestHotPathAllocatesNothing(t *testing.T) {
	h := newHotPath(t)
	buf := make([]byte, 0, 2048)
	allocs := testing.AllocsPerRun(2000, func() { buf = h.run(t, buf) })
	if allocs != 0 {
		t.Fatalf("hot path allocates %.2f times per request, want 0", allocs)
	}
}

// TestStreamUsageEventAllocatesNothing covers the relay's per-event work once its buffers are warm.
func TestStreamUsageEventAllocatesNothing(t *testing.T) {
	r := &sseRelay{x: *testExchange()}
	events := []byte(upstreamStream)
	r.consume(events)
	allocs := testing.AllocsPerRun(2000, func() {
		r.out = r.out[:0]
		r.consume(events)
	})
	if allocs != 0 {
		t.Fatalf("relaying events allocates %.2f times per batch, want 0", allocs)
	}
}
