package accounting

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/arouter/arouter/money"
)

// storeSink behaves like the SQLite store where the spool depends on it: writes are
// idempotent by generation id (a replayed record is not stored twice) and all-or-nothing. It
// can be shut (writes block until opened or cancelled) or down (writes fail).
type storeSink struct {
	mu      sync.Mutex
	recs    map[GenerationID]Record
	writes  int // successful WriteUsage calls
	gate    chan struct{}
	down    atomic.Bool
	entered chan struct{} // a value per WriteUsage call, if there is room
	failed  chan struct{} // a value per failed call, if there is room
}

func newStoreSink(shut bool) *storeSink {
	s := &storeSink{recs: map[GenerationID]Record{}, entered: make(chan struct{}, 1000), failed: make(chan struct{}, 1000)}
	if shut {
		s.gate = make(chan struct{})
	}
	return s
}

func (s *storeSink) WriteUsage(ctx context.Context, recs []Record) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.down.Load() {
		select {
		case s.failed <- struct{}{}:
		default:
		}
		return errors.New("database is locked")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	for _, r := range recs {
		if _, ok := s.recs[r.GenerationID]; !ok {
			s.recs[r.GenerationID] = r
		}
	}
	return nil
}

func (s *storeSink) open() { close(s.gate) }

func (s *storeSink) has(id GenerationID) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	return r, ok
}

