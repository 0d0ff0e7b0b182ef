//go:build !race

package accounting

import (
	"context"
	"testing"
	"time"
)

func TestEnqueueAndIDAllocateNothing(t *testing.T) {
	w := NewWriter(&memSink{}, Options{QueueSize: 1 << 16, FlushInterval: time.Hour})
	defer w.Close(context.Background())
	r := Record{Model: "m", Provider: "p"}
	allocs := testing.AllocsPerRun(1000, func() {
		r.GenerationID = NewGenerationID(time.Now())
		w.Enqueue(&r)
	})
	if allocs != 0 {
		t.Fatalf("enqueue allocates %.1f per record, want 0", allocs)
	}
}
