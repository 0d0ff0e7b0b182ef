package accounting

import (
	"context"
	"testing"
	"time"
)

// discardSink accepts everything at once, so that a benchmark measures the writer, not a
// sink's copying.
type discardSink struct{}

func (discardSink) WriteUsage(context.Context, []Record) error { return nil }

// BenchmarkEnqueue includes the writer goroutine's share (reading records back from the
// spool), since it runs on the same cores.
func BenchmarkEnqueue(b *testing.B) {
	w := NewWriter(discardSink{}, Options{BatchSize: 500})
	benchmarkEnqueue(b, w)
}

// BenchmarkEnqueueFileSpool is Enqueue as the gateway runs it: into a memory-mapped spool file.
func BenchmarkEnqueueFileSpool(b *testing.B) {
	w, err := OpenWriter(discardSink{}, Options{BatchSize: 500, SpoolDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	benchmarkEnqueue(b, w)
}

func benchmarkEnqueue(b *testing.B, w *Writer) {
	defer w.Close(context.Background())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := Record{Model: "openai/gpt-4o-mini", Provider: "openai", UpstreamModel: "gpt-4o-mini",
			KeyID: 12, OrgID: 3, BudgetID: 12, PromptTokens: 1200, CompletionTokens: 300, Cost: 123456,
			Latency: 800 * time.Millisecond, TTFB: 200 * time.Millisecond, Status: 200}
		for pb.Next() {
			r.Time = time.Now()
			r.GenerationID = NewGenerationID(r.Time)
			w.Enqueue(&r)
		}
	})
}
