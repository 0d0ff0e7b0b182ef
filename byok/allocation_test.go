//go:build !race

package byok

import (
	"context"
	"fmt"
	"testing"
)

// TestAllocationsLookup: the request path looks a credential up on every request to a
// provider, so Lookup must not allocate, hit or miss.
func TestAllocationsLookup(t *testing.T) {
	s := mustSealer(t, newKey(t))
	var rows []SealedCredential
	for i := range 100 {
		rows = append(rows, sealed(s, int64(i+1), int64(i), fmt.Sprintf("provider-%d", i%5), "sk-allocation-test", Prefer))
	}
	c, err := NewCache(context.Background(), &memLoader{rows: rows}, s, Options{Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	provider := []byte("provider-2") // built at run time, as the request path's ids are interned strings
	p := string(provider)
	var found bool
	if n := testing.AllocsPerRun(1000, func() {
		_, found = c.Lookup(7, p)
	}); n != 0 || !found {
		t.Errorf("Lookup hit: %v allocations per call, found %v", n, found)
	}
	if n := testing.AllocsPerRun(1000, func() {
		_, found = c.Lookup(7, "provider-3")
	}); n != 0 || found {
		t.Errorf("Lookup miss: %v allocations per call, found %v", n, found)
	}
}