func (s *storeSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// countingSink counts every record it is given, duplicates included, so that a test can see
// whether the spool replays what the store already has.
type countingSink struct {
	storeSink
	given map[GenerationID]int
}

func (s *countingSink) WriteUsage(ctx context.Context, recs []Record) error {
	if err := s.storeSink.WriteUsage(ctx, recs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		s.given[r.GenerationID]++
	}
	return nil
}

func openFileWriter(t *testing.T, sink Sink, dir string, o Options) *Writer {
	t.Helper()
	o.SpoolDir = dir
	w, err := OpenWriter(sink, o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// spoolRecords enqueues n records; every third carries prompt-logging bodies.
func spoolRecords(t *testing.T, w *Writer, n int) []Record {
	t.Helper()
	out := make([]Record, n)
	for i := range out {
		r := Record{GenerationID: NewGenerationID(time.Now()), Time: time.Now(), KeyID: int64(i), Model: "openai/gpt-4o-mini",
			Provider: "mock", PromptTokens: int64(i), Cost: money.Nanos(1000 + i*7), Status: 200, ErrorCode: "", FinishReason: FinishStop}
		r.UpstreamID.SetString(fmt.Sprintf("chatcmpl-%d", i))
		if i%3 == 0 {
			r.Bodies = &Bodies{Request: []byte(fmt.Sprintf(`{"n":%d}`, i)), Response: bytes.Repeat([]byte("a"), i), RequestSize: 9, ResponseSize: int64(i)}
		}
		if !w.Enqueue(&r) {
			t.Fatalf("record %d refused", i)
		}
		out[i] = r
	}
	return out
}

// crash stops w the way a killed process stops: the writer gives up on its store at once and
// the spool files stay as they are, with the process's lock released.
func crash(t *testing.T, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Close(ctx); err == nil || !strings.Contains(err.Error(), "stay in the spool") {
		t.Fatalf("Close with records not stored: %v", err)
	}
}

func checkStored(t *testing.T, sink *storeSink, want []Record) {
	t.Helper()
	for i, r := range want {
		got, ok := sink.has(r.GenerationID)
		if !ok {
			t.Fatalf("record %d (%s) was never stored", i, r.GenerationID)
		}
		if got.Cost != r.Cost || got.KeyID != r.KeyID || got.UpstreamID != r.UpstreamID || !got.Time.Equal(r.Time) {
			t.Fatalf("record %d stored as %+v, want %+v", i, got, r)
		}
		if (r.Bodies == nil) != (got.Bodies == nil) || (r.Bodies != nil && !bytes.Equal(r.Bodies.Response, got.Bodies.Response)) {
			t.Fatalf("record %d bodies: %+v, want %+v", i, got.Bodies, r.Bodies)
		}
	}
	if sink.len() != len(want) {
		t.Fatalf("%d records stored, want %d", sink.len(), len(want))
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && path != dir {
			names = append(names, strings.TrimPrefix(path, dir+"/"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// Records spooled by processes that died are stored by the next one, exactly once, bodies
// included; records their process had already stored are not sent again. Afterwards the spool
// directory is empty.
func TestSpoolReplaysDeadProcessesExactlyOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := &countingSink{storeSink: *newStoreSink(true), given: map[GenerationID]int{}}

	// The first process stores one batch of 10, then its store hangs and it is killed.
	a := openFileWriter(t, store, dir, Options{BatchSize: 10, FlushInterval: time.Hour})
	first := spoolRecords(t, a, 95)
	<-store.entered
	store.gate <- struct{}{} // let exactly one batch through
	<-store.entered          // the writer asks again: the first batch is committed
	crash(t, a)
	// A second process spools more and is killed before storing anything.
	b := openFileWriter(t, store, dir, Options{BatchSize: 1000, FlushInterval: time.Hour})
	second := spoolRecords(t, b, 7)
	crash(t, b)
	if n := store.len(); n != 10 {
		t.Fatalf("%d records stored before the crashes, want 10", n)
	}

	store.open()
	c := openFileWriter(t, store, dir, Options{BatchSize: 16})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	third := spoolRecords(t, c, 5)
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	all := append(append(first, second...), third...)
	checkStored(t, &store.storeSink, all)
	for id, n := range store.given {
		if n != 1 {
			t.Errorf("record %s was given to the store %d times; a committed offset should prevent replaying it", id, n)
		}
	}
	if left := dirEntries(t, dir); len(left) != 0 {
		t.Errorf("spool directory not empty after everything was stored: %v", left)
	}
}

// A process killed while copying a record leaves a torn frame at the end of its segment; disk
// damage leaves a frame whose checksum fails. The replay skips both and stores the rest.
func TestSpoolReplaySkipsTornAndDamagedRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := newStoreSink(false)
	store.down.Store(true)
	a := openFileWriter(t, store, dir, Options{FlushInterval: time.Hour})
	recs := spoolRecords(t, a, 20)
	crash(t, a)

	segs, _ := filepath.Glob(filepath.Join(dir, ownerPrefix+"*", segmentPrefix+"*"))
	if len(segs) != 1 {
		t.Fatalf("segments: %v", segs)
	}
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	var offsets []int
	off := segmentHeader
	for {
		_, next, st := readFrame(data, off, len(data))
		if st != frameOK {
			break
		}
		offsets = append(offsets, off)
		off = next
	}
	if len(offsets) != 20 {
		t.Fatalf("%d frames in the segment, want 20", len(offsets))
	}
	// Damage record 5's payload, and write half of a 21st record after the last.
	if _, err := f.WriteAt([]byte{data[offsets[5]+frameHeader+3] ^ 0xff}, int64(offsets[5]+frameHeader+3)); err != nil {
		t.Fatal(err)
	}
	torn := data[offsets[6]:offsets[7]]
	if _, err := f.WriteAt(torn[:len(torn)/2], int64(off)); err != nil {
		t.Fatal(err)
	}

	// The store stays down while the new writer adopts the spool, so that what it found to
	// replay can be counted before it is drained.
	b := openFileWriter(t, store, dir, Options{})
	if got := b.Len(); got != 19 {
		t.Errorf("records found to replay: %d, want 19 (one damaged, one torn)", got)
	}
	store.down.Store(false)
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkStored(t, store, append(recs[:5:5], recs[6:]...))
}

// Small segments: the spool rotates through several files, deletes each once stored, and
// leaves nothing behind.
func TestSpoolRotatesAndDeletesStoredSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := newStoreSink(true)
	commits := make(chan struct{}, 1)
	w := openFileWriter(t, store, dir, Options{BatchSize: 100, FlushInterval: time.Hour, SpoolMaxBytes: 4 << 20, SpoolSegmentBytes: 64 << 10,
		onCommit: func() {
			select {
			case commits <- struct{}{}:
			default:
			}
		}})
	recs := spoolRecords(t, w, 1500)
	segs, _ := filepath.Glob(filepath.Join(dir, ownerPrefix+"*", segmentPrefix+"*"))
	if len(segs) < 4 {
		t.Fatalf("%d segments for 1500 records in 64 KiB segments, want several", len(segs))
	}
	if b := w.spool.bytes(); b != int64(len(segs))*64<<10 {
		t.Errorf("spool bytes %d, want %d", b, len(segs)*64<<10)
	}
	store.open()
	for w.Len() > 0 {
		<-commits
	}
	// Everything is stored: only the segment still taking appends remains (and perhaps a spare
	// made ahead of need by the syncer).
	if segs, _ := filepath.Glob(filepath.Join(dir, ownerPrefix+"*", segmentPrefix+"*")); len(segs) > 2 {
		t.Errorf("segments once everything is stored: %v, want only the current one", segs)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkStored(t, store, recs)
	if left := dirEntries(t, dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// drop_new: with the store stuck, records are accepted until the spool is full, then refused
// (and counted); requests are never refused. Once the store takes them, every accepted record
// is stored and new ones are accepted again.
func TestSpoolFullDropsNewRecords(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"", t.TempDir()} {
		store := newStoreSink(true)
		commits := make(chan struct{}, 1)
		w, err := OpenWriter(store, Options{BatchSize: 50, FlushInterval: time.Hour, SpoolDir: dir, SpoolMaxBytes: 64 << 10, WhenFull: DropWhenFull,
			onCommit: func() {
				select {
				case commits <- struct{}{}:
				default:
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		var accepted []Record
		refused := 0
		for range 2000 {
			r := Record{GenerationID: NewGenerationID(time.Now()), Model: "m", Provider: "p"}
			if w.Enqueue(&r) {
				accepted = append(accepted, r)
			} else {
				refused++
			}
			if !w.Admit() {
				t.Fatal("drop_new refused a request")
			}
		}
		if refused == 0 || len(accepted) < 100 {
			t.Fatalf("spool %q: %d accepted, %d refused; want the spool to fill", dir, len(accepted), refused)
		}
		if !w.full.Load() {
			t.Error("the spool-full state is not visible")
		}
		store.open()
		for w.Len() > 0 || w.full.Load() {
			<-commits
		}
		more := Record{GenerationID: NewGenerationID(time.Now())}
		if !w.Enqueue(&more) {
			t.Error("record refused after the spool emptied")
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkStored(t, store, append(accepted, more))
	}
}

// refuse: requests are refused while the spool is nearly full, but the records of requests
// already running still fit in the headroom; once the store catches up requests are admitted.
func TestSpoolFullRefusesRequests(t *testing.T) {
	t.Parallel()
	store := newStoreSink(true)
	commits := make(chan struct{}, 1)
	w := openFileWriter(t, store, t.TempDir(), Options{BatchSize: 50, FlushInterval: time.Hour, SpoolMaxBytes: 256 << 10,
		onCommit: func() {
			select {
			case commits <- struct{}{}:
			default:
			}
		}})
	var accepted []Record
	for w.Admit() {
		r := Record{GenerationID: NewGenerationID(time.Now()), Model: "m", Provider: "p"}
		if !w.Enqueue(&r) {
			t.Fatalf("record refused after its request was admitted, with %d spooled", len(accepted))
		}
		accepted = append(accepted, r)
	}
	// Requests admitted just before the refusals began still finish and are recorded.
	for range 20 {
		r := Record{GenerationID: NewGenerationID(time.Now()), Model: "m", Provider: "p"}
		if !w.Enqueue(&r) {
			t.Fatal("no headroom for running requests")
		}
		accepted = append(accepted, r)
	}
	if w.Admit() || !w.full.Load() {
		t.Fatal("a full spool admits requests")
	}
	store.open()
	for !w.Admit() {
		<-commits
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkStored(t, store, accepted)
}

// The store fails for a while: requests keep being recorded, nothing is dropped, and when it
// comes back every record arrives exactly once.
func TestSpoolKeepsRecordsWhileStoreIsDown(t *testing.T) {
	t.Parallel()
	store := newStoreSink(false)
	store.down.Store(true)
	w := openFileWriter(t, store, t.TempDir(), Options{BatchSize: 20, FlushInterval: 5 * time.Millisecond})
	recs := spoolRecords(t, w, 50)
	<-store.failed
	<-store.failed // retried, still failing
	recs = append(recs, spoolRecords(t, w, 150)...)
	if w.Len() != 200 || store.len() != 0 {
		t.Fatalf("while the store is down: %d pending, %d stored", w.Len(), store.len())
	}
	store.down.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkStored(t, store, recs)
}

// Two live processes may share a spool directory: neither takes the other's records.
func TestSpoolOfLiveProcessIsNotAdopted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storeA, storeB := newStoreSink(true), newStoreSink(false)
	a := openFileWriter(t, storeA, dir, Options{FlushInterval: time.Hour})
	recs := spoolRecords(t, a, 10)
	b := openFileWriter(t, storeB, dir, Options{})
	if b.adoptedLeft != 0 || b.Len() != 0 {
		t.Fatalf("a live process's spool was adopted: %d segments, %d records", b.adoptedLeft, b.Len())
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	storeA.open()
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkStored(t, storeA, recs)
	if storeB.len() != 0 {
		t.Error("the second process stored the first one's records")
	}
}

// A segment this version cannot read is kept for an operator, not deleted, and does not stop
// the spool from opening.
func TestSpoolMovesUnreadableSegmentsAside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dead := filepath.Join(dir, ownerPrefix+"1-1")
	if err := os.MkdirAll(dead, 0o700); err != nil {
		t.Fatal(err)
	}
	junk := append([]byte("NOTSPOOL"), make([]byte, 100)...)
	if err := os.WriteFile(filepath.Join(dead, segmentName(1)), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	w := openFileWriter(t, newStoreSink(false), dir, Options{})
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	kept, err := os.ReadFile(filepath.Join(dir, damagedDir, ownerPrefix+"1-1-"+segmentName(1)))
	if err != nil || !bytes.Equal(kept, junk) {
		t.Fatalf("unreadable segment not kept aside: %v", err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead process's directory is still there: %v", err)
	}
}

func TestSpoolHeaderFormat(t *testing.T) {
	t.Parallel()
	if segmentHeader%frameAlign != 0 || committedAt+8 > segmentHeader || len(segmentMagic) > committedAt {
		t.Fatal("segment header layout overlaps")
	}
	if alignFrame(1) != 8 || alignFrame(8) != 8 || alignFrame(9) != 16 {
		t.Fatal("alignFrame")
	}
}

// sync reaches every frame appended so far, in every segment, and new segment files' names.
func TestSpoolSyncCoversAppendedFrames(t *testing.T) {
	t.Parallel()
	s, err := openSpool(spoolOptions{dir: t.TempDir(), maxBytes: 1 << 20, segmentBytes: 16 << 10, log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(true)
	r := Record{GenerationID: NewGenerationID(time.Now()), Model: "m"}
	for range 300 { // several 16 KiB segments
		head, _, _ := appendFrameHead(nil, &r, false)
		if err := s.append(head, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.segs) < 2 || !s.dirDirty {
		t.Fatalf("%d segments, directory dirty %v", len(s.segs), s.dirDirty)
	}
	if err := s.sync(); err != nil {
		t.Fatal(err)
	}
	for _, seg := range s.segs {
		if seg.synced != int(seg.published.Load()) {
			t.Errorf("segment %d synced to %d of %d", seg.seq, seg.synced, seg.published.Load())
		}
	}
	if s.dirDirty {
		t.Error("directory not synced")
	}
}

// The next segment is made ahead of need, off the request path, and the next rotation uses it.
func TestSpoolPreparesTheNextSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := openSpool(spoolOptions{dir: dir, maxBytes: 1 << 20, segmentBytes: 16 << 10, log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	r := Record{GenerationID: NewGenerationID(time.Now()), Model: "m"}
	head, _, _ := appendFrameHead(nil, &r, false)
	appendOne := func() {
		if err := s.append(head, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	appendOne()
	s.prepareSpare()
	if s.spare != nil {
		t.Fatal("a spare made for a segment that is not half full")
	}
	for s.segs[0].end < 9<<10 {
		appendOne()
	}
	room := s.room.Load()
	s.prepareSpare()
	if s.spare == nil || s.allocated != 32<<10 || s.room.Load() != room-segmentHeader {
		t.Fatalf("spare %v, allocated %d, room %d (was %d)", s.spare != nil, s.allocated, s.room.Load(), room)
	}
	spare := s.spare
	for len(s.segs) == 1 {
		appendOne()
	}
	if s.segs[1] != spare || s.spare != nil || s.allocated != 32<<10 {
		t.Fatalf("rotation did not use the spare (allocated %d)", s.allocated)
	}
	s.prepareSpare()
	if s.spare != nil {
		t.Fatal("a second spare for a fresh segment")
	}
	for s.segs[1].end < 9<<10 {
		appendOne()
	}
	s.prepareSpare() // a spare that is still spare when the spool closes holds nothing
	s.close(true)
	if left := dirEntries(t, dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// A spare that takes the spool's last bytes is still used.
func TestSpoolUsesASpareAtTheLimit(t *testing.T) {
	t.Parallel()
	s, err := openSpool(spoolOptions{dir: t.TempDir(), maxBytes: 32 << 10, segmentBytes: 8 << 10, log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(true)
	r := Record{GenerationID: NewGenerationID(time.Now()), Model: "m"}
	head, _, _ := appendFrameHead(nil, &r, false)
	for len(s.segs) < 3 || s.segs[2].end <= 5<<10 {
		if err := s.append(head, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.prepareSpare()
	if s.spare == nil || s.allocated != 32<<10 {
		t.Fatalf("spare %v, allocated %d", s.spare != nil, s.allocated)
	}
	for len(s.segs) < 4 {
		if err := s.append(head, nil, nil); err != nil {
			t.Fatalf("with %d segments and a spare: %v", len(s.segs), err)
		}
	}
}
