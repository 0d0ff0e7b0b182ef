package sqlite

import (
	"context"
	"errors"
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
