package accounting

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// The spool is the writer's queue, kept in files so that a record outlives the process that
// made it. Enqueue appends a record's frame (codec.go) to the current segment, a file mapped
// into memory: a copy under a mutex, no system call. Once the copy is done the record is in the
// kernel's page cache, which a SIGKILL does not lose; a syncer goroutine fsyncs what was
// appended every flush interval (at most a second), after which a machine crash does not lose
// it either. The batch writer reads records back from the segments in order, stores them, notes
// in the segment's header how far the store has them, and deletes a segment once it is full and
// stored. (Reusing stored segments instead, to keep their pages mapped, was tried: it made no
// measurable difference to Enqueue, so the simpler scheme stayed.)
//
// Every process spools into its own directory under the spool directory, holding a lock on it
// (flock, released by the kernel when the process dies, however it dies). A directory whose
// lock can be taken belongs to a process that is gone: the next writer to open the spool
// directory adopts its segments and stores them (its replay). So several gateways may share a
// data directory, and a restarted one replays its predecessor's spool.
//
// Without a directory (Options.SpoolDir empty) segments are plain memory: the same queue and
// bounds, without durability. Tests and embedders use that.

const (
	segmentMagic  = "ARSPOOL\x01" // format version 1
	segmentHeader = 64            // magic, committed offset, room to grow
	committedAt   = 8             // header offset of the committed position (u64)

	ownerPrefix   = "owner-"
	newPrefix     = ".new-"
	segmentPrefix = "seg-"
	lockName      = "lock"
	damagedDir    = "damaged"
)

var (
	errSpoolFull   = errors.New("accounting spool is full")
	errSpoolClosed = errors.New("accounting spool is closed")
)

// segment is one spool file (or memory block). Appends happen under spool.mu; the writer
// goroutine reads up to published, which only grows, and only it deletes segments.
type segment struct {
	seq       uint64
	path      string // "" in memory
	data      []byte // the mapping, or memory
	file      *os.File
	end       int          // append position; under spool.mu
	published atomic.Int64 // frames before this offset are complete
	sealed    atomic.Bool  // no more appends; set after the last publish
	start     int          // where reading begins (the committed offset of an adopted segment)
	synced    int          // fsynced up to here; under spool.syncMu
	orphan    *orphan      // the dead process's directory an adopted segment came from
}

// orphan is the directory of a process that is gone, whose lock this spool holds until every
// segment in it is stored.
type orphan struct {
	dir  string
	lock *os.File
	left int // segments not yet stored
}

type spoolOptions struct {
	dir          string // spool directory; "" keeps segments in memory
	maxBytes     int64
	segmentBytes int64
	log          *zap.Logger
}

type spool struct {
	opts  spoolOptions
	own   string   // this process's directory; "" in memory
	lock  *os.File // held on own/lock while the spool is open
	pages int      // the system's page size, for msync

	// syncMu is held while segments are fsynced, and while one is unmapped, so that a sync
	// never touches memory that is gone.
	syncMu sync.Mutex

	mu        sync.Mutex
	segs      []*segment // oldest first; the last one takes appends unless it is sealed
	spare     *segment   // the next segment, made ahead of need; counted in allocated
	nextSeq   uint64
	allocated int64 // bytes of every segment
	closed    bool
	dirDirty  bool      // a segment file was created since the directory was last fsynced
	retryAt   time.Time // after a failure to create a segment file, when to try again

	room atomic.Int64 // bytes that can still be appended within maxBytes

	adoptedRecords int // found in adopted segments at open
	adoptedBytes   int64
}

// openSpool opens the spool: in memory without a directory, else its own directory, adopting
// the segments of processes that are gone.
func openSpool(o spoolOptions) (*spool, error) {
	s := &spool{opts: o, pages: os.Getpagesize(), nextSeq: 1}
	defer s.updateRoom()
	if o.dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return nil, fmt.Errorf("accounting spool: %w (set accounting.spool_dir to a writable directory)", err)
	}
	if err := s.claimOwnDir(); err != nil {
		return nil, fmt.Errorf("accounting spool in %s: %w", o.dir, err)
	}
	s.adopt()
	return s, nil
}

