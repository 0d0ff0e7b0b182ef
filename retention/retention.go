// Package retention deletes raw usage records once they are older than the configured age, so
// that the store does not grow without bound. The request and answer bodies kept by prompt
// logging are deleted with their records, by the store, in the same transaction. It deletes in small batches with a pause between
// them, because every batch holds the store's write lock that the accounting writer needs; the
// daily roll-ups are kept, so activity reports over old ranges keep their figures.
package retention

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Deleter deletes up to batch usage records created before t, returning how many it deleted.
// store/sqlite implements it.
type Deleter interface {
	DeleteUsageBefore(ctx context.Context, t time.Time, batch int) (int64, error)
}

// Defaults of Options.
const (
	DefaultBatch    = 1000
	DefaultPause    = 50 * time.Millisecond
	DefaultInterval = time.Hour
)

// Options tune a Pruner. MaxAge is required; the rest default.
type Options struct {
	// MaxAge is how long records are kept; older ones are deleted.
	MaxAge time.Duration
	// Batch is the number of records deleted per transaction; default 1000.
	Batch int
	// Pause separates two batches of one sweep, so that writers get the lock; default 50ms.
	Pause time.Duration
	// Interval separates two sweeps; default 1h. Records are thus kept up to MaxAge+Interval.
	Interval time.Duration
	Logger   *zap.Logger
	Now      func() time.Time // for tests; default time.Now
}

// Pruner runs sweeps in the background: one at Start, then one every Interval.
type Pruner struct {
	d      Deleter
	o      Options
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// New returns a Pruner that is not yet running.
func New(d Deleter, o Options) *Pruner {
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Pause <= 0 {
		o.Pause = DefaultPause
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Pruner{d: d, o: o, done: make(chan struct{})}
}

// Start begins sweeping in a goroutine. Call it once; Stop ends it.
func (p *Pruner) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(ctx)
}

// Stop ends the background loop, interrupting a sweep between two batches (a batch under way
// is cancelled and rolled back), and waits for it. It is safe to call more than once, and
// without Start.
func (p *Pruner) Stop() {
	p.once.Do(func() {
		if p.cancel == nil {
			close(p.done)
			return
		}
		p.cancel()
	})
	<-p.done
}

func (p *Pruner) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.Sweep(ctx)
		t.Reset(p.o.Interval)
	}
}

// Sweep deletes every record older than MaxAge, one batch at a time, and returns how many it
// deleted. It stops early when ctx ends or a batch fails (logged; the next sweep retries).
func (p *Pruner) Sweep(ctx context.Context) int64 {
	cutoff := p.o.Now().Add(-p.o.MaxAge)
	var total int64
	for {
		n, err := p.d.DeleteUsageBefore(ctx, cutoff, p.o.Batch)
		total += n
		if err != nil {
			if ctx.Err() == nil {
				p.o.Logger.Error("deleting old usage records failed; retrying at the next sweep",
					zap.Time("before", cutoff), zap.Int64("deleted", total), zap.Error(err))
			}
			return total
		}
		if n < int64(p.o.Batch) {
			break
		}
		select {
		case <-ctx.Done():
			return total
		case <-time.After(p.o.Pause):
		}
	}
	if total > 0 {
		p.o.Logger.Info("deleted old usage records", zap.Int64("records", total), zap.Time("before", cutoff),
			zap.Duration("retention", p.o.MaxAge))
	}
	return total
}
