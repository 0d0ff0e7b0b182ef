package cachekeys

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arouter/arouter/apikey"
)

// memLoader is an in-memory Loader whose answers a test can change, standing in for the store.
type memLoader struct {
	mu   sync.Mutex
	keys map[apikey.Hash]*apikey.Key
	err  error
}

func (m *memLoader) LoadKey(_ context.Context, h apikey.Hash) (*apikey.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	k, ok := m.keys[h]
	if !ok {
		return nil, fmt.Errorf("hash %s: %w", h, apikey.ErrNotFound)
	}
	copied := *k
	return &copied, nil
}

func (m *memLoader) set(k *apikey.Key, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k != nil {
		m.keys[k.Hash] = k
	}
	m.err = err
}

func newTestCache(t testing.TB, opts Options) (*Cache, *memLoader, apikey.Hash) {
	t.Helper()
	h := apikey.HashToken([]byte("sk-ar-v1-test"))
	loader := &memLoader{keys: map[apikey.Hash]*apikey.Key{h: {ID: 7, Hash: h, Name: "k"}}}
	c, err := New(loader, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, loader, h
}

func TestHitDoesNotReachTheStore(t *testing.T) {
	t.Parallel()
	c, _, h := newTestCache(t, Options{RefreshAfter: time.Hour})
	ctx := context.Background()
	k, err := c.Lookup(ctx, h, time.Now())
	if err != nil || k.ID != 7 {
		t.Fatalf("first lookup: %v, %v", k, err)
	}
	c.Wait()
	for range 100 {
		if _, err := c.Lookup(ctx, h, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Loads(); n != 1 {
		t.Fatalf("store read %d times, want 1", n)
	}
}

func TestUnknownTokensAreRememberedBriefly(t *testing.T) {
	t.Parallel()
	c, loader, _ := newTestCache(t, Options{NegativeTTL: time.Hour})
	bad := apikey.HashToken([]byte("sk-ar-v1-bad"))
	for range 50 {
		if _, err := c.Lookup(context.Background(), bad, time.Now()); !errors.Is(err, apikey.ErrNotFound) {
			t.Fatalf("unknown token: %v", err)
		}
		c.Wait()
	}
	if n := c.Loads(); n != 1 {
		t.Fatalf("a repeated bad token reached the store %d times, want 1", n)
	}
	// Creating the key and invalidating makes it usable at once.
	loader.set(&apikey.Key{ID: 9, Hash: bad}, nil)
	c.Invalidate(bad)
	if k, err := c.Lookup(context.Background(), bad, time.Now()); err != nil || k.ID != 9 {
		t.Fatalf("after invalidate: %v, %v", k, err)
	}
}

func TestDisabledElsewhereIsSeenAfterRefresh(t *testing.T) {
	t.Parallel()
	c, loader, h := newTestCache(t, Options{RefreshAfter: 10 * time.Millisecond})
	ctx := context.Background()
	start := time.Now()
	if _, err := c.Lookup(ctx, h, start); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	loader.set(&apikey.Key{ID: 7, Hash: h, Disabled: true}, nil)
	// A lookup past RefreshAfter still answers from the cache but starts a refresh; the
	// refreshed record arrives without the test sleeping for it.
	later := start.Add(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		k, err := c.Lookup(ctx, h, later)
		if err != nil {
			t.Fatal(err)
		}
		if k.Disabled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("disabled flag never reached the cache")
		}
		c.Wait()
	}
}

func TestStoreOutageKeepsServingCachedKeys(t *testing.T) {
	t.Parallel()
	var reported sync.Once
	errSeen := make(chan error, 1)
	c, loader, h := newTestCache(t, Options{RefreshAfter: time.Millisecond, MaxStale: time.Hour,
		OnRefreshError: func(err error) { reported.Do(func() { errSeen <- err }) }})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, h, time.Now()); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	loader.set(nil, errors.New("database is locked"))
	if _, err := c.Lookup(ctx, h, time.Now().Add(time.Second)); err != nil {
		t.Fatalf("cached key refused during store outage: %v", err)
	}
	if err := <-errSeen; err == nil {
		t.Fatal("refresh failure not reported")
	}
	// Past MaxStale the cache stops vouching for the key and surfaces the store error.
	if _, err := c.Lookup(ctx, h, time.Now().Add(2*time.Hour)); err == nil || errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("too-stale lookup during outage = %v, want the store error", err)
	}
}