// claimOwnDir creates this process's directory under a temporary name, locks it and only then
// gives it its final name, so that no other process can mistake it for a dead one's.
func (s *spool) claimOwnDir() error {
	tmp, err := os.MkdirTemp(s.opts.dir, newPrefix)
	if err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(tmp, lockName), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		if err = lockFile(lock); err != nil {
			lock.Close()
		}
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	own := filepath.Join(s.opts.dir, fmt.Sprintf("%s%d-%d", ownerPrefix, time.Now().UnixNano(), os.Getpid()))
	if err := os.Rename(tmp, own); err != nil {
		lock.Close()
		_ = os.RemoveAll(tmp)
		return err
	}
	s.own, s.lock = own, lock
	return syncDir(s.opts.dir)
}

// adopt takes over the segments of every directory whose process is gone. Problems are logged,
// not returned: a damaged leftover must not keep the gateway from starting, and what cannot be
// read is moved aside for an operator rather than deleted.
func (s *spool) adopt() {
	entries, err := os.ReadDir(s.opts.dir)
	if err != nil {
		s.opts.log.Error("cannot list the accounting spool directory; records spooled by earlier processes are not replayed", zap.String("dir", s.opts.dir), zap.Error(err))
		return
	}
	for _, e := range entries {
		name := e.Name()
		dir := filepath.Join(s.opts.dir, name)
		if !e.IsDir() || dir == s.own {
			continue
		}
		switch {
		case strings.HasPrefix(name, ownerPrefix):
			s.adoptDir(dir)
		case strings.HasPrefix(name, newPrefix):
			// A process died between creating and naming its directory: nothing was spooled
			// in it. A young one may belong to a process starting right now.
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Minute {
				if lock, ok := tryLock(filepath.Join(dir, lockName)); ok {
					_ = os.RemoveAll(dir)
					lock.Close()
				}
			}
		}
	}
}

func (s *spool) adoptDir(dir string) {
	lock, ok := tryLock(filepath.Join(dir, lockName))
	if !ok {
		return // its process is alive
	}
	o := &orphan{dir: dir, lock: lock}
	names, err := segmentFiles(dir)
	if err != nil {
		s.opts.log.Error("cannot list a dead process's accounting spool; its records are not replayed", zap.String("dir", dir), zap.Error(err))
		lock.Close()
		return
	}
	for _, name := range names {
		seg, err := s.openAdopted(filepath.Join(dir, name))
		if err != nil {
			s.moveAside(filepath.Join(dir, name), err)
			continue
		}
		seg.orphan = o
		o.left++
	}
	if o.left == 0 {
		o.remove()
	}
}

// segmentFiles lists dir's segment files in the order they were written.
func segmentFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), segmentPrefix) && !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // zero-padded sequence numbers
	return names, nil
}

// openAdopted maps a dead process's segment and counts the records it holds past its
// committed offset. A torn last frame (the process died while copying it) ends the segment.
func (s *spool) openAdopted(path string) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil || info.Size() < segmentHeader || info.Size() > 1<<40 {
		f.Close()
		return nil, fmt.Errorf("not a spool segment (size %d, %v)", info.Size(), err)
	}
	data, err := mapFile(f, int(info.Size()))
	if err != nil {
		f.Close()
		return nil, err
	}
	if magic := string(data[:len(segmentMagic)]); magic != segmentMagic {
		_ = unmapFile(data)
		f.Close()
		return nil, fmt.Errorf("not a spool segment of this version (header %q)", magic)
	}
	seg := &segment{seq: s.nextSeq, path: path, data: data, file: f}
	s.nextSeq++
	seg.start = int(min(max(binary.LittleEndian.Uint64(data[committedAt:]), segmentHeader), uint64(len(data))))
	off, records := seg.start, 0
	for {
		_, next, st := readFrame(data, off, len(data))
		if st == frameEnd {
			break
		}
		if st == frameOK {
			records++
		}
		off = next
	}
	seg.end = off
	seg.published.Store(int64(off))
	seg.sealed.Store(true)
	s.segs = append(s.segs, seg)
	s.allocated += int64(len(data))
	s.adoptedRecords += records
	s.adoptedBytes += int64(len(data))
	return seg, nil
}

