package accounting

import "sync"

// Recent keeps the latest records in memory, so that a generation can be looked up the moment
// its response has ended, before the batch writer has stored it (there is no "try again in a
// few seconds" window). It is a fixed ring: adding copies the record into a slot and never
// allocates; a lookup scans from the newest, which is fine for an occasional API call.
type Recent struct {
	mu   sync.Mutex
	ring []Record
	next int  // slot the next record goes to
	full bool // the ring has wrapped
}

// NewRecent returns a ring holding the last size records (default 16384 when size <= 0).
func NewRecent(size int) *Recent {
	if size <= 0 {
		size = 16384
	}
	return &Recent{ring: make([]Record, size)}
}

// Add remembers a copy of *r, without its Bodies: the ring serves metadata only, and keeping
// bodies until a slot is reused would hold up to MaxBodyBytes twice per slot in memory for no
// reader (prompt logs are read from the store).
func (rc *Recent) Add(r *Record) {
	rc.mu.Lock()
	rc.ring[rc.next] = *r
	rc.ring[rc.next].Bodies = nil
	rc.next++
	if rc.next == len(rc.ring) {
		rc.next, rc.full = 0, true
	}
	rc.mu.Unlock()
}

// Lookup returns the record with generation id id, if it is still in the ring.
func (rc *Recent) Lookup(id GenerationID) (Record, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := rc.next
	if rc.full {
		n = len(rc.ring)
	}
	for i := 1; i <= n; i++ {
		slot := (rc.next - i + len(rc.ring)) % len(rc.ring)
		if rc.ring[slot].GenerationID == id {
			return rc.ring[slot], true
		}
	}
	return Record{}, false
}
