//go:build !race

package cachekeys

import (
	"context"
	"testing"
	"time"

	"github.com/arouter/arouter/apikey"
)

// lookupFresh hashes the token inside the measured function, as the proxy does, so the hash
// starts on the stack: a key that escaped into the cache would show up as an allocation.
//
//go:noinline
func lookupFresh(c *Cache, token []byte) (*apikey.Key, error) {
	return c.Lookup(context.Background(), apikey.HashToken(token), time.Now())
}

func TestLookupHitAllocatesNothing(t *testing.T) {
	c, _, _ := newTestCache(t, Options{RefreshAfter: time.Hour})
	token := []byte("sk-ar-v1-test")
	if _, err := lookupFresh(c, token); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := lookupFresh(c, token); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("cache hit allocates %.1f times per lookup, want 0", allocs)
	}
}