// moveAside keeps a segment that cannot be read for an operator to inspect.
func (s *spool) moveAside(path string, why error) {
	dst := filepath.Join(s.opts.dir, damagedDir, filepath.Base(filepath.Dir(path))+"-"+filepath.Base(path))
	err := os.MkdirAll(filepath.Dir(dst), 0o700)
	if err == nil {
		err = os.Rename(path, dst)
	}
	s.opts.log.Error("accounting spool segment cannot be read; moved aside, its records are not replayed",
		zap.String("segment", path), zap.String("moved_to", dst), zap.NamedError("reason", why), zap.Error(err))
}

func (o *orphan) remove() {
	_ = os.Remove(filepath.Join(o.dir, lockName))
	_ = os.Remove(o.dir)
	o.lock.Close()
}

// append copies a frame (head, then the bodies) to the current segment, starting a new one
// when it does not fit. It fails with errSpoolFull when maxBytes leaves no room.
func (s *spool) append(head, req, resp []byte) error {
	size := alignFrame(len(head) + len(req) + len(resp))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errSpoolClosed
	}
	var seg *segment
	if n := len(s.segs); n > 0 && !s.segs[n-1].sealed.Load() {
		seg = s.segs[n-1]
	}
	if seg == nil || len(seg.data)-seg.end < size {
		var err error
		if seg, err = s.rotate(seg, size); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	d := seg.data[seg.end : seg.end+size] // zero since the segment was made: padding is free
	n := copy(d, head)
	n += copy(d[n:], req)
	copy(d[n:], resp)
	sealFrame(d)
	seg.end += size
	seg.published.Store(int64(seg.end))
	s.room.Add(-int64(size))
	s.mu.Unlock()
	return nil
}

// rotate seals cur (which may be nil) and starts a segment with room for size bytes. Called
// with s.mu held.
func (s *spool) rotate(cur *segment, size int) (*segment, error) {
	if sp := s.spare; sp != nil && len(sp.data)-segmentHeader >= size {
		s.spare = nil
		return s.use(cur, sp), nil
	}
	want := max(s.opts.segmentBytes, int64(segmentHeader+size))
	want = min(want, s.opts.maxBytes-s.allocated)
	if want < int64(segmentHeader+size) {
		return nil, errSpoolFull
	}
	if !s.retryAt.IsZero() && time.Now().Before(s.retryAt) {
		return nil, errSpoolFull
	}
	seg := &segment{seq: s.nextSeq, start: segmentHeader, end: segmentHeader}
	if s.own == "" {
		seg.data = make([]byte, want)
	} else {
		seg.path = filepath.Join(s.own, segmentName(seg.seq))
		var err error
		if seg.file, seg.data, err = createSegment(seg.path, int(want)); err != nil {
			// Out of disk space, most likely. Creating files on every request would make a
			// bad situation slower: try again in a second.
			s.retryAt = time.Now().Add(time.Second)
			s.opts.log.Error("cannot create an accounting spool segment; new records are refused until it works",
				zap.String("segment", seg.path), zap.Error(err))
			return nil, errSpoolFull
		}
		s.retryAt = time.Time{}
		s.dirDirty = true
	}
	seg.format()
	s.nextSeq++
	s.allocated += want
	return s.use(cur, seg), nil
}

