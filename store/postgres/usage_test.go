package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/store/postgres/pgtest"
	"github.com/arouter/arouter/store/storetest"
)

// testRecords returns n records with distinct generation ids and every field set, the same
// as store/sqlite's tests use (see storetest.TestRecords).
var testRecords = storetest.TestRecords

func countUsage(t testing.TB, s *Store) int64 {
	t.Helper()
	n, err := s.CountUsage(context.Background())
	if err != nil {
		t.Fatalf("CountUsage: %v", err)
	}
	return n
}

// exec runs statements on s outside the store's methods: test set-up and sabotage.
func exec(t testing.TB, s *Store, sql string, args ...any) {
	t.Helper()
	if _, err := s.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// poison makes inserts into table fail for rows whose column col is 'poison' (a text column)
// or -1 (a number), from inside the database, so that a test can fail a batch at a chosen step.
func poison(t testing.TB, s *Store, table, cond string) {
	t.Helper()
	exec(t, s, `CREATE FUNCTION poison_`+table+`() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN RAISE EXCEPTION 'poison row in `+table+`'; END$$`)
	exec(t, s, `CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON `+table+`
		FOR EACH ROW WHEN (`+cond+`) EXECUTE FUNCTION poison_`+table+`()`)
}

func unpoison(t testing.TB, s *Store, table string) {
	t.Helper()
	exec(t, s, "DROP TRIGGER poison ON "+table)
	exec(t, s, "DROP FUNCTION poison_"+table+"()")
}

func TestWriteUsageRoundTrip(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(37)
	if err := s.WriteUsage(ctx, recs); err != nil {
		t.Fatalf("WriteUsage: %v", err)
	}
	if n := countUsage(t, s); n != int64(len(recs)) {
		t.Fatalf("CountUsage = %d, want %d", n, len(recs))
	}
	for _, want := range recs {
		got, err := s.UsageByGeneration(ctx, want.GenerationID.String())
		if err != nil {
			t.Fatalf("UsageByGeneration: %v", err)
		}
		if got != want {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
}

func TestUsageByGenerationUnknown(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	unknown := accounting.NewGenerationID(time.Now()).String()
	for _, id := range []string{unknown, "", "gen-short"} {
		if _, err := s.UsageByGeneration(ctx, id); !errors.Is(err, ErrRecordNotFound) {
			t.Errorf("UsageByGeneration(%q): %v, want ErrRecordNotFound", id, err)
		}
	}
}

func TestWriteUsageIdempotent(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(150)
	for range 2 {
		if err := s.WriteUsage(ctx, recs[:100]); err != nil {
			t.Fatal(err)
		}
	}
	if n := countUsage(t, s); n != 100 {
		t.Fatalf("after replay: count %d, want 100", n)
	}
	// An overlapping batch adds only the new records, and does not overwrite the old ones.
	changed := append([]accounting.Record(nil), recs[50:]...)
	changed[0].Model = "changed"
	if err := s.WriteUsage(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if n := countUsage(t, s); n != 150 {
		t.Fatalf("after overlap: count %d, want 150", n)
	}
	if got, err := s.UsageByGeneration(ctx, recs[50].GenerationID.String()); err != nil || got != recs[50] {
		t.Errorf("replayed record overwritten: %+v, %v", got, err)
	}
	if got, want := dailyRows(t, s), rollUp(t, s); !equalRows(got, want) {
		t.Errorf("usage_daily after replays:\n got %v\nwant %v", got, want)
	}
}

// A batch naming one generation id twice stores the first record, and counts it once, as
// SQLite does.
func TestWriteUsageRepeatedIDInBatch(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(10)
	twin := recs[4]
	twin.Model, twin.Cost = "twin", 1
	batch := append(append([]accounting.Record(nil), recs...), twin)
	batch[2], batch[4] = batch[4], batch[2] // the first of the pair is not first in the batch
	must(t, s.WriteUsage(ctx, batch))
	if n := countUsage(t, s); n != 10 {
		t.Fatalf("count %d, want 10", n)
	}
	if got, err := s.UsageByGeneration(ctx, recs[4].GenerationID.String()); err != nil || got != recs[4] {
		t.Errorf("the second of two records with one id won: %+v, %v", got, err)
	}
	if got, want := dailyRows(t, s), rollUp(t, s); !equalRows(got, want) {
		t.Errorf("usage_daily:\n got %v\nwant %v", got, want)
	}
}

func TestWriteUsageLargeBatch(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(3037) // past SQLite's chunking and past a multi-row VALUES' parameter cap
	if err := s.WriteUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if n := countUsage(t, s); n != int64(len(recs)) {
		t.Fatalf("count %d, want %d", n, len(recs))
	}
	for _, i := range []int{0, 99, 100, 999, 1000, 3036} {
		if got, err := s.UsageByGeneration(ctx, recs[i].GenerationID.String()); err != nil || got != recs[i] {
			t.Errorf("record %d: %+v, %v", i, got, err)
		}
	}
}

func TestWriteUsageEmpty(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	if err := s.WriteUsage(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestWriteUsageRejectsZeroID(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	recs := testRecords(3)
	recs[1].GenerationID = accounting.GenerationID{}
	if err := s.WriteUsage(context.Background(), recs); err == nil {
		t.Fatal("batch with a zero generation id accepted")
	}
	if n := countUsage(t, s); n != 0 {
		t.Errorf("count %d, want 0", n)
	}
}

// A failure at any step of the transaction (the records, a roll-up, the bodies) leaves nothing
// written, and a retry then writes everything.
func TestWriteUsageAllOrNothing(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ table, cond string }{
		{"usage_records", "NEW.model = 'poison'"},
		{"usage_daily_models", "NEW.model = 'poison'"},
		{"usage_daily_keys", "NEW.key_id = -1"},
		{"usage_bodies", "NEW.org_id = -1"},
	} {
		t.Run(c.table, func(t *testing.T) {
			t.Parallel()
			s := openTest(t)
			ctx := context.Background()
			poison(t, s, c.table, c.cond)
			recs := testRecords(250)
			recs[230].Model, recs[230].KeyID, recs[230].OrgID = "poison", -1, -1
			recs[230].Bodies = &accounting.Bodies{Request: []byte("{}"), RequestSize: 2}
			if err := s.WriteUsage(ctx, recs); err == nil {
				t.Fatal("WriteUsage with a failing row succeeded")
			}
			if n := countUsage(t, s); n != 0 {
				t.Fatalf("after failed batch: count %d, want 0", n)
			}
			if rows := dailyRows(t, s); len(rows) != 0 {
				t.Fatalf("after failed batch: usage_daily %v", rows)
			}
			unpoison(t, s, c.table)
			if err := s.WriteUsage(ctx, recs); err != nil {
				t.Fatal(err)
			}
			if n := countUsage(t, s); n != 250 {
				t.Fatalf("after retry: count %d, want 250", n)
			}
			if got, want := dailyRows(t, s), rollUp(t, s); !equalRows(got, want) {
				t.Errorf("usage_daily after retry:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestWriteUsageCancelled(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.WriteUsage(ctx, testRecords(10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled WriteUsage: %v, want context.Canceled", err)
	}
	if n := countUsage(t, s); n != 0 {
		t.Fatalf("count %d, want 0", n)
	}
}

// Cancelling during a large write either lets it commit whole or leaves nothing.
func TestWriteUsageCancelledMidway(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	recs := testRecords(20_000)
	for _, delay := range []time.Duration{time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond, time.Minute} {
		exec(t, s, "TRUNCATE usage_records, usage_daily, usage_daily_models, usage_daily_keys, usage_bodies")
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(delay, cancel)
		err := s.WriteUsage(ctx, recs)
		cancel()
		n := countUsage(t, s)
		var requests int64
		must(t, s.pool.QueryRow(context.Background(), "SELECT coalesce(sum(requests), 0) FROM usage_daily_keys").Scan(&requests))
		t.Logf("cancel after %v: err %v, count %d, rolled up %d", delay, err, n, requests)
		if err == nil && n != int64(len(recs)) || err != nil && n != 0 || requests != n {
			t.Fatalf("cancel after %v: err %v, count %d, rolled up %d: half-written", delay, err, n, requests)
		}
	}
	// The store still works afterwards.
	if err := s.WriteUsage(context.Background(), recs[:10]); err != nil {
		t.Fatal(err)
	}
}

func TestWriteUsageClosed(t *testing.T) {
	t.Parallel()
	s, err := Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteUsage(context.Background(), testRecords(1)); err == nil {
		t.Error("WriteUsage on a closed store succeeded")
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Error("Ping on a closed store succeeded")
	}
}

// TestUsageUpstreamFieldsRoundTrip: the provider's id and finish reasons come back as written;
// an id longer than a record holds is cut, not refused; an unknown finish reason is "other"
// with the provider's word kept beside it; and a record without them reads back empty.
func TestUsageUpstreamFieldsRoundTrip(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(4)
	recs[0].UpstreamID.SetString("msg_01XFDUDYJgAACzvnptvVoYEL")
	recs[0].FinishReason = accounting.FinishLength
	recs[0].NativeFinishReason.SetString("max_tokens")
	long := strings.Repeat("x", 100)
	recs[1].UpstreamID.SetString(long)
	recs[1].FinishReason = accounting.ParseFinishReason([]byte("eos"))
	recs[1].NativeFinishReason.SetString("eos")
	recs[2].FinishReason = accounting.FinishError
	recs[3] = testRecords(1)[0] // nothing reported
	recs[3].GenerationID = accounting.NewGenerationID(recs[3].Time)
	if err := s.WriteUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for i, want := range recs {
		got, err := s.UsageByGeneration(ctx, want.GenerationID.String())
		if err != nil || got != want {
			t.Fatalf("record %d:\n got %+v, %v\nwant %+v", i, got, err, want)
		}
	}
	var id, finish, native string
	const q = "SELECT upstream_id, finish_reason, native_finish_reason FROM usage_records WHERE generation_id = $1"
	must(t, s.pool.QueryRow(ctx, q, recs[1].GenerationID.String()).Scan(&id, &finish, &native))
	if id != long[:accounting.MaxUpstreamIDLen] || finish != "other" || native != "eos" {
		t.Errorf("stored %q %q %q", id, finish, native)
	}
	must(t, s.pool.QueryRow(ctx, q, recs[0].GenerationID.String()).Scan(&id, &finish, &native))
	if id != "msg_01XFDUDYJgAACzvnptvVoYEL" || finish != "length" || native != "max_tokens" {
		t.Errorf("stored %q %q %q", id, finish, native)
	}
	got, err := s.UsageByGeneration(ctx, recs[3].GenerationID.String())
	if err != nil || !got.UpstreamID.IsZero() || got.FinishReason != accounting.FinishNone || !got.NativeFinishReason.IsZero() {
		t.Errorf("record without upstream fields: %+v, %v", got, err)
	}
}

// Two Stores on one database stand in for two gateway replicas. Each writes batches that
// overlap the other's (the same generation ids, in a different order and split differently,
// as a replayed spool would) and share roll-up rows; run concurrently, every record is stored
// once and counted once, and no writer fails (a deadlock would fail one).
func TestTwoStoresOverlappingWrites(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	stores := []*Store{openAt(t, url), openAt(t, url)}
	ctx := context.Background()
	all := testRecords(6000)
	for i := range all {
		// Few roll-up rows, so that every batch contends for the same ones: 2 days × 3
		// organizations × 7 keys × 2 models.
		all[i].Time = all[i].Time.Add(time.Duration(i%2) * 24 * time.Hour)
		if i%5 == 0 {
			all[i].Model = "other/model"
		}
	}
	reversed := make([]accounting.Record, len(all))
	for i := range all {
		reversed[len(all)-1-i] = all[i]
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w, s := range stores {
		for _, size := range []int{500, 347} {
			recs := all
			if w == 1 {
				recs = reversed
			}
			wg.Go(func() {
				for i := 0; i < len(recs); i += size {
					if err := s.WriteUsage(ctx, recs[i:min(i+size, len(recs))]); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := countUsage(t, stores[1]); n != int64(len(all)) {
		t.Errorf("%d records, want %d", n, len(all))
	}
	if got, want := dailyRows(t, stores[0]), rollUp(t, stores[0]); !equalRows(got, want) {
		t.Errorf("usage_daily after concurrent overlapping writes:\n got %v\nwant %v", got, want)
	}
	for _, table := range []string{"usage_daily", "usage_daily_models", "usage_daily_keys"} {
		var requests, cost int64
		must(t, stores[0].pool.QueryRow(ctx, "SELECT sum(requests)::bigint, sum(cost_nanos)::bigint FROM "+table).Scan(&requests, &cost))
		var wantCost int64
		for i := range all {
			wantCost += int64(all[i].Cost)
		}
		if requests != int64(len(all)) || cost != wantCost {
			t.Errorf("%s: %d requests costing %d, want %d costing %d", table, requests, cost, len(all), wantCost)
		}
	}
}
