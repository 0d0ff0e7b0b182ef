package proxy

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/arouter/arouter/catalog"
)

// Sticky routing for prompt caching. Providers cache a prompt's prefix per deployment: a
// follow-up request that shares the prefix is cheaper (cache reads are priced below prompt
// tokens) only if it goes back to the deployment that cached it. After a request reports
// cache activity, its deployment is remembered under (key, model, prefix hash) for a while,
// and the next request with that prefix puts it first, as long as it is healthy and the
// client did not order providers itself.

// stickyRoutes remembers which deployment cached which prefix. Safe for concurrent use.
type stickyRoutes struct {
	cache *ristretto.Cache[uint64, int32]
	ttl   time.Duration
	seed  maphash.Seed
}

func newStickyRoutes(size int, ttl time.Duration) (*stickyRoutes, error) {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, int32]{
		NumCounters:        int64(size) * 10,
		MaxCost:            int64(size),
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return &stickyRoutes{cache: c, ttl: ttl, seed: maphash.MakeSeed()}, nil
}

var cacheControlMarker = []byte(`"cache_control"`)

// key hashes what identifies a cached prefix: the API key, the model, and the messages up to
// the last cache_control breakpoint (explicit caching) or else the first message (the system
// prompt, which implicit caching also reuses). ok is false when the request has no messages.
func (sr *stickyRoutes) key(keyID int64, m *catalog.Model, body []byte, req *chatRequest) (uint64, bool) {
	if req.messagesVS < 0 {
		return 0, false
	}
	msgs := body[req.messagesVS:req.messagesVE]
	prefix := msgs
	if i := bytes.LastIndex(msgs, cacheControlMarker); i >= 0 {
		prefix = msgs[:i]
	} else if it, ok := newArrayIter(msgs); ok {
		if _, ve, ok := it.next(); ok {
			prefix = msgs[:ve]
		}
	}
	var head [8]byte
	binary.LittleEndian.PutUint64(head[:], uint64(keyID))
	var h maphash.Hash
	h.SetSeed(sr.seed)
	_, _ = h.Write(head[:])
	_, _ = h.WriteString(m.ID)
	_, _ = h.Write(prefix)
	return h.Sum64(), true
}

// lookup returns the deployment that cached the prefix, if any.
func (sr *stickyRoutes) lookup(k uint64) (int, bool) {
	d, ok := sr.cache.Get(k)
	return int(d), ok
}

// remember records that deployment d cached the prefix. It waits for the cache to take the
// entry (ristretto buffers writes), so that the conversation's next turn, which may follow at
// once, finds it; only requests with cache activity pay that.
func (sr *stickyRoutes) remember(k uint64, d int) {
	sr.cache.SetWithTTL(k, int32(d), 1, sr.ttl)
	sr.cache.Wait()
}

func (sr *stickyRoutes) close() { sr.cache.Close() }

// worthSticking reports whether sticky routing can matter for m: more than one deployment to
// choose from, and cache reads priced below prompt tokens.
func worthSticking(m *catalog.Model) bool {
	return len(m.Deployments) > 1 && m.Prices.CacheRead < m.Prices.Prompt
}
