// Package cachekeys answers "which key is this token?" for every request without a store round
// trip. A ristretto cache holds immutable key records by token hash; a separate small cache
// remembers unknown hashes for a short while so that a flood of bad tokens never reaches the
// store; cached records are re-read in the background so that a key disabled elsewhere (another
// process, the CLI) stops working within about RefreshAfter.
package cachekeys

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"

	"github.com/arouter/arouter/apikey"
)

// Loader reads a key record from durable storage. It returns an error wrapping
// apikey.ErrNotFound when no key has the hash.
type Loader interface {
	LoadKey(ctx context.Context, h apikey.Hash) (*apikey.Key, error)
}

// Options tune the cache; zero values take the defaults noted.
type Options struct {
	Size         int           // keys held, default 100_000
	RefreshAfter time.Duration // background re-read of a cached key, default 1s
	NegativeTTL  time.Duration // how long an unknown hash is remembered, default 5s
	LoadTimeout  time.Duration // bound on one store read, default 5s
	// MaxStale bounds how long a record may be served while background refreshes fail (store
	// down): past it, requests wait for the store again. Default 10m.
	MaxStale time.Duration
	// OnRefreshError is told about failed background refreshes (for logs); may be nil.
	OnRefreshError func(error)
}

// Cache is safe for concurrent use.
type Cache struct {
	loader    Loader
	opts      Options
	known     *ristretto.Cache[uint64, *entry]
	unknown   *ristretto.Cache[uint64, struct{}]
	loads     singleflight.Group
	loadCount atomic.Int64
	// invalidations counts Invalidate calls, under mu with the cache writes of loads: a load
	// that overlapped an Invalidate may have read the row from before the change, so it must
	// not cache it (else a key disabled, or opted out of prompt logging, could keep its old
	// record until the next refresh).
	mu            sync.Mutex
	invalidations uint64
}

// entry is what the cache holds for a known hash. key is immutable; refreshing guards against
// starting more than one background refresh per entry.
type entry struct {
	key        *apikey.Key
	loadedAt   time.Time
	refreshing atomic.Bool
}

// New builds a cache in front of loader.
func New(loader Loader, opts Options) (*Cache, error) {
	if opts.Size <= 0 {
		opts.Size = 100_000
	}
	if opts.RefreshAfter <= 0 {
		opts.RefreshAfter = time.Second
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 5 * time.Second
	}
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = 5 * time.Second
	}
	if opts.MaxStale <= 0 {
		opts.MaxStale = 10 * time.Minute
	}
	known, err := ristretto.NewCache(&ristretto.Config[uint64, *entry]{
		NumCounters:        int64(opts.Size) * 10, // ristretto's advice: 10x the items held
		MaxCost:            int64(opts.Size),
		BufferItems:        64,
		IgnoreInternalCost: true, // cost counts items, not bytes
	})
	if err != nil {
		return nil, fmt.Errorf("key cache: %w", err)
	}
	unknownSize := int64(opts.Size/10 + 1000)
	unknown, err := ristretto.NewCache(&ristretto.Config[uint64, struct{}]{
		NumCounters:        unknownSize * 10,
		MaxCost:            unknownSize,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		known.Close()
		return nil, fmt.Errorf("negative key cache: %w", err)
	}
	return &Cache{loader: loader, opts: opts, known: known, unknown: unknown}, nil
}

// Lookup returns the key whose token hashes to h, or an error wrapping apikey.ErrNotFound.
// On a cache hit it does not allocate and does not touch the store. h is taken by value so that
// callers through an interface need not move their copy to the heap.
func (c *Cache) Lookup(ctx context.Context, h apikey.Hash, now time.Time) (*apikey.Key, error) {
	if e, ok := c.known.Get(slot(h)); ok && e.key.Hash == h {
		age := now.Sub(e.loadedAt)
		if age < c.opts.RefreshAfter {
			return e.key, nil
		}
		if age < c.opts.MaxStale {
			if e.refreshing.CompareAndSwap(false, true) {
				go c.refresh(h, e)
			}
			return e.key, nil
		}
		// Too stale to trust: fall through and wait for the store like a miss.
	}
	if _, ok := c.unknown.Get(slot(h)); ok {
		return nil, apikey.ErrNotFound
	}
	return c.load(ctx, h)
}

// load reads the key through singleflight so that a burst of requests with the same new token
// makes one store read.
func (c *Cache) load(ctx context.Context, h apikey.Hash) (*apikey.Key, error) {
	v, err, _ := c.loads.Do(string(h[:]), func() (any, error) {
		return c.fetch(context.WithoutCancel(ctx), h)
	})
	if err != nil {
		return nil, err
	}
	return v.(*apikey.Key), nil
}

// fetch reads from the store and records the outcome in the right cache.
func (c *Cache) fetch(ctx context.Context, h apikey.Hash) (*apikey.Key, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.LoadTimeout)
	defer cancel()
	c.loadCount.Add(1)
	c.mu.Lock()
	before := c.invalidations
	c.mu.Unlock()
	k, err := c.loader.LoadKey(ctx, h)
	c.mu.Lock()
	defer c.mu.Unlock()
	// After an overlapping Invalidate, answer with what was read (the request began before
	// the change) but cache nothing.
	current := c.invalidations == before
	switch {
	case errors.Is(err, apikey.ErrNotFound):
		c.known.Del(slot(h))
		if current {
			c.unknown.SetWithTTL(slot(h), struct{}{}, 1, c.opts.NegativeTTL)
		}
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("load key: %w", err)
	}
	if current {
		c.known.Set(slot(h), &entry{key: k, loadedAt: time.Now()}, 1)
	} else {
		c.known.Del(slot(h)) // the entry a refresh was for: the next request reloads it
	}
	return k, nil
}

// refresh re-reads a cached key in the background. On a store error the stale entry stays:
// a store outage must not log every client out.
func (c *Cache) refresh(h apikey.Hash, stale *entry) {
	_, err := c.fetch(context.Background(), h)
	if err != nil && !errors.Is(err, apikey.ErrNotFound) {
		stale.refreshing.Store(false)
		if c.opts.OnRefreshError != nil {
			c.opts.OnRefreshError(err)
		}
	}
}

// slot is the cache key for h: its first 64 bits. SHA-256 output is uniform, so these are as
// good as any hash of it, and ristretto's uint64 keys (unlike []byte ones) make Get allocation
// free. A hit is confirmed against the full hash, so a 64-bit collision can only cause a miss.
// Negative entries are not confirmed: a collision there would refuse a valid key for at most
// NegativeTTL, with odds of about one in 2^64 per pair of tokens.
func slot(h apikey.Hash) uint64 { return binary.LittleEndian.Uint64(h[:8]) }

// Invalidate forgets everything cached about h, so the next request reads the store. Used when
// this process changes a key (disable, delete, rotate).
func (c *Cache) Invalidate(h apikey.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalidations++
	c.known.Del(slot(h))
	c.unknown.Del(slot(h))
}

// Wait blocks until pending cache writes are applied. Tests use it to observe a warm cache.
func (c *Cache) Wait() {
	c.known.Wait()
	c.unknown.Wait()
}

// Loads returns how many store reads the cache has made: a test's window into cache behaviour.
func (c *Cache) Loads() int64 { return c.loadCount.Load() }

// Close releases the caches' goroutines.
func (c *Cache) Close() {
	c.known.Close()
	c.unknown.Close()
}
