package catalog

import (
	"testing"

	"github.com/arouter/arouter/money"
)

func TestCostSplitsCachedAndWrittenPromptTokens(t *testing.T) {
	t.Parallel()
	p := Prices{Prompt: 2_500_000_000, Completion: 10_000_000_000, CacheRead: 1_250_000_000, CacheWrite: 3_125_000_000}
	u := Usage{Prompt: 1000, Cached: 400, CacheWrite: 100, Completion: 200, Reasoning: 50}
	// 500 uncached at $2.50/M + 400 cached at $1.25/M + 100 written at $3.125/M + 200 out at $10/M
	want := money.Nanos(500*2500 + 400*1250 + 100*3125 + 200*10000)
	if got := p.Cost(&u); got != want {
		t.Fatalf("Cost = %d nano-USD, want %d", got, want)
	}
	if got := p.Cost(&Usage{}); got != 0 {
		t.Fatalf("empty usage costs %d", got)
	}
	// A provider reporting more cached than prompt tokens must not produce negative cost.
	if got := p.Cost(&Usage{Prompt: 10, Cached: 20}); got != 20*1250 {
		t.Fatalf("over-reported cache: %d", got)
	}
}

func TestCatalogLookupAndIndexes(t *testing.T) {
	t.Parallel()
	c, err := New([]ModelSpec{
		{ID: "a/one", Deployments: []DeploymentSpec{{Provider: "p1", UpstreamModel: "one"}, {Provider: "p2", UpstreamModel: "uno"}}},
		{ID: "b/two", Name: "Two", Deployments: []DeploymentSpec{{Provider: "p1", UpstreamModel: "two"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := c.Lookup([]byte("a/one"))
	if m == nil || m.Name != "a/one" || len(m.Deployments) != 2 || m.Deployments[1].UpstreamModel != "uno" {
		t.Fatalf("lookup a/one = %+v", m)
	}
	if c.Lookup([]byte("nope")) != nil {
		t.Fatal("unknown model found")
	}
	for i, d := range c.Deployments() {
		if d.Index != i {
			t.Fatalf("deployment %s has index %d at position %d", d.Name(), d.Index, i)
		}
	}
	if _, err := New([]ModelSpec{{ID: "x/y"}}); err == nil {
		t.Fatal("model without deployments accepted")
	}
	if _, err := New([]ModelSpec{{ID: "x/y", Deployments: []DeploymentSpec{{Provider: "p"}}}, {ID: "x/y", Deployments: []DeploymentSpec{{Provider: "p"}}}}); err == nil {
		t.Fatal("duplicate model accepted")
	}
}