// format writes a new segment's header.
func (seg *segment) format() {
	copy(seg.data, segmentMagic)
	binary.LittleEndian.PutUint64(seg.data[committedAt:], segmentHeader)
	seg.published.Store(segmentHeader)
}

// use makes seg the segment taking appends, after cur. Called with s.mu held.
func (s *spool) use(cur, seg *segment) *segment {
	if cur != nil {
		cur.sealed.Store(true)
	}
	s.segs = append(s.segs, seg)
	s.updateRoomLocked()
	return seg
}

// prepareSpare makes the next segment file once the current one is half full, off the request
// path: creating and allocating a file takes a millisecond or more (measured 0.2 to 3 ms for
// 64 MiB), which every Enqueue waiting on the spool's mutex would otherwise pay. Only the syncer
// goroutine calls it.
func (s *spool) prepareSpare() {
	if s.own == "" {
		return
	}
	size := s.opts.segmentBytes
	s.mu.Lock()
	n := len(s.segs)
	need := !s.closed && s.spare == nil && n > 0 && !s.segs[n-1].sealed.Load() &&
		s.segs[n-1].end > len(s.segs[n-1].data)/2 && s.opts.maxBytes-s.allocated >= size
	seq := s.nextSeq
	if need {
		s.nextSeq++
	}
	s.mu.Unlock()
	if !need {
		return
	}
	seg := &segment{seq: seq, start: segmentHeader, end: segmentHeader, path: filepath.Join(s.own, segmentName(seq))}
	var err error
	if seg.file, seg.data, err = createSegment(seg.path, int(size)); err != nil {
		s.opts.log.Warn("cannot create the next accounting spool segment ahead of time", zap.String("segment", seg.path), zap.Error(err))
		return
	}
	seg.format()
	s.mu.Lock()
	if keep := !s.closed && s.spare == nil && s.opts.maxBytes-s.allocated >= size; keep {
		s.spare = seg
		s.allocated += size
		s.dirDirty = true
		s.updateRoomLocked()
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.drop(seg, true)
}

func segmentName(seq uint64) string { return fmt.Sprintf("%s%020d", segmentPrefix, seq) }

// createSegment makes a segment file of size bytes with its blocks allocated, so that writing
// through the mapping can never hit a full disk (which would kill the process with SIGBUS).
func createSegment(path string, size int) (*os.File, []byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, nil, err
	}
	data, err := func() ([]byte, error) {
		if err := preallocate(f, int64(size)); err != nil {
			return nil, err
		}
		return mapFile(f, size)
	}()
	if err != nil {
		f.Close()
		_ = os.Remove(path)
		return nil, nil, err
	}
	return f, data, nil
}

func (s *spool) updateRoom() {
	s.mu.Lock()
	s.updateRoomLocked()
	s.mu.Unlock()
}

func (s *spool) updateRoomLocked() {
	room := s.opts.maxBytes - s.allocated
	if n := len(s.segs); n > 0 && !s.segs[n-1].sealed.Load() {
		room += int64(len(s.segs[n-1].data) - s.segs[n-1].end)
	}
	if s.spare != nil {
		room += int64(len(s.spare.data) - segmentHeader)
	}
	s.room.Store(room)
}

// bytes is the space the segments take.
func (s *spool) bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allocated
}

// first returns the oldest segment, nil if there is none.
func (s *spool) first() *segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) == 0 {
		return nil
	}
	return s.segs[0]
}

// after returns the segment that follows seg, nil if there is none yet.
func (s *spool) after(seg *segment) *segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.segs {
		if x == seg && i+1 < len(s.segs) {
			return s.segs[i+1]
		}
	}
	return nil
}

