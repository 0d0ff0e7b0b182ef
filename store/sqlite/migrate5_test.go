package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
)

const recordSums = `count(*), sum(prompt_tokens), sum(completion_tokens), sum(reasoning_tokens), sum(cached_tokens),
	sum(cache_write_tokens), sum(cost_nanos), sum(is_byok), sum(byok_cost_nanos)`

const rollUpSums = `requests, prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens,
	cache_write_tokens, cost_nanos, byok_requests, byok_cost_nanos`

// rollUpChecks pairs each roll-up, as text, with the same sums computed from the records: what
// the writer (or a migration's backfill) must have built.
var rollUpChecks = []struct{ name, got, want string }{
	{"usage_daily",
		"SELECT org_id, day, key_id, model, provider, budget_id, " + rollUpSums + " FROM usage_daily ORDER BY 1, 2, 3, 4, 5, 6",
		"SELECT org_id, created_at / 86400000000, key_id, model, provider, budget_id, " + recordSums +
			" FROM usage_records GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"},
	{"usage_daily_models",
		"SELECT org_id, day, model, provider, " + rollUpSums + " FROM usage_daily_models ORDER BY 1, 2, 3, 4",
		"SELECT org_id, created_at / 86400000000, model, provider, " + recordSums +
			" FROM usage_records GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"},
	{"usage_daily_keys",
		"SELECT org_id, day, key_id, " + rollUpSums + " FROM usage_daily_keys ORDER BY 1, 2, 3",
		"SELECT org_id, created_at / 86400000000, key_id, " + recordSums +
			" FROM usage_records GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"},
}

func checkRollUps(t *testing.T, q interface {
	Query(string, ...any) (*sql.Rows, error)
}, when string) {
	t.Helper()
	for _, c := range rollUpChecks {
		got, want := textRows(t, q, c.got), textRows(t, q, c.want)
		if len(want) == 0 {
			t.Fatalf("%s: no records", when)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %s\n got %v\nwant %v", when, c.name, got, want)
		}
	}
}

// spread varies recs over days, organizations, keys, models and providers, so that every
// roll-up has several rows that several records add to.
func spread(recs []accounting.Record) {
	for i := range recs {
		r := &recs[i]
		r.Time = r.Time.Add(time.Duration(i%3) * 24 * time.Hour)
		if i%4 == 0 {
			r.Model = "other/model"
		}
		if i%5 == 0 {
			r.Provider = "backup"
		}
	}
}

// The three roll-ups hold exactly the records' sums after first writes, whole and partial
// replays (which ON CONFLICT DO NOTHING skips, so no trigger fires), and overlapping batches.
func TestRollUpsExactUnderReplay(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(450)
	spread(recs)
	must(t, s.WriteUsage(ctx, recs[:300]))
	checkRollUps(t, s.r, "first write")
	before := rollUpTables(t, s)
	must(t, s.WriteUsage(ctx, recs[:300]))
	must(t, s.WriteUsage(ctx, recs[100:200]))
	if got := rollUpTables(t, s); !reflect.DeepEqual(got, before) {
		t.Errorf("a replay changed the roll-ups:\n got %v\nwant %v", got, before)
	}
	must(t, s.WriteUsage(ctx, recs[250:]))
	checkRollUps(t, s.r, "overlapping batch")
}

// A store written by the previous release (schema version 4) keeps its roll-up when a new
// binary opens it: usage_daily holds the same rows under its new key order, the new roll-ups are
// backfilled to the records' exact sums, and the recreated trigger keeps all three exact.
func TestMigrationFromVersion4(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "arouter.db")
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	must(t, migrateTo(ctx, db, 4))
	recs := testRecords(400)
	spread(recs)
	old, later := recs[:250], recs[150:] // later replays 100 of the old records
	insertUsageV8(t, db, old)
	const v4Daily = `SELECT day, key_id, model, provider, org_id, budget_id, ` + rollUpSums + `
		FROM usage_daily ORDER BY day, key_id, model, provider, org_id, budget_id`
	before := textRows(t, db, v4Daily)
	if len(before) < 20 {
		t.Fatalf("only %d roll-up rows before the upgrade", len(before))
	}
	must(t, db.Close())

	s := openAt(t, path)
	if v := schemaVersions(t, s); len(v) != len(migrations) {
		t.Fatalf("versions after upgrade: %v", v)
	}
	if got := textRows(t, s.r, v4Daily); !reflect.DeepEqual(got, before) {
		t.Fatalf("usage_daily changed by the upgrade:\n got %v\nwant %v", got, before)
	}
	checkRollUps(t, s.r, "after the upgrade")
	must(t, s.WriteUsage(ctx, later))
	checkRollUps(t, s.r, "after a write with replayed records")
	if n := countUsage(t, s); n != 400 {
		t.Errorf("%d records, want 400", n)
	}
}

// usageColumnsV8 are usage_records' columns before migration 9 added the provider's id and
// finish reasons.
const usageColumnsV8 = "generation_id, created_at, key_id, org_id, budget_id, model, provider, upstream_model, " +
	"prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, " +
	"cost_nanos, cache_discount_nanos, is_byok, byok_cost_nanos, latency_us, ttfb_us, status, streamed, cancelled, error_code"

// insertUsageV8 stores recs as a release before migration 9 did (schema versions 4 to 8),
// without the fields it added.
func insertUsageV8(t *testing.T, db *sql.DB, recs []accounting.Record) {
	t.Helper()
	const n = 23
	args := appendUsageArgs(nil, recs)
	var rows []string
	var v8 []any
	for i := range recs {
		rows = append(rows, "("+strings.Repeat("?, ", n-1)+"?)")
		v8 = append(v8, args[i*usageParams:i*usageParams+n]...)
	}
	_, err := db.Exec("INSERT INTO usage_records ("+usageColumnsV8+") VALUES "+strings.Join(rows, ", "), v8...)
	must(t, err)
}
