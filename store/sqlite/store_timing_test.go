package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
)

// BenchmarkWriteUsage measures the accounting writer's steady state: batches of 500 fresh
// records, each batch one transaction.
func BenchmarkWriteUsage(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	const batch = 500
	recs := testRecords(batch)
	// Time moves on as in a running gateway, 20µs per record: the rows' creation times and
	// their (time-sorted) generation ids land at the end of their indexes. One fixed time
	// would scatter them through the indexes and write several times the pages a real
	// batch does.
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for i := range recs {
			now = now.Add(20 * time.Microsecond)
			recs[i].Time = now
			recs[i].GenerationID = accounting.NewGenerationID(now)
		}
		b.StartTimer()
		if err := s.WriteUsage(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkLoadKey measures the key cache's miss and refresh path, for a key without a models
// restriction (no JSON to decode) and for one with two patterns.
func BenchmarkLoadKey(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	var plain, models *apikey.Key
	for i := range 1000 {
		k := testKey(i, i%2 == 0)
		k.OrgID, k.CreatorID = int64(i%10+1), 1
		if err := s.InsertKey(ctx, k); err != nil {
			b.Fatal(err)
		}
		if len(k.AllowedModels) == 0 {
			plain = k
		} else {
			models = k
		}
	}
	for _, c := range []struct {
		name string
		k    *apikey.Key
	}{{"unrestricted", plain}, {"models", models}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.LoadKey(ctx, c.k.Hash); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
