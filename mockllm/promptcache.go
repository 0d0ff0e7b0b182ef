package mockllm

import (
	"sync"
	"time"
)

// promptCache remembers prompt prefixes marked with cache_control, so the Anthropic mode can
// report what Anthropic reports: tokens written to the cache on first sight of a prefix
// (cache_creation_input_tokens) and read from it while it lives (cache_read_input_tokens).
// Unlike Anthropic it has no minimum cacheable length, so small test prompts cache too.
type promptCache struct {
	mu      sync.Mutex
	entries map[uint64]time.Time // prefix hash → expiry
}

// maxCacheEntries bounds memory under benchmarks that send endless distinct prompts.
const maxCacheEntries = 1 << 16

// breakpoint is one cache_control marker: the hash of the prompt up to and including the
// marked block, the tokens in that prefix, and how long a write lives.
type breakpoint struct {
	hash   uint64
	tokens int
	ttl    time.Duration
}

// lookup returns the tokens of the longest prefix already cached, and the tokens written now:
// the last breakpoint's prefix beyond what was read. Every breakpoint is (re)stored, and a
// read refreshes its entry's lifetime, as at Anthropic.
func (c *promptCache) lookup(bps []breakpoint, now time.Time) (read, written int) {
	if len(bps) == 0 {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[uint64]time.Time)
	}
	for i := len(bps) - 1; i >= 0; i-- {
		if exp, ok := c.entries[bps[i].hash]; ok && now.Before(exp) {
			read = bps[i].tokens
			break
		}
	}
	if last := bps[len(bps)-1].tokens; last > read {
		written = last - read
	}
	if len(c.entries)+len(bps) > maxCacheEntries {
		for k, exp := range c.entries {
			if !now.Before(exp) {
				delete(c.entries, k)
			}
		}
		if len(c.entries)+len(bps) > maxCacheEntries {
			clear(c.entries)
		}
	}
	for _, bp := range bps {
		c.entries[bp.hash] = now.Add(bp.ttl)
	}
	return read, written
}
