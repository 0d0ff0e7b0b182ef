package accounting

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memSink records batches and can be told to fail or to block, standing in for the store.
type memSink struct {
	mu      sync.Mutex
	batches [][]Record
	failN   int           // fail this many calls first
	gate    chan struct{} // when non-nil, each write waits for a value (or its context)
	down    atomic.Bool   // every write fails while set
	calls   atomic.Int64
	failed  chan struct{} // when non-nil, gets a value (if there is room) after each failed write
	entered chan struct{} // when non-nil, gets a value (if there is room) as each write begins
	paced   []bool        // per stored batch: whether the writer let the store pace it
}

func (s *memSink) WriteUsage(ctx context.Context, recs []Record) error {
	s.calls.Add(1)
	if s.entered != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN > 0 || s.down.Load() {
		if s.failN > 0 {
			s.failN--
		}
		if s.failed != nil {
			select {
			case s.failed <- struct{}{}:
			default:
			}
		}
		return errors.New("disk I/O error")
	}
	s.batches = append(s.batches, append([]Record(nil), recs...))
	s.paced = append(s.paced, pauseFor(ctx, time.Millisecond) > 0)
	return nil
}

func (s *memSink) ids() map[GenerationID]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[GenerationID]int{}
	for _, b := range s.batches {
		for _, r := range b {
			seen[r.GenerationID]++
		}
	}
	return seen
}

func TestCloseWritesEveryRecordExactlyOnce(t *testing.T) {
	t.Parallel()
	sink := &memSink{}
	w := NewWriter(sink, Options{BatchSize: 7, FlushInterval: time.Hour})
	const n = 1000
	want := map[GenerationID]bool{}
	for range n {
		r := Record{GenerationID: NewGenerationID(time.Now()), Model: "m"}
		want[r.GenerationID] = true
		if !w.Enqueue(&r) {
			t.Fatal("enqueue refused with room in the queue")
		}
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := sink.ids()
	if len(got) != n || len(want) != n {
		t.Fatalf("wrote %d distinct records of %d (ids distinct: %d)", len(got), n, len(want))
	}
	for id, c := range got {
		if c != 1 || !want[id] {
			t.Fatalf("record %s written %d times", id, c)
		}
	}
	if w.Written() != n {
		t.Fatalf("Written() = %d", w.Written())
	}
	r := Record{}
	if w.Enqueue(&r) {
		t.Fatal("enqueue accepted after Close")
	}
	if err := w.Close(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestFlushIntervalWritesPartialBatches(t *testing.T) {
	t.Parallel()
	sink := &memSink{}
	w := NewWriter(sink, Options{BatchSize: 1000, FlushInterval: 5 * time.Millisecond})
	defer w.Close(context.Background())
	r := Record{GenerationID: NewGenerationID(time.Now())}
	w.Enqueue(&r)
	deadline := time.Now().Add(5 * time.Second)
	for w.Written() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("a lone record was never flushed by the interval")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStoreErrorsAreRetried(t *testing.T) {
	t.Parallel()
	sink := &memSink{failN: 2}
	w := NewWriter(sink, Options{BatchSize: 10, FlushInterval: time.Hour})
	for range 10 {
		r := Record{GenerationID: NewGenerationID(time.Now())}
		w.Enqueue(&r)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(sink.ids()); got != 10 {
		t.Fatalf("after two failed attempts, %d of 10 records written", got)
	}
}

func TestGenerationIDsAreUniqueAndTimeOrdered(t *testing.T) {
	t.Parallel()
	seen := map[GenerationID]bool{}
	t0 := time.UnixMilli(1_700_000_000_000)
	var prev GenerationID
	for i := range 10000 {
		id := NewGenerationID(t0.Add(time.Duration(i) * time.Millisecond))
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		if string(id[:14]) < string(prev[:14]) {
			t.Fatalf("timestamp part not ordered: %s after %s", id, prev)
		}
		prev = id
		if id.String()[:4] != "gen-" || len(id.String()) != 30 {
			t.Fatalf("malformed id %q", id)
		}
	}
}
