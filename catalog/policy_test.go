package catalog

import (
	"strings"
	"testing"
	"unsafe"
)

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Policy{"": PolicyPriority, "priority": PolicyPriority, "weighted": PolicyWeighted,
		"latency": PolicyLatency, "price": PolicyPrice} {
		p, err := ParsePolicy(in)
		if err != nil || p != want {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v", in, p, err, want)
		}
		if in != "" && p.String() != in {
			t.Errorf("%v.String() = %q", p, p.String())
		}
	}
	for _, in := range []string{"Priority", "cheapest", "round-robin"} {
		if _, err := ParsePolicy(in); err == nil || !strings.Contains(err.Error(), "priority, weighted, latency or price") {
			t.Errorf("ParsePolicy(%q) error %v", in, err)
		}
	}
	if s := Policy(9).String(); s != "Policy(9)" {
		t.Errorf("unknown policy prints %q", s)
	}
}

// TestNewValidatesRouting: each mistake is refused with a message naming the model, the
// deployment and what to do.
func TestNewValidatesRouting(t *testing.T) {
	t.Parallel()
	dep := func(p string, w int) DeploymentSpec {
		return DeploymentSpec{Provider: p, UpstreamModel: "m", Weight: w}
	}
	many := make([]DeploymentSpec, MaxDeployments+1)
	for i := range many {
		many[i] = dep(strings.Repeat("p", i+1), 0)
	}
	for _, c := range []struct {
		name string
		spec ModelSpec
		want string
	}{
		{"no deployments", ModelSpec{ID: "a/m"}, `model "a/m" has no deployments; add at least one`},
		{"too many", ModelSpec{ID: "a/m", Deployments: many}, "has 65 deployments, more than the 64"},
		{"bad policy", ModelSpec{ID: "a/m", Policy: 7, Deployments: []DeploymentSpec{dep("p", 0)}}, "unknown routing policy 7"},
		{"no provider", ModelSpec{ID: "a/m", Deployments: []DeploymentSpec{dep("", 0)}}, "deployment 0 has no provider"},
		{"provider twice", ModelSpec{ID: "a/m", Deployments: []DeploymentSpec{dep("p", 0), dep("q", 0), dep("p", 0)}},
			`lists provider "p" twice (deployments 0 and 2)`},
		{"negative weight", ModelSpec{ID: "a/m", Policy: PolicyWeighted, Deployments: []DeploymentSpec{dep("p", -1)}},
			"weight -1 out of range; use 1 to 1000000"},
		{"huge weight", ModelSpec{ID: "a/m", Policy: PolicyWeighted, Deployments: []DeploymentSpec{dep("p", MaxWeight+1)}},
			"out of range"},
		{"weight without weighted policy", ModelSpec{ID: "a/m", Policy: PolicyLatency, Deployments: []DeploymentSpec{dep("p", 2)}},
			"has weight 2 but the model's policy is latency, which ignores weights; set the policy to weighted or remove the weight"},
	} {
		_, err := New([]ModelSpec{c.spec})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestRoutingFields(t *testing.T) {
	t.Parallel()
	c, err := New([]ModelSpec{
		{ID: "a/w", Policy: PolicyWeighted, Deployments: []DeploymentSpec{
			{Provider: "p1", UpstreamModel: "w", Weight: 3}, {Provider: strings.Clone("p2"), UpstreamModel: "w"}}},
		{ID: "b/l", Policy: PolicyLatency, Deployments: []DeploymentSpec{{Provider: strings.Clone("p2"), UpstreamModel: "l"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := c.Lookup([]byte("a/w"))
	if w.Policy != PolicyWeighted || w.Deployments[0].Weight != 3 || w.Deployments[1].Weight != 1 {
		t.Fatalf("weighted model %+v", w)
	}
	l := c.Lookup([]byte("b/l"))
	if l.Policy != PolicyLatency || l.Deployments[0].Weight != 1 || l.Deployments[0].Pos != 0 || w.Deployments[1].Pos != 1 {
		t.Fatalf("latency model %+v", l)
	}
	if got := c.Providers(); len(got) != 2 || got[0] != "p1" || got[1] != "p2" {
		t.Fatalf("Providers = %v", got)
	}
	if c.Provider([]byte("p2")) != "p2" || c.Provider([]byte("p3")) != "" {
		t.Fatal("Provider lookup")
	}
	// Interned: every deployment of p2 and the lookup share one copy.
	p := unsafe.StringData(c.Provider([]byte("p2")))
	if p != unsafe.StringData(l.Deployments[0].Provider) || p != unsafe.StringData(w.Deployments[1].Provider) {
		t.Fatal("provider ids not interned")
	}
}
