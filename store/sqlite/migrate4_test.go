package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/money"
)

// byokDailyRows returns usage_daily with its BYOK sums, as text, one line per row in key order.
func byokDailyRows(t testing.TB, q interface {
	Query(string, ...any) (*sql.Rows, error)
}) []string {
	t.Helper()
	return textRows(t, q, `SELECT day, key_id, model, provider, org_id, budget_id, requests, prompt_tokens,
		completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos, byok_requests, byok_cost_nanos
		FROM usage_daily ORDER BY day, key_id, model, provider, org_id, budget_id`)
}

// byokRollUp computes byokDailyRows from the records, as the trigger should have.
func byokRollUp(t testing.TB, q interface {
	Query(string, ...any) (*sql.Rows, error)
}) []string {
	t.Helper()
	return textRows(t, q, `SELECT created_at / 86400000000, key_id, model, provider, org_id, budget_id, count(*),
		sum(prompt_tokens), sum(completion_tokens), sum(reasoning_tokens), sum(cached_tokens),
		sum(cache_write_tokens), sum(cost_nanos), sum(is_byok), sum(byok_cost_nanos)
		FROM usage_records GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6`)
}

func textRows(t testing.TB, q interface {
	Query(string, ...any) (*sql.Rows, error)
}, query string) []string {
	t.Helper()
	rows, err := q.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		v := make([]any, len(cols))
		p := make([]any, len(v))
		for i := range v {
			p[i] = &v[i]
		}
		must(t, rows.Scan(p...))
		out = append(out, fmt.Sprintln(v...))
	}
	must(t, closeRows(rows))
	return out
}