// sync makes everything appended so far survive a machine crash: msync of each segment's new
// frames, then the directory when it has new segment files.
func (s *spool) sync() error {
	if s.own == "" {
		return nil
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	segs := slices.Clone(s.segs)
	dirty := s.dirDirty
	s.dirDirty = false
	s.mu.Unlock()
	var errs []error
	for _, seg := range segs {
		end := int(seg.published.Load())
		if end <= seg.synced {
			continue
		}
		from := seg.synced &^ (s.pages - 1)
		if err := syncMapping(seg.data[from:end]); err != nil {
			errs = append(errs, fmt.Errorf("sync %s: %w", seg.path, err))
			continue
		}
		seg.synced = end
	}
	if dirty {
		if err := syncDir(s.own); err != nil {
			s.mu.Lock()
			s.dirDirty = true
			s.mu.Unlock()
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// committed notes that the store has every record of seg before off, so that a replay after a
// crash starts there rather than rewriting them (which would be harmless but slow).
func (s *spool) committed(seg *segment, off int) {
	binary.LittleEndian.PutUint64(seg.data[committedAt:], uint64(off))
}

// release deletes a segment whose records are all stored. Only the writer goroutine calls it,
// for a sealed segment it has read to the end, so no append touches its memory.
func (s *spool) release(seg *segment) {
	s.mu.Lock()
	if i := slices.Index(s.segs, seg); i >= 0 {
		s.segs = slices.Delete(s.segs, i, i+1)
		s.allocated -= int64(len(seg.data))
	}
	s.updateRoomLocked()
	s.mu.Unlock()
	s.syncMu.Lock()
	s.drop(seg, true)
	s.syncMu.Unlock()
}

// drop unmaps seg and, when remove is set, deletes its file.
func (s *spool) drop(seg *segment, remove bool) {
	if seg.file == nil {
		seg.data = nil
		return
	}
	if err := unmapFile(seg.data); err != nil {
		s.opts.log.Warn("unmap accounting spool segment", zap.String("segment", seg.path), zap.Error(err))
	}
	seg.data = nil
	seg.file.Close()
	if !remove {
		return
	}
	if err := os.Remove(seg.path); err != nil {
		s.opts.log.Warn("cannot delete a stored accounting spool segment; its records would be replayed (harmlessly) at the next start",
			zap.String("segment", seg.path), zap.Error(err))
	}
	if o := seg.orphan; o != nil {
		if o.left--; o.left == 0 {
			o.remove()
		}
	}
}

// close refuses further appends and unmaps every segment. With empty set (everything was
// stored) it deletes them and the process's directory; otherwise the files stay for the next
// process to adopt.
func (s *spool) close(empty bool) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	s.closed = true
	segs := s.segs
	s.segs = nil
	if s.spare != nil {
		s.drop(s.spare, true) // holds no record
		s.spare = nil
	}
	s.mu.Unlock()
	orphans := map[*orphan]bool{}
	for _, seg := range segs {
		if seg.orphan != nil && !empty {
			orphans[seg.orphan] = true
		}
		s.drop(seg, empty)
	}
	for o := range orphans {
		o.lock.Close() // the next process adopts them again
	}
	if s.lock == nil {
		return
	}
	if empty {
		_ = os.Remove(filepath.Join(s.own, lockName))
		_ = os.Remove(s.own)
	}
	s.lock.Close()
}

// frame statuses
const (
	frameOK      = iota
	frameCorrupt // a frame whose checksum does not match: skipped
	frameEnd     // no complete frame here: the end of the data, or a torn last frame
)

// readFrame reads the frame at off in data[:end]: its payload and the next frame's offset.
func readFrame(data []byte, off, end int) (payload []byte, next int, status int) {
	if off+frameHeader > end {
		return nil, off, frameEnd
	}
	n := int(binary.LittleEndian.Uint32(data[off:]))
	size := alignFrame(frameHeader + n)
	if n == 0 || size > end-off {
		return nil, off, frameEnd
	}
	payload = data[off+frameHeader : off+frameHeader+n]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(data[off+4:]) {
		return nil, off + size, frameCorrupt
	}
	return payload, off + size, frameOK
}

// describe is for log lines.
func (s *spool) describe() string {
	if s.own == "" {
		return "memory"
	}
	return s.own
}