// gatedLoader holds every load until released, counting how many started.
type gatedLoader struct {
	key     *apikey.Key
	entered atomic.Int64
	first   chan struct{}
	gate    chan struct{}
}

func (g *gatedLoader) LoadKey(context.Context, apikey.Hash) (*apikey.Key, error) {
	if g.entered.Add(1) == 1 {
		close(g.first)
	}
	<-g.gate
	return g.key, nil
}

// TestConcurrentMissesShareOneLoad holds the first store read open while 31 more lookups of the
// same new key arrive: none of them may start a second read. (The assertion cannot fail
// spuriously: while the first read is open, any second read would be a dedup failure.)
func TestConcurrentMissesShareOneLoad(t *testing.T) {
	t.Parallel()
	h := apikey.HashToken([]byte("sk-ar-v1-burst"))
	loader := &gatedLoader{key: &apikey.Key{ID: 3, Hash: h}, first: make(chan struct{}), gate: make(chan struct{})}
	c, err := New(loader, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var wg sync.WaitGroup
	lookup := func() {
		if k, err := c.Lookup(context.Background(), h, time.Now()); err != nil || k.ID != 3 {
			t.Errorf("lookup: %v, %v", k, err)
		}
	}
	wg.Go(lookup)
	<-loader.first
	var started sync.WaitGroup
	for range 31 {
		started.Add(1)
		wg.Go(func() { started.Done(); lookup() })
	}
	started.Wait()
	runtime.Gosched()
	if n := loader.entered.Load(); n != 1 {
		t.Fatalf("%d store reads started while the first was still open", n)
	}
	close(loader.gate)
	wg.Wait()
}

// steppedLoader answers from memLoader, each load finishing only when the test lets it.
type steppedLoader struct {
	*memLoader
	started chan struct{}
	release chan struct{}
}

func (g *steppedLoader) LoadKey(ctx context.Context, h apikey.Hash) (*apikey.Key, error) {
	k, err := g.memLoader.LoadKey(ctx, h)
	g.started <- struct{}{}
	<-g.release
	return k, err
}

// A load that read the row before a change and finished after the Invalidate that followed it
// must not cache what it read: the next request would keep using the old record (a disabled
// key, prompt logging that was turned off) until the next refresh.
func TestInvalidateDuringLoadWins(t *testing.T) {
	t.Parallel()
	h := apikey.HashToken([]byte("sk-ar-v1-test"))
	mem := &memLoader{keys: map[apikey.Hash]*apikey.Key{h: {ID: 7, Hash: h, Name: "old"}}}
	g := &steppedLoader{memLoader: mem, started: make(chan struct{}), release: make(chan struct{})}
	c, err := New(g, Options{RefreshAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan *apikey.Key)
	go func() {
		k, _ := c.Lookup(context.Background(), h, time.Now())
		done <- k
	}()
	<-g.started // the old row has been read
	mem.set(&apikey.Key{ID: 7, Hash: h, Name: "new", Disabled: true}, nil)
	c.Invalidate(h)
	close(g.release)
	if k := <-done; k.Name != "old" {
		t.Fatalf("the request that began before the change got %q", k.Name)
	}
	c.Wait()
	go func() { <-g.started }()
	k, err := c.Lookup(context.Background(), h, time.Now())
	if err != nil || k.Name != "new" || !k.Disabled {
		t.Fatalf("after Invalidate: %+v, %v; want the changed key", k, err)
	}
}
