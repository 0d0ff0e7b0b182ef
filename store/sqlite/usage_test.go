package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
)

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
}

func TestWriteUsageManyChunks(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(1037) // ten full chunks and a tail
	if err := s.WriteUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if n := countUsage(t, s); n != int64(len(recs)) {
		t.Fatalf("count %d, want %d", n, len(recs))
	}
	for _, i := range []int{0, 99, 100, 999, 1000, 1036} {
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

// A failure in a late chunk must roll back the chunks already inserted.
func TestWriteUsageAllOrNothing(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.w.Exec(`CREATE TRIGGER poison BEFORE INSERT ON usage_records
		WHEN NEW.model = 'poison' BEGIN SELECT RAISE(ABORT, 'poison record'); END`); err != nil {
		t.Fatal(err)
	}
	recs := testRecords(250)
	recs[230].Model = "poison" // in the third, partial chunk
	if err := s.WriteUsage(ctx, recs); err == nil {
		t.Fatal("WriteUsage with a failing record succeeded")
	}
	if n := countUsage(t, s); n != 0 {
		t.Fatalf("after failed batch: count %d, want 0", n)
	}
	// The writer connection is usable again, and a retry writes everything.
	if _, err := s.w.Exec("DROP TRIGGER poison"); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if n := countUsage(t, s); n != 250 {
		t.Fatalf("after retry: count %d, want 250", n)
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
	for _, delay := range []time.Duration{time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond, 2 * time.Second} {
		if _, err := s.w.Exec("DELETE FROM usage_records"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(delay, cancel)
		err := s.WriteUsage(ctx, recs)
		cancel()
		n := countUsage(t, s)
		t.Logf("cancel after %v: err %v, count %d", delay, err, n)
		if err == nil && n != int64(len(recs)) || err != nil && n != 0 {
			t.Fatalf("cancel after %v: err %v, count %d: half-written", delay, err, n)
		}
	}
	// The store still works afterwards.
	if err := s.WriteUsage(context.Background(), recs[:10]); err != nil {
		t.Fatal(err)
	}
}

// The usage inserts are prepared on the write connection and finalized with it: when
// database/sql closes that connection (here after every batch, with no idle connection kept)
// the next batch prepares them on the new one, and closing the store finalizes the last ones.
func TestUsageInsertsFollowTheWriteConnection(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "arouter.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.w.SetMaxIdleConns(0)
	recs := testRecords(3 * 123) // two chunks and a tail of 23 per batch
	for b := range 3 {
		if err := s.WriteUsage(context.Background(), recs[b*123:(b+1)*123]); err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
	}
	if n := countUsage(t, s); n != int64(len(recs)) {
		t.Fatalf("count %d, want %d", n, len(recs))
	}
	s.w.SetMaxIdleConns(1)
	if err := s.WriteUsage(context.Background(), testRecords(400)[len(recs):]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// A connection closed with statements left unfinalized stays open in SQLite; the last
	// connection to close really removes the write-ahead log.
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("write-ahead log left after Close (%v): a connection was left open", err)
	}
}

// pauseCounter counts the pacing questions a store asks its context: accounting.Pause asks
// once per call, and nothing else in the test's context answers.
type pauseCounter struct {
	context.Context
	asked int
}

func (c *pauseCounter) Value(key any) any {
	v := c.Context.Value(key)
	if v != nil {
		c.asked++
	}
	return v
}

// A paced batch rests after each full chunk and once after its tail; an unpaced one never.
func TestWriteUsagePausesBetweenChunksWhenPaced(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	recs := testRecords(2*chunkRows + 23)
	ctx := &pauseCounter{Context: accounting.Paced(context.Background())}
	if err := s.WriteUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if ctx.asked != 3 {
		t.Errorf("a paced batch of two chunks and a tail paused %d times, want 3", ctx.asked)
	}
	if n := countUsage(t, s); n != int64(len(recs)) {
		t.Fatalf("count %d, want %d", n, len(recs))
	}
}

func TestRowsPerStatement(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]int{1: 1, 2: 2, 3: 2, 23: 16, 32: 32, 49: 32, 50: 50, 51: 50, 500: 50} {
		if got := rowsPerStatement(n); got != want {
			t.Errorf("rowsPerStatement(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestWriteUsageClosed(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir() + "/arouter.db")
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
	must(t, s.r.QueryRow("SELECT upstream_id, finish_reason, native_finish_reason FROM usage_records WHERE generation_id = ?",
		recs[1].GenerationID.String()).Scan(&id, &finish, &native))
	if id != long[:accounting.MaxUpstreamIDLen] || finish != "other" || native != "eos" {
		t.Errorf("stored %q %q %q", id, finish, native)
	}
	must(t, s.r.QueryRow("SELECT upstream_id, finish_reason, native_finish_reason FROM usage_records WHERE generation_id = ?",
		recs[0].GenerationID.String()).Scan(&id, &finish, &native))
	if id != "msg_01XFDUDYJgAACzvnptvVoYEL" || finish != "length" || native != "max_tokens" {
		t.Errorf("stored %q %q %q", id, finish, native)
	}
	got, err := s.UsageByGeneration(ctx, recs[3].GenerationID.String())
	if err != nil || !got.UpstreamID.IsZero() || got.FinishReason != accounting.FinishNone || !got.NativeFinishReason.IsZero() {
		t.Errorf("record without upstream fields: %+v, %v", got, err)
	}
}

// TestMigrationFromVersion8: records written before migration 9 read back with no upstream id
// and no finish reason, and new records beside them keep theirs.
func TestMigrationFromVersion8(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "arouter.db")
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	must(t, migrateTo(ctx, db, 8))
	old := testRecords(3)[2] // with an upstream id, which the old schema has no column for
	insertUsageV8(t, db, []accounting.Record{old})
	old.UpstreamID, old.FinishReason, old.NativeFinishReason = accounting.UpstreamID{}, accounting.FinishNone, accounting.NativeFinishReason{}
	must(t, db.Close())

	s := openAt(t, path)
	got, err := s.UsageByGeneration(ctx, old.GenerationID.String())
	if err != nil || got != old {
		t.Fatalf("old record after upgrade:\n got %+v, %v\nwant %+v", got, err, old)
	}
	recs := testRecords(10)[2:]
	must(t, s.WriteUsage(ctx, recs))
	for _, want := range recs {
		if got, err := s.UsageByGeneration(ctx, want.GenerationID.String()); err != nil || got != want {
			t.Fatalf("new record:\n got %+v, %v\nwant %+v", got, err, want)
		}
	}
}
