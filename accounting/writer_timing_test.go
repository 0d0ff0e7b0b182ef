package accounting

import (
	"context"
	"testing"
	"time"
)

func BenchmarkEnqueue(b *testing.B) {
	w := NewWriter(&memSink{}, Options{QueueSize: 1 << 20, BatchSize: 500})
	defer w.Close(context.Background())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := Record{Model: "m", Provider: "p"}
		for pb.Next() {
			r.GenerationID = NewGenerationID(time.Now())
			w.Enqueue(&r)
		}
	})
}
