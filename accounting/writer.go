package accounting

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Sink stores batches of records. WriteUsage must be all-or-nothing and idempotent by
// generation id, because a failed batch is retried whole and a spool replayed after a crash
// may hold records the store already has.
type Sink interface {
	WriteUsage(ctx context.Context, recs []Record) error
}

// FullPolicy is what happens when the spool has no room left (the store has been failing for
// long enough to fill it).
type FullPolicy string

const (
	// RefuseWhenFull stops admitting requests (Admit reports false) while the spool is nearly
	// full, keeping the rest as headroom for the records of requests already running: no
	// request is served without a record. The default.
	RefuseWhenFull FullPolicy = "refuse"
	// DropWhenFull keeps serving and drops the records that do not fit, counting them in
	// arouter_accounting_records_dropped_total{reason="spool_full"}.
	DropWhenFull FullPolicy = "drop_new"
)

// Options tune the writer; zero values take the defaults noted.
type Options struct {
	BatchSize     int           // records per store write, default 500
	FlushInterval time.Duration // longest a record waits for a batch to fill, default 200ms
	// SpoolDir is where records wait for the store (see spool.go). Empty keeps them in memory,
	// where they do not survive the process.
	SpoolDir string
	// SpoolMaxBytes bounds the spool: default 1 GiB, or 256 MiB in memory.
	SpoolMaxBytes int64
	// SpoolSegmentBytes is the size of one spool file: default 64 MiB (4 MiB in memory), at
	// most a quarter of SpoolMaxBytes. A segment is deleted once all its records are stored.
	SpoolSegmentBytes int64
	// WhenFull is the policy once the spool is full; default RefuseWhenFull.
	WhenFull FullPolicy
	// MaxQueuedBodyBytes bounds the prompt-logging bodies (Record.Bodies) waiting in the spool,
	// default 256 MiB. A record that would pass it is still spooled, without its bodies, so
	// that prompt logging cannot crowd billing records out of the spool.
	MaxQueuedBodyBytes int64
	Logger             *zap.Logger

	onCommit func() // tests: called by the writer goroutine after each commit
}

// maxBackoff caps the pause between attempts to write a batch while the store fails: the
// records are safe in the spool, so the writer keeps trying for as long as it takes.
const maxBackoff = 2 * time.Second

// maxSyncDelay bounds how long a spooled record waits to be fsynced (the flush interval when it
// is shorter), which is what a machine crash can lose.
const maxSyncDelay = time.Second

// Writer moves records from request handlers to the Sink through the spool. Enqueue never
// blocks and never waits for a disk: a record is copied into a memory-mapped spool file, and
// from then on a killed process does not lose it.
type Writer struct {
	sink    Sink
	opts    Options
	log     *zap.Logger
	spool   *spool
	reserve int64 // headroom kept for running requests under RefuseWhenFull

	kick     chan struct{} // a batch is ready; lets Enqueue wake the writer once per batch
	stop     chan struct{}
	done     chan struct{}
	syncStop chan struct{}
	syncDone chan struct{}
	replayed chan struct{} // closed once adopted records are stored
	ctx      context.Context
	paced    context.Context    // ctx, asking the store to pace its work (see Pause)
	cancel   context.CancelFunc // gives up on the store (Close's deadline passed)
	closing  atomic.Bool
	once     sync.Once

	written   atomic.Int64
	pending   atomic.Int64 // spooled, not yet stored
	unread    atomic.Int64 // spooled since the writer last read, for kicks
	bodyBytes atomic.Int64 // bodies of pending records
	full      atomic.Bool  // a spool-full episode is under way (logged once)
	fullLost  atomic.Int64 // records dropped and requests refused in the episode

	// The writer goroutine's own.
	rd          cursor
	batch       []Record
	strs        map[string]string
	adoptedLeft int
}

// cursor is a read position in the spool.
type cursor struct {
	seg *segment
	off int
}

// ErrClosed is returned by Close when called twice.
var ErrClosed = errors.New("accounting writer already closed")

// NewWriter starts a writer with its spool in memory. It panics if opts.SpoolDir is set:
// opening files can fail, so use OpenWriter for that.
func NewWriter(sink Sink, opts Options) *Writer {
	if opts.SpoolDir != "" {
		panic("accounting: NewWriter with a SpoolDir; use OpenWriter")
	}
	w, err := OpenWriter(sink, opts)
	if err != nil {
		panic("accounting: " + err.Error()) // an in-memory spool cannot fail to open
	}
	return w
}

