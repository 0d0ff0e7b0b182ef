package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
)

// BenchmarkWriteUsage measures the accounting writer's steady state: batches of 500 fresh
// records, each batch one transaction. store/sqlite has the same benchmark.
func BenchmarkWriteUsage(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	const batch = 500
	recs := testRecords(batch)
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for i := range recs {
			recs[i].GenerationID = accounting.NewGenerationID(now)
		}
		b.StartTimer()
		if err := s.WriteUsage(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkWriteUsageReplay measures a replayed batch: every record already stored, so the
// insert skips them all and no roll-up row changes.
func BenchmarkWriteUsageReplay(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	const batch = 500
	recs := testRecords(batch)
	if err := s.WriteUsage(ctx, recs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.WriteUsage(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}
