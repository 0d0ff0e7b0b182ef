package sqlite

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// rollUpTables returns every roll-up's rows as text, to check that something left them alone.
func rollUpTables(t testing.TB, s *Store) [][]string {
	t.Helper()
	return [][]string{
		textRows(t, s.r, "SELECT * FROM usage_daily ORDER BY 1, 2, 3, 4, 5, 6"),
		textRows(t, s.r, "SELECT * FROM usage_daily_models ORDER BY 1, 2, 3, 4"),
		textRows(t, s.r, "SELECT * FROM usage_daily_keys ORDER BY 1, 2, 3"),
	}
}

// DeleteUsageBefore deletes the oldest records first, at most batch per call, only those
// before the cutoff, and leaves the roll-ups (what activity reports read) as they were.
func TestDeleteUsageBefore(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(300)
	base := recs[0].Time
	for i := range recs {
		recs[i].Time = base.Add(time.Duration(i%10) * 24 * time.Hour) // ten days, 30 records each
	}
	must(t, s.WriteUsage(ctx, recs))
	before := rollUpTables(t, s)
	cutoff := base.Add(4 * 24 * time.Hour) // days 0-3 go: 120 records

	var batches []int64
	for {
		n, err := s.DeleteUsageBefore(ctx, cutoff, 50)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, n)
		if n < 50 {
			break
		}
	}
	if !reflect.DeepEqual(batches, []int64{50, 50, 20}) {
		t.Errorf("batches %v, want [50 50 20]", batches)
	}
	if n := countUsage(t, s); n != 180 {
		t.Errorf("%d records left, want 180", n)
	}
	var oldest int64
	must(t, s.r.QueryRow("SELECT min(created_at) FROM usage_records").Scan(&oldest))
	if oldest < cutoff.UnixMicro() {
		t.Errorf("a record from %v survived a cutoff of %v", time.UnixMicro(oldest).UTC(), cutoff)
	}
	for _, r := range recs {
		_, err := s.UsageByGeneration(ctx, r.GenerationID.String())
		if gone := err != nil; gone != r.Time.Before(cutoff) {
			t.Errorf("record at %v: lookup error %v", r.Time, err)
		}
	}
	if got := rollUpTables(t, s); !reflect.DeepEqual(got, before) {
		t.Errorf("the roll-ups changed when records were deleted:\n got %v\nwant %v", got, before)
	}
	for _, batch := range []int{0, -1, maxDeleteBatch + 1} {
		if _, err := s.DeleteUsageBefore(ctx, cutoff, batch); err == nil {
			t.Errorf("batch %d accepted", batch)
		}
	}
}

// The batch is found through the created_at index, not by scanning the table.
func TestDeleteUsageBeforeUsesIndex(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	plan := strings.Join(textRows(t, s.r, `EXPLAIN QUERY PLAN SELECT rowid FROM usage_records
		WHERE created_at < 5 ORDER BY created_at LIMIT 10`), " ")
	if !strings.Contains(plan, "usage_records_created_at") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("plan %q does not walk usage_records_created_at", plan)
	}
}