// OpenWriter opens the spool, takes over the records that processes which are gone left in it,
// and starts the background batch writer, which stores those records first (see Replayed).
func OpenWriter(sink Sink, opts Options) (*Writer, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 200 * time.Millisecond
	}
	if opts.SpoolMaxBytes <= 0 {
		opts.SpoolMaxBytes = 1 << 30
		if opts.SpoolDir == "" {
			opts.SpoolMaxBytes = 256 << 20
		}
	}
	if opts.SpoolSegmentBytes <= 0 {
		opts.SpoolSegmentBytes = 64 << 20
		if opts.SpoolDir == "" {
			opts.SpoolSegmentBytes = 4 << 20
		}
	}
	opts.SpoolSegmentBytes = max(min(opts.SpoolSegmentBytes, opts.SpoolMaxBytes/4), 4<<10)
	switch opts.WhenFull {
	case "":
		opts.WhenFull = RefuseWhenFull
	case RefuseWhenFull, DropWhenFull:
	default:
		return nil, fmt.Errorf("accounting: unknown spool-full policy %q (use %q or %q)", opts.WhenFull, RefuseWhenFull, DropWhenFull)
	}
	if opts.MaxQueuedBodyBytes <= 0 {
		opts.MaxQueuedBodyBytes = 256 << 20
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	sp, err := openSpool(spoolOptions{dir: opts.SpoolDir, maxBytes: opts.SpoolMaxBytes, segmentBytes: opts.SpoolSegmentBytes, log: log})
	if err != nil {
		return nil, err
	}
	w := &Writer{
		sink:     sink,
		opts:     opts,
		log:      log,
		spool:    sp,
		reserve:  min(opts.SpoolMaxBytes/16, 64<<20),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		syncStop: make(chan struct{}),
		syncDone: make(chan struct{}),
		replayed: make(chan struct{}),
		batch:    make([]Record, 0, opts.BatchSize),
		strs:     map[string]string{},
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.paced = Paced(w.ctx)
	for _, seg := range sp.segs {
		if seg.orphan != nil {
			w.adoptedLeft++
		}
	}
	if w.adoptedLeft == 0 {
		close(w.replayed)
	} else {
		w.pending.Store(int64(sp.adoptedRecords))
		replayedTotal.Add(sp.adoptedRecords)
		log.Info("replaying usage records spooled by an earlier process",
			zap.Int("records", sp.adoptedRecords), zap.Int("segments", w.adoptedLeft), zap.Int64("bytes", sp.adoptedBytes))
	}
	go w.run()
	go w.syncLoop()
	return w, nil
}

// Enqueue spools a record without blocking and reports whether it was accepted. It copies *r
// (bodies included), so the caller may reuse r. Call it only before Close.
func (w *Writer) Enqueue(r *Record) bool {
	if w.closing.Load() {
		droppedClosed.Inc()
		return false
	}
	if r.GenerationID.IsZero() { // the store would refuse the whole batch, again and again
		droppedInvalid.Inc()
		return false
	}
	var held int64
	keep := r.Bodies != nil
	if keep {
		held = int64(len(r.Bodies.Request) + len(r.Bodies.Response))
		if w.bodyBytes.Add(held) > w.opts.MaxQueuedBodyBytes {
			w.bodyBytes.Add(-held)
			bodiesDropped.Inc()
			keep = false
		}
	}
	var buf [encodeBufSize]byte
	head, req, resp := appendFrameHead(buf[:0], r, keep)
	err := w.spool.append(head, req, resp)
	if err == errSpoolFull && keep {
		// The record without its bodies is better than no record.
		w.bodyBytes.Add(-held)
		bodiesDropped.Inc()
		keep = false
		head, _, _ = appendFrameHead(buf[:0], r, false)
		err = w.spool.append(head, nil, nil)
	}
	if err != nil {
		if keep {
			w.bodyBytes.Add(-held)
		}
		if err == errSpoolClosed {
			droppedClosed.Inc()
		} else {
			droppedSpoolFull.Inc()
			w.noteFull()
		}
		return false
	}
	enqueued.Inc()
	w.pending.Add(1)
	// The writer sleeps until a batch is ready or the flush interval passes, instead of waking
	// for every record: a goroutine wake-up per request is a measurable share of a proxy's CPU.
	if w.unread.Add(1) >= int64(w.opts.BatchSize) {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// Admit reports whether a new request may start. Under RefuseWhenFull it is false while the
// spool's free space is below its headroom (a sixteenth of SpoolMaxBytes, at most 64 MiB),
// which the records of the requests already running may still use. Each false is counted.
func (w *Writer) Admit() bool {
	if w.opts.WhenFull != RefuseWhenFull || w.spool.room.Load() >= w.reserve {
		return true
	}
	requestsRefused.Inc()
	w.noteFull()
	return false
}

// noteFull counts a record or request lost to a full spool, and logs the first of an episode.
func (w *Writer) noteFull() {
	w.fullLost.Add(1)
	if w.full.CompareAndSwap(false, true) {
		w.log.Error("accounting spool is full: the store has not accepted records for a long time",
			zap.String("policy", string(w.opts.WhenFull)), zap.String("spool", w.spool.describe()),
			zap.Int64("max_bytes", w.opts.SpoolMaxBytes), zap.Int64("pending_records", w.pending.Load()))
	}
}

// Len is the number of records spooled and not yet stored.
func (w *Writer) Len() int { return int(w.pending.Load()) }

// Written is the number of records the sink has accepted.
func (w *Writer) Written() int64 { return w.written.Load() }

// WaitReplayed waits until the records adopted from earlier processes' spools are stored, so
// that spend read from the store afterwards includes them.
func (w *Writer) WaitReplayed(ctx context.Context) error {
	select {
	case <-w.replayed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("accounting: usage records of an earlier process are not stored yet (is the store writable?); they stay in the spool and are written when it accepts them: %w", ctx.Err())
	}
}

// Close stops accepting records and stores everything spooled, giving up when ctx ends. With a
// spool directory, records not stored stay there for the next start (the error says how many);
// in memory they are lost. The server must have stopped handling requests first, so that no
// Enqueue races with Close.
func (w *Writer) Close(ctx context.Context) error {
	err := ErrClosed
	w.once.Do(func() {
		w.closing.Store(true)
		close(w.stop)
		select {
		case <-w.done:
		case <-ctx.Done():
			w.cancel()
			<-w.done
		}
		w.cancel()
		close(w.syncStop) // the syncer's last round covers everything spooled
		<-w.syncDone
		left := w.pending.Load()
		w.spool.close(left == 0)
		switch {
		case left == 0:
			err = nil
		case w.opts.SpoolDir == "":
			err = fmt.Errorf("accounting: %d usage records were not stored before shutdown and are lost (no spool directory)", left)
		default:
			err = fmt.Errorf("accounting: %d usage records are not stored yet; they stay in the spool under %s and the next start stores them", left, w.opts.SpoolDir)
		}
	})
	return err
}

func (w *Writer) run() {
	defer close(w.done)
	ticker := time.NewTicker(w.opts.FlushInterval)
	defer ticker.Stop()
	if w.adoptedLeft > 0 && !w.drain() { // earlier processes' records, at once
		return
	}
	for {
		select {
		case <-w.kick:
		case <-ticker.C:
		case <-w.stop:
			// Nothing new can arrive (see Close): store what is spooled, then stop.
			w.drain()
			return
		}
		if !w.drain() {
			return
		}
	}
}

// drain stores everything spooled so far, batch by batch. It returns false when Close gave up.
func (w *Writer) drain() bool {
	for {
		rd, consumed, bodies := w.readBatch()
		if len(w.batch) > 0 && !w.write(w.batch) {
			return false
		}
		w.commit(rd, consumed, bodies)
		if len(w.batch) < cap(w.batch) {
			return true
		}
	}
}

// syncLoop fsyncs the spool on its own goroutine, so that neither Enqueue nor a store write
// that takes long (a locked database) delays it. A failure is logged: the records are still in
// the page cache, and the store may take them before anything happens.
func (w *Writer) syncLoop() {
	defer close(w.syncDone)
	if w.opts.SpoolDir == "" {
		<-w.syncStop
		return
	}
	t := time.NewTicker(min(w.opts.FlushInterval, maxSyncDelay))
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.spool.prepareSpare()
		case <-w.syncStop:
		}
		if err := w.spool.sync(); err != nil {
			spoolSyncErrors.Inc()
			w.log.Error("cannot fsync the accounting spool; records spooled since the last sync would not survive a machine crash", zap.Error(err))
		}
		select {
		case <-w.syncStop:
			return
		default:
		}
	}
}

// readBatch decodes the next records after w.rd into w.batch. It returns where it stopped, how
// many records it consumed (including undecodable ones) and the bytes of their bodies.
func (w *Writer) readBatch() (c cursor, consumed int, bodies int64) {
	clear(w.batch) // drop the previous batch's strings and bodies
	w.batch = w.batch[:0]
	c = w.rd
	own := 0
	// published and sealed share a cache line with what Enqueue writes on every append: they
	// are read again only when the frames known to be complete are used up.
	end, sealed := -1, false
	for len(w.batch) < cap(w.batch) {
		if c.seg == nil {
			if c.seg = w.spool.first(); c.seg == nil {
				break
			}
			c.off, end = c.seg.start, -1
		}
		if c.off >= end {
			sealed = c.seg.sealed.Load() // before published: once sealed, published is final
			end = int(c.seg.published.Load())
		}
		payload, next, st := readFrame(c.seg.data, c.off, end)
		if st == frameEnd {
			if !sealed {
				break
			}
			nxt := w.spool.after(c.seg)
			if nxt == nil {
				break
			}
			c, end = cursor{seg: nxt, off: nxt.start}, -1
			continue
		}
		at := c.off
		c.off = next
		if st == frameCorrupt {
			// A process killed while copying its last record leaves it torn: that request
			// never completed. Anywhere else it is damage on disk.
			corruptRecords.Inc()
			w.log.Warn("skipped an accounting spool record whose checksum does not match", zap.String("segment", c.seg.path), zap.Int("offset", at))
			continue
		}
		consumed++
		if c.seg.orphan == nil {
			own++
		}
		w.batch = append(w.batch, Record{})
		r := &w.batch[len(w.batch)-1]
		if !decodePayload(payload, r, w.strs) {
			w.batch = w.batch[:len(w.batch)-1]
			corruptRecords.Inc()
			w.log.Error("skipped an accounting spool record that does not decode", zap.String("segment", c.seg.path), zap.Int("offset", at))
			continue
		}
		if b := r.Bodies; b != nil && c.seg.orphan == nil {
			bodies += int64(len(b.Request) + len(b.Response))
		}
	}
	w.unread.Add(-int64(own))
	return c, consumed, bodies
}

// commit records that everything before c is stored: segments read to their end are deleted,
// and the one c is in notes its committed offset.
func (w *Writer) commit(c cursor, consumed int, bodies int64) {
	w.rd = c
	if c.seg != nil {
		for f := w.spool.first(); f != nil && f != c.seg; f = w.spool.first() {
			w.release(f)
		}
		if c.seg.sealed.Load() && c.off >= int(c.seg.published.Load()) {
			w.release(c.seg)
			w.rd = cursor{}
		} else {
			w.spool.committed(c.seg, c.off)
		}
	}
	w.pending.Add(-int64(consumed))
	w.bodyBytes.Add(-bodies)
	if w.full.Load() && w.spool.room.Load() >= w.reserve && w.full.CompareAndSwap(true, false) {
		w.log.Warn("accounting spool has room again",
			zap.Int64("records_dropped_or_requests_refused", w.fullLost.Swap(0)), zap.String("policy", string(w.opts.WhenFull)))
	}
	if w.opts.onCommit != nil {
		w.opts.onCommit()
	}
}

func (w *Writer) release(seg *segment) {
	adopted := seg.orphan != nil
	w.spool.release(seg)
	if adopted {
		if w.adoptedLeft--; w.adoptedLeft == 0 {
			w.log.Info("usage records of an earlier process are stored")
			close(w.replayed)
		}
	}
}

// keepingUp reports whether the writer may let the store pace the batch it just read (see
// Pause): not while another full batch is already waiting, nor while it replays an earlier
// process's records or stores the rest before shutting down.
func (w *Writer) keepingUp() bool {
	return w.unread.Load() < int64(w.opts.BatchSize) && w.adoptedLeft == 0 && !w.closing.Load()
}

// write stores one batch, retrying with backoff for as long as the store fails: the records
// are in the spool meanwhile. It returns false when Close gave up waiting.
func (w *Writer) write(batch []Record) bool {
	backoff := 100 * time.Millisecond
	ctx := w.ctx
	if w.keepingUp() {
		ctx = w.paced
	}
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := w.sink.WriteUsage(ctx, batch)
		batchSeconds.UpdateDuration(start)
		if err == nil {
			w.written.Add(int64(len(batch)))
			writtenTotal.Add(len(batch))
			if attempt > 1 {
				w.log.Info("usage records are being stored again", zap.Int("attempts", attempt), zap.Int64("pending_records", w.pending.Load()))
			}
			return true
		}
		writeErrors.Inc()
		if w.ctx.Err() != nil {
			return false
		}
		w.log.Warn("usage batch write failed; the records stay in the spool and are retried",
			zap.Int("records", len(batch)), zap.Int("attempt", attempt), zap.Duration("retry_in", backoff),
			zap.Int64("pending_records", w.pending.Load()), zap.Error(err))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(backoff*2, maxBackoff)
	}
}
