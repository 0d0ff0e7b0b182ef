//go:build !race

package catalog

import "testing"

// TestProviderLookupAllocatesNothing: the proxy maps a request's provider names with it.
func TestProviderLookupAllocatesNothing(t *testing.T) {
	c, err := New([]ModelSpec{{ID: "a/m", Deployments: []DeploymentSpec{{Provider: "openai", UpstreamModel: "m"}}}})
	if err != nil {
		t.Fatal(err)
	}
	name := []byte("openai")
	allocs := testing.AllocsPerRun(1000, func() {
		if c.Provider(name) == "" || c.Lookup([]byte("a/m")) == nil {
			t.Fatal("lookup failed")
		}
	})
	if allocs != 0 {
		t.Fatalf("lookups allocate %.2f times, want 0", allocs)
	}
}
