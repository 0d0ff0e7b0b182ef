package postgres

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arouter/arouter/store/postgres/pgtest"
)

// rollUpTables returns every roll-up's rows as text, to check that something left them alone.
func rollUpTables(t testing.TB, s *Store) [][]string {
	t.Helper()
	return [][]string{
		textRows(t, s, "SELECT * FROM usage_daily ORDER BY 1, 2, 3, 4, 5, 6"),
		textRows(t, s, "SELECT * FROM usage_daily_models ORDER BY 1, 2, 3, 4"),
		textRows(t, s, "SELECT * FROM usage_daily_keys ORDER BY 1, 2, 3"),
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
	must(t, s.pool.QueryRow(ctx, "SELECT min(created_at) FROM usage_records").Scan(&oldest))
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

// The pruners of two replicas deleting at once neither fail nor delete a record twice, and
// between them delete exactly the records before the cutoff.
func TestDeleteUsageBeforeConcurrent(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a, b := openAt(t, url), openAt(t, url)
	ctx := context.Background()
	recs := testRecords(3000)
	must(t, a.WriteUsage(ctx, recs))
	cutoff := recs[2000].Time
	deleted := make(chan int64, 2)
	for _, s := range []*Store{a, b} {
		go func() {
			var total int64
			for {
				n, err := s.DeleteUsageBefore(ctx, cutoff, 100)
				if err != nil {
					t.Error(err)
					break
				}
				total += n
				if n == 0 {
					break
				}
			}
			deleted <- total
		}()
	}
	if total := <-deleted + <-deleted; total != 2000 {
		t.Errorf("the two pruners deleted %d records, want 2000", total)
	}
	if n := countUsage(t, a); n != 1000 {
		t.Errorf("%d records left, want 1000", n)
	}
}

// The batch is found through the created_at index, in its order, not by sorting the table:
// in a table of many days' records, analysed, as in production.
func TestDeleteUsageBeforeUsesIndex(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	exec(t, s, `INSERT INTO usage_records (generation_id, created_at, key_id, model, provider, upstream_model,
			prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos,
			latency_us, ttfb_us, status, streamed, cancelled)
		SELECT 'gen-' || i, i::bigint * 1000000, 1, 'm', 'p', 'u', 1, 1, 0, 0, 0, 1, 1, 1, 200, 0, 0
		FROM generate_series(1, 20000) i`)
	exec(t, s, "ANALYZE usage_records")
	plan := explain(t, s, deleteUsageSQL, int64(5_000_000_000), 1000)
	if !indexCond(plan, "usage_records_created_at", "created_at < ") || strings.Contains(plan, "Sort") {
		t.Errorf("plan\n%s\ndoes not walk usage_records_created_at", plan)
	}
}

// explain returns the plan of query as the planner chooses it.
func explain(t testing.TB, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), "EXPLAIN "+query, args...)
	must(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	must(t, err)
	return strings.Join(lines, "\n")
}
