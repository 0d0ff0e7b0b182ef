package accounting

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Sink stores batches of records. WriteUsage must be all-or-nothing and idempotent by
// generation id, because a failed batch is retried whole.
type Sink interface {
	WriteUsage(ctx context.Context, recs []Record) error
}

// Options tune the writer; zero values take the defaults noted.
type Options struct {
	QueueSize     int           // records waiting at most, default 65536
	BatchSize     int           // records per store write, default 500
	FlushInterval time.Duration // longest a record waits for a batch to fill, default 200ms
	// Retries bounds attempts for one batch while the store fails, default 5, with backoff
	// doubling from 100ms. Past them the batch is dropped and counted.
	Retries int
	// MaxQueuedBodyBytes bounds the prompt-logging bodies (Record.Bodies) waiting in the
	// queue, default 256 MiB. A record that would pass it is still queued, without its bodies,
	// so that a slow store cannot make prompt logging exhaust memory.
	MaxQueuedBodyBytes int64
	Logger             *zap.Logger
}

// Writer moves records from request handlers to the Sink. Enqueue never blocks: when the queue
// is full the record is dropped and counted, because a slow store must not slow down inference.
type Writer struct {
	sink    Sink
	opts    Options
	log     *zap.Logger
	queue   chan Record
	kick    chan struct{} // a batch is ready; lets Enqueue wake the writer once per batch
	stop    chan struct{}
	done    chan struct{}
	closing atomic.Bool
	once    sync.Once
	written atomic.Int64
	// bodyBytes is the memory held by the Bodies of queued and in-flight records.
	bodyBytes atomic.Int64
}

// ErrClosed is returned by Close when called twice.
var ErrClosed = errors.New("accounting writer already closed")

// NewWriter starts the background batch writer.
func NewWriter(sink Sink, opts Options) *Writer {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 65536
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 200 * time.Millisecond
	}
	if opts.Retries <= 0 {
		opts.Retries = 5
	}
	if opts.MaxQueuedBodyBytes <= 0 {
		opts.MaxQueuedBodyBytes = 256 << 20
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	w := &Writer{
		sink:  sink,
		opts:  opts,
		log:   log,
		queue: make(chan Record, opts.QueueSize),
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go w.run()
	return w
}

// Enqueue hands a record to the writer without blocking and reports whether it was accepted.
// It copies *r, so the caller may reuse r (r.Bodies is shared, not copied: the caller must not
// change it afterwards). Call it only before Close.
func (w *Writer) Enqueue(r *Record) bool {
	if w.closing.Load() {
		droppedClosed.Inc()
		return false
	}
	var held int64
	if b := r.Bodies; b != nil {
		held = b.size()
		if w.bodyBytes.Add(held) > w.opts.MaxQueuedBodyBytes {
			w.bodyBytes.Add(-held)
			bodiesDropped.Inc()
			rec := *r
			rec.Bodies = nil
			return w.Enqueue(&rec)
		}
	}
	select {
	case w.queue <- *r:
		enqueued.Inc()
		// The writer sleeps until a batch is ready or the flush interval passes, instead of
		// waking for every record: a goroutine wake-up per request is a measurable share of
		// a proxy's CPU.
		if len(w.queue) >= w.opts.BatchSize {
			select {
			case w.kick <- struct{}{}:
			default:
			}
		}
		return true
	default:
		w.bodyBytes.Add(-held)
		droppedQueueFull.Inc()
		return false
	}
}

// Len is the number of records waiting to be written.
func (w *Writer) Len() int { return len(w.queue) }

// Written is the number of records the sink has accepted.
func (w *Writer) Written() int64 { return w.written.Load() }

// Close stops accepting records, writes everything queued, and returns when done or when ctx
// ends (then the records still queued are lost and the error says how many).
// The server must have stopped handling requests first, so that no Enqueue races with Close.
func (w *Writer) Close(ctx context.Context) error {
	err := ErrClosed
	w.once.Do(func() {
		w.closing.Store(true)
		close(w.stop)
		select {
		case <-w.done:
			err = nil
		case <-ctx.Done():
			err = errors.Join(ctx.Err(), errors.New("accounting: records still queued at shutdown were not written"))
		}
	})
	return err
}

func (w *Writer) run() {
	defer close(w.done)
	batch := make([]Record, 0, w.opts.BatchSize)
	ticker := time.NewTicker(w.opts.FlushInterval)
	defer ticker.Stop()
	flush := func() {
		if len(batch) > 0 {
			w.write(batch)
			var held int64
			for i := range batch {
				if b := batch[i].Bodies; b != nil {
					held += b.size()
				}
			}
			w.bodyBytes.Add(-held)
			// The backing array outlives the batch: drop its references to bodies now rather
			// than when a later batch happens to overwrite them.
			clear(batch)
			batch = batch[:0]
		}
	}
	add := func(r Record) {
		if batch = append(batch, r); len(batch) == cap(batch) {
			flush()
		}
	}
	// drain writes everything queued now, in batches.
	drain := func() {
		for {
			select {
			case r := <-w.queue:
				add(r)
			default:
				flush()
				return
			}
		}
	}
	for {
		select {
		case <-w.kick:
			drain()
		case <-ticker.C:
			drain()
		case <-w.stop:
			// Nothing new can arrive (see Close): write what is queued, then stop.
			drain()
			return
		}
	}
}

// write stores one batch, retrying with backoff while the store fails.
func (w *Writer) write(batch []Record) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := w.sink.WriteUsage(context.Background(), batch)
		batchSeconds.UpdateDuration(start)
		if err == nil {
			w.written.Add(int64(len(batch)))
			writtenTotal.Add(len(batch))
			return
		}
		writeErrors.Inc()
		if attempt >= w.opts.Retries {
			droppedStoreError.Add(len(batch))
			w.log.Error("usage records dropped after store errors",
				zap.Int("records", len(batch)), zap.Int("attempts", attempt), zap.Error(err))
			return
		}
		w.log.Warn("usage batch write failed; retrying",
			zap.Int("records", len(batch)), zap.Int("attempt", attempt), zap.Error(err))
		time.Sleep(backoff)
		backoff *= 2
	}
}
