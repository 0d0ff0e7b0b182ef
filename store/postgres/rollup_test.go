package postgres

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// textRows returns the rows of query as text, one line per row.
func textRows(t testing.TB, s *Store, query string, args ...any) []string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		v, err := row.Values()
		return fmt.Sprintln(v...), err
	})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

// equalRows compares two textRows results; two empty results are equal however they were built.
func equalRows(a, b []string) bool { return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b) }

// dailyRows returns usage_daily as text, one line per row in key order.
func dailyRows(t testing.TB, s *Store) []string {
	t.Helper()
	return textRows(t, s, `SELECT day, key_id, model, provider, org_id, budget_id, requests, prompt_tokens,
		completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos, byok_requests, byok_cost_nanos
		FROM usage_daily ORDER BY day, key_id, model, provider, org_id, budget_id`)
}

// rollUp computes usage_daily from the records, as the writer should have.
func rollUp(t testing.TB, s *Store) []string {
	t.Helper()
	return textRows(t, s, `SELECT created_at / 86400000000, key_id, model, provider, org_id, budget_id, count(*),
		sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint, sum(reasoning_tokens)::bigint, sum(cached_tokens)::bigint,
		sum(cache_write_tokens)::bigint, sum(cost_nanos)::bigint, sum(is_byok)::bigint, sum(byok_cost_nanos)::bigint
		FROM usage_records GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6`)
}

// coarseRollUps returns usage_daily_models and usage_daily_keys, and the same sums computed
// from usage_daily, which holds exactly the records' sums.
func coarseRollUps(t testing.TB, s *Store) (got, want [2][]string) {
	t.Helper()
	const measures = "requests, prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, " +
		"cost_nanos, byok_requests, byok_cost_nanos"
	const sums = "sum(requests)::bigint, sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint, " +
		"sum(reasoning_tokens)::bigint, sum(cached_tokens)::bigint, sum(cache_write_tokens)::bigint, " +
		"sum(cost_nanos)::bigint, sum(byok_requests)::bigint, sum(byok_cost_nanos)::bigint"
	got[0] = textRows(t, s, "SELECT org_id, day, model, provider, "+measures+" FROM usage_daily_models ORDER BY 1, 2, 3, 4")
	want[0] = textRows(t, s, "SELECT org_id, day, model, provider, "+sums+" FROM usage_daily GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4")
	got[1] = textRows(t, s, "SELECT org_id, day, key_id, "+measures+" FROM usage_daily_keys ORDER BY 1, 2, 3")
	want[1] = textRows(t, s, "SELECT org_id, day, key_id, "+sums+" FROM usage_daily GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
	return got, want
}

func TestUsageDailyExactUnderReplay(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(450)
	// Spread them over three days, two models and two providers.
	for i := range recs {
		recs[i].Time = recs[i].Time.Add(time.Duration(i%3) * 24 * time.Hour)
		if i%4 == 0 {
			recs[i].Model = "other/model"
		}
		if i%5 == 0 {
			recs[i].Provider = "backup"
		}
	}
	check := func(what string) {
		t.Helper()
		if got, want := dailyRows(t, s), rollUp(t, s); !equalRows(got, want) {
			t.Fatalf("usage_daily %s:\n got %v\nwant %v", what, got, want)
		}
		got, want := coarseRollUps(t, s)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("coarse roll-ups %s:\n got %v\nwant %v", what, got, want)
		}
	}
	must(t, s.WriteUsage(ctx, recs[:300]))
	want := rollUp(t, s)
	if len(want) < 10 {
		t.Fatalf("only %d roll-up rows; the test data is too uniform", len(want))
	}
	check("after first write")
	// Replays, whole and partial, change nothing.
	must(t, s.WriteUsage(ctx, recs[:300]))
	must(t, s.WriteUsage(ctx, recs[100:200]))
	if got := dailyRows(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("usage_daily changed by a replay:\n got %v\nwant %v", got, want)
	}
	check("after replays")
	// An overlapping batch adds exactly its new records.
	must(t, s.WriteUsage(ctx, recs[250:]))
	check("after an overlapping batch")
	var n, requests int64
	must(t, s.pool.QueryRow(ctx, "SELECT count(*) FROM usage_records").Scan(&n))
	must(t, s.pool.QueryRow(ctx, "SELECT sum(requests)::bigint FROM usage_daily").Scan(&requests))
	if n != 450 || requests != 450 {
		t.Errorf("%d records, %d requests rolled up; want 450 and 450", n, requests)
	}
	// A failed batch rolls back its roll-up too.
	poison(t, s, "usage_records", "NEW.model = 'poison'")
	bad := testRecords(120)
	for i := range bad {
		bad[i].Time = bad[i].Time.Add(1000 * time.Hour)
	}
	bad[110].Model = "poison"
	before := dailyRows(t, s)
	if err := s.WriteUsage(ctx, bad); err == nil {
		t.Fatal("poisoned batch written")
	}
	if got := dailyRows(t, s); !reflect.DeepEqual(got, before) {
		t.Fatalf("usage_daily after a failed batch:\n got %v\nwant %v", got, before)
	}
}
