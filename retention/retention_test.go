package retention

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeStore holds record times and deletes them as the store does: oldest first, up to batch.
type fakeStore struct {
	mu      sync.Mutex
	times   []time.Time // sorted
	calls   []time.Time // when each DeleteUsageBefore call came
	batches []int64
	fail    error
	block   chan struct{} // when set, a call waits for it or for ctx
}

func (f *fakeStore) DeleteUsageBefore(ctx context.Context, t time.Time, batch int) (int64, error) {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, time.Now())
	if f.fail != nil {
		return 0, f.fail
	}
	var n int64
	for len(f.times) > 0 && f.times[0].Before(t) && n < int64(batch) {
		f.times = f.times[1:]
		n++
	}
	f.batches = append(f.batches, n)
	return n, nil
}

func (f *fakeStore) left() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.times)
}

func newFake(now time.Time, oldDays, oldPerDay, recent int) *fakeStore {
	f := &fakeStore{}
	for d := oldDays; d > 0; d-- {
		for i := range oldPerDay {
			f.times = append(f.times, now.Add(-time.Duration(100+d)*24*time.Hour+time.Duration(i)*time.Second))
		}
	}
	for i := range recent {
		f.times = append(f.times, now.Add(-time.Duration(recent-i)*time.Minute))
	}
	return f
}

// A sweep deletes everything older than MaxAge in batches of Batch, pausing between them, and
// keeps the rest.
func TestSweepDeletesInBatchesWithPauses(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newFake(now, 5, 500, 300) // 2500 old records, 300 recent
	p := New(f, Options{MaxAge: 90 * 24 * time.Hour, Batch: 1000, Pause: 20 * time.Millisecond, Now: func() time.Time { return now }})
	if n := p.Sweep(context.Background()); n != 2500 {
		t.Fatalf("Sweep deleted %d, want 2500", n)
	}
	if f.left() != 300 {
		t.Errorf("%d records left, want the 300 recent ones", f.left())
	}
	if want := []int64{1000, 1000, 500}; len(f.batches) != 3 || f.batches[0] != want[0] || f.batches[1] != want[1] || f.batches[2] != want[2] {
		t.Errorf("batches %v, want %v", f.batches, want)
	}
	for i := 1; i < len(f.calls); i++ {
		if gap := f.calls[i].Sub(f.calls[i-1]); gap < 20*time.Millisecond {
			t.Errorf("batch %d came %v after the previous one; want a pause of at least 20ms", i, gap)
		}
	}
	// Nothing left to delete: one call, which deletes nothing.
	if n := p.Sweep(context.Background()); n != 0 || len(f.batches) != 4 {
		t.Errorf("second sweep: deleted %d in %d calls", n, len(f.batches)-3)
	}
}

// A batch that ends exactly at the backlog's end costs one more call, which finds nothing.
func TestSweepExactMultipleOfBatch(t *testing.T) {
	t.Parallel()
	now := time.Now()
	f := newFake(now, 2, 500, 0)
	p := New(f, Options{MaxAge: time.Hour, Batch: 500, Pause: time.Millisecond, Now: func() time.Time { return now }})
	if n := p.Sweep(context.Background()); n != 1000 || len(f.batches) != 3 {
		t.Errorf("deleted %d in batches %v", n, f.batches)
	}
}

// A failing store is not retried in a loop: the sweep gives up and the next one retries.
func TestSweepStopsOnError(t *testing.T) {
	t.Parallel()
	f := newFake(time.Now(), 3, 10, 0)
	f.fail = errors.New("database is locked")
	p := New(f, Options{MaxAge: time.Hour})
	if n := p.Sweep(context.Background()); n != 0 || len(f.calls) != 1 {
		t.Errorf("deleted %d in %d calls; want 0 in 1", n, len(f.calls))
	}
}

// Start sweeps at once and then every Interval; Stop ends the loop and is idempotent.
func TestStartSweepsPeriodically(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	f := newFake(now, 1, 10, 0)
	p := New(f, Options{MaxAge: time.Hour, Interval: 30 * time.Millisecond, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}})
	p.Start()
	waitFor(t, func() bool { return f.left() == 0 }, "the first sweep")
	// Records that age past MaxAge later are deleted by a later sweep.
	f.mu.Lock()
	f.times = append(f.times, now.Add(-30*time.Minute))
	f.mu.Unlock()
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	waitFor(t, func() bool { return f.left() == 0 }, "a later sweep")
	p.Stop()
	p.Stop()
	f.mu.Lock()
	calls := len(f.calls)
	f.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) != calls {
		t.Errorf("%d calls after Stop", len(f.calls)-calls)
	}
}

// Stop interrupts a sweep whose batch is waiting (on the write lock, say) and returns promptly.
func TestStopInterruptsSweep(t *testing.T) {
	t.Parallel()
	f := newFake(time.Now(), 1, 10, 0)
	f.block = make(chan struct{})
	p := New(f, Options{MaxAge: time.Hour})
	p.Start()
	time.Sleep(20 * time.Millisecond)
	stopped := make(chan struct{})
	go func() { p.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return while a batch was waiting")
	}
}

// Stop without Start returns at once.
func TestStopWithoutStart(t *testing.T) {
	t.Parallel()
	New(&fakeStore{}, Options{MaxAge: time.Hour}).Stop()
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