// A store written by the previous release (schema version 3) keeps its usage when a new binary
// opens it: old records read back as platform-key requests without a cache discount, their
// roll-up is unchanged with zero BYOK sums, and the recreated trigger rolls new records, BYOK
// ones included, into the same rows.
func TestMigrationFromVersion3(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "arouter.db")
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	must(t, migrateTo(ctx, db, 3))

	// Usage as version 3 stored it, over three days, two keys and two providers.
	base := time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)
	var old []accounting.Record
	for i := range 60 {
		ts := base.Add(time.Duration(i%3)*24*time.Hour + time.Duration(i)*time.Microsecond)
		r := testRecords(1)[0]
		r.GenerationID = accounting.NewGenerationID(ts)
		r.Time, r.KeyID, r.BudgetID, r.OrgID = ts, int64(1+i%2), int64(1+i%2), 5
		r.Provider = []string{"openai", "groq"}[i/2%2]
		r.PromptTokens, r.Cost = int64(i), money.Nanos(1_000_007*i)
		old = append(old, r)
		_, err := db.Exec(`INSERT INTO usage_records (generation_id, created_at, key_id, org_id, budget_id, model, provider,
			upstream_model, prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos,
			latency_us, ttfb_us, status, streamed, cancelled, error_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.GenerationID.String(), r.Time.UnixMicro(), r.KeyID, r.OrgID, r.BudgetID, r.Model, r.Provider, r.UpstreamModel,
			r.PromptTokens, r.CompletionTokens, r.ReasoningTokens, r.CachedTokens, r.CacheWriteTokens, int64(r.Cost),
			r.Latency.Microseconds(), r.TTFB.Microseconds(), r.Status, boolInt(r.Streamed), boolInt(r.Cancelled), r.ErrorCode)
		must(t, err)
	}
	// usage_daily's version-3 columns.
	const v3Daily = `SELECT day, key_id, model, provider, org_id, budget_id, requests, prompt_tokens, completion_tokens,
		reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos FROM usage_daily ORDER BY 1, 2, 3, 4, 5, 6`
	before := textRows(t, db, v3Daily)
	if len(before) < 10 {
		t.Fatalf("only %d roll-up rows before the upgrade", len(before))
	}
	must(t, db.Close())

	s := openAt(t, path)
	if v := schemaVersions(t, s); len(v) != len(migrations) {
		t.Fatalf("versions after upgrade: %v", v)
	}
	for _, want := range old[:5] {
		got, err := s.UsageByGeneration(ctx, want.GenerationID.String())
		if err != nil || got != want || got.BYOK || got.BYOKCost != 0 || got.CacheDiscount != 0 {
			t.Errorf("old record after upgrade:\n got %+v, %v\nwant %+v", got, err, want)
		}
	}
	if got := textRows(t, s.r, v3Daily); !reflect.DeepEqual(got, before) {
		t.Fatalf("usage_daily changed by the upgrade:\n got %v\nwant %v", got, before)
	}
	if got, want := byokDailyRows(t, s.r), byokRollUp(t, s.r); !reflect.DeepEqual(got, want) {
		t.Fatalf("BYOK sums after the upgrade:\n got %v\nwant %v", got, want)
	}
	var triggers int
	must(t, s.r.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'usage_records' AND name = 'usage_records_roll_up'").Scan(&triggers))
	if triggers != 0 {
		t.Errorf("the roll-up trigger is still on usage_records; the writer keeps the roll-ups")
	}

	// New records, BYOK and not, land in the same roll-up rows as the old ones of their day.
	var more []accounting.Record
	for i, r := range testRecords(90) {
		r.Time = base.Add(time.Duration(i%3)*24*time.Hour + time.Hour + time.Duration(i)*time.Microsecond)
		r.GenerationID = accounting.NewGenerationID(r.Time)
		r.KeyID, r.BudgetID, r.OrgID = int64(1+i%2), int64(1+i%2), 5
		r.Provider = []string{"openai", "groq"}[i/2%2]
		r.Model = old[0].Model
		more = append(more, r)
	}
	must(t, s.WriteUsage(ctx, more))
	got, want := byokDailyRows(t, s.r), byokRollUp(t, s.r)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("usage_daily after post-upgrade writes:\n got %v\nwant %v", got, want)
	}
	if len(got) != len(before) {
		t.Errorf("post-upgrade writes made %d roll-up rows, want the %d that existed", len(got), len(before))
	}
	var byokRequests, byokCost int64
	must(t, s.r.QueryRow("SELECT sum(byok_requests), sum(byok_cost_nanos) FROM usage_daily").Scan(&byokRequests, &byokCost))
	var wantRequests, wantCost int64
	for _, r := range more {
		if r.BYOK {
			wantRequests++
			wantCost += int64(r.BYOKCost)
		}
	}
	if byokRequests != wantRequests || byokCost != wantCost || wantRequests == 0 {
		t.Errorf("BYOK roll-up: %d requests, %d nanos; want %d, %d", byokRequests, byokCost, wantRequests, wantCost)
	}
	// The new fields round-trip.
	for _, want := range more[:8] {
		if got, err := s.UsageByGeneration(ctx, want.GenerationID.String()); err != nil || got != want {
			t.Errorf("new record:\n got %+v, %v\nwant %+v", got, err, want)
		}
	}
}

// Replayed and overlapping batches of BYOK records keep the roll-up's BYOK sums exact.
func TestUsageDailyBYOKExactUnderReplay(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(400)
	for i := range recs {
		recs[i].Time = recs[i].Time.Add(time.Duration(i%2) * 24 * time.Hour)
		if i%5 == 0 {
			recs[i].Provider = "byo"
		}
	}
	must(t, s.WriteUsage(ctx, recs[:250]))
	want := byokRollUp(t, s.r)
	if got := byokDailyRows(t, s.r); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the first write:\n got %v\nwant %v", got, want)
	}
	must(t, s.WriteUsage(ctx, recs[:250]))
	must(t, s.WriteUsage(ctx, recs[50:150]))
	if got := byokDailyRows(t, s.r); !reflect.DeepEqual(got, want) {
		t.Fatalf("changed by a replay:\n got %v\nwant %v", got, want)
	}
	// An overlapping batch whose replayed records differ (a retry never changes a record, but
	// if it did, the stored one wins) adds exactly its new records.
	overlap := append([]accounting.Record(nil), recs[200:]...)
	overlap[0].BYOK, overlap[0].BYOKCost = !overlap[0].BYOK, 123
	must(t, s.WriteUsage(ctx, overlap))
	if got, want := byokDailyRows(t, s.r), byokRollUp(t, s.r); !reflect.DeepEqual(got, want) {
		t.Fatalf("after an overlapping batch:\n got %v\nwant %v", got, want)
	}
	var n, byokN, byokSum int64
	must(t, s.r.QueryRow("SELECT sum(requests), sum(byok_requests), sum(byok_cost_nanos) FROM usage_daily").Scan(&n, &byokN, &byokSum))
	var wantN, wantSum int64
	for _, r := range recs {
		if r.BYOK {
			wantN++
			wantSum += int64(r.BYOKCost)
		}
	}
	if n != 400 || byokN != wantN || byokSum != wantSum {
		t.Errorf("rolled up %d requests, %d BYOK costing %d; want 400, %d, %d", n, byokN, byokSum, wantN, wantSum)
	}
}
