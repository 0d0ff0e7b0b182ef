// Package catalog is the gateway's table of public models: which provider deployments serve each
// one, and what its tokens cost. It is built once from configuration and never mutated, so the
// request path reads it without locks.
package catalog

import (
	"fmt"

	"github.com/arouter/arouter/money"
)

// Prices are per million tokens. Cached prompt tokens are billed at CacheRead, prompt tokens
// written to a provider cache at CacheWrite (which may cost more than Prompt).
type Prices struct {
	Prompt     money.PricePerMillion
	Completion money.PricePerMillion
	CacheRead  money.PricePerMillion
	CacheWrite money.PricePerMillion
}

// Usage counts tokens the OpenAI way: Prompt includes Cached and CacheWrite, Completion includes
// Reasoning. Adapters for other providers normalise to this before billing.
type Usage struct {
	Prompt     int64
	Completion int64
	Reasoning  int64
	Cached     int64
	CacheWrite int64
}

// Cost prices u. Each part is rounded up on its own, so no part is ever free by truncation.
func (p *Prices) Cost(u *Usage) money.Nanos {
	uncached := u.Prompt - u.Cached - u.CacheWrite
	if uncached < 0 {
		uncached = 0
	}
	return p.Prompt.Cost(uncached) +
		p.CacheRead.Cost(u.Cached) +
		p.CacheWrite.Cost(u.CacheWrite) +
		p.Completion.Cost(u.Completion)
}

// Deployment is one way to serve a model: a provider and the provider's own model name.
// Index is unique across the catalog so that per-deployment state can live in flat slices; Pos
// is the deployment's place in its model's list, which per-request state (a bit per deployment
// tried) uses to stay a fixed size.
type Deployment struct {
	Index         int
	Pos           int
	Model         *Model
	Provider      string
	UpstreamModel string
	// Weight is the deployment's share of traffic under PolicyWeighted, at least 1. Other
	// policies ignore it.
	Weight int
}

// Name identifies the deployment in logs and metrics, e.g. "openai/gpt-4o-mini@mock".
func (d *Deployment) Name() string { return d.Model.ID + "@" + d.Provider }

// Model is one public model id and the deployments that serve it, in priority order.
type Model struct {
	ID            string
	Name          string
	ContextLength int
	Prices        Prices
	// Policy ranks the deployments; see Policy.
	Policy      Policy
	Deployments []*Deployment
}

// Catalog maps public model ids to models.
type Catalog struct {
	models      []*Model
	byID        map[string]*Model
	deployments []*Deployment
	providers   map[string]string // provider id -> the same id, interned
	provList    []string
}

// ModelSpec and DeploymentSpec are the inputs to New, decoupled from the configuration format.
type ModelSpec struct {
	ID            string
	Name          string
	ContextLength int
	Prices        Prices
	// Policy is the routing policy; the zero value is PolicyPriority.
	Policy      Policy
	Deployments []DeploymentSpec
}

// DeploymentSpec names a provider and the model name it knows.
type DeploymentSpec struct {
	Provider      string
	UpstreamModel string
	// Weight is the deployment's share under PolicyWeighted, 1 to MaxWeight; 0 means 1. Setting
	// it under another policy is refused, since it would silently do nothing.
	Weight int
}

const (
	// MaxDeployments bounds a model's deployments, so that per-request routing state (which
	// deployments were tried) fits in one machine word.
	MaxDeployments = 64
	// MaxWeight bounds a weight so that a model's weights add up without overflow anywhere.
	MaxWeight = 1_000_000
)

// New builds a catalog. Configuration validation already reports most mistakes with their
// field paths; New checks again what the router relies on, and says what to change.
func New(specs []ModelSpec) (*Catalog, error) {
	c := &Catalog{byID: make(map[string]*Model, len(specs)), providers: make(map[string]string)}
	for _, s := range specs {
		if err := checkModel(s); err != nil {
			return nil, err
		}
		if _, dup := c.byID[s.ID]; dup {
			return nil, fmt.Errorf("catalog: model %q defined twice; model ids must be unique", s.ID)
		}
		m := &Model{ID: s.ID, Name: s.Name, ContextLength: s.ContextLength, Prices: s.Prices, Policy: s.Policy}
		if m.Name == "" {
			m.Name = m.ID
		}
		for pos, ds := range s.Deployments {
			d := &Deployment{
				Index: len(c.deployments), Pos: pos, Model: m,
				Provider: c.intern(ds.Provider), UpstreamModel: ds.UpstreamModel, Weight: max(ds.Weight, 1),
			}
			m.Deployments = append(m.Deployments, d)
			c.deployments = append(c.deployments, d)
		}
		c.models = append(c.models, m)
		c.byID[m.ID] = m
	}
	return c, nil
}

// checkModel validates what one model spec needs for routing.
func checkModel(s ModelSpec) error {
	switch {
	case len(s.Deployments) == 0:
		return fmt.Errorf("catalog: model %q has no deployments; add at least one", s.ID)
	case len(s.Deployments) > MaxDeployments:
		return fmt.Errorf("catalog: model %q has %d deployments, more than the %d a model may have",
			s.ID, len(s.Deployments), MaxDeployments)
	case !s.Policy.valid():
		return fmt.Errorf("catalog: model %q has unknown routing policy %d (use priority, weighted, latency or price)",
			s.ID, s.Policy)
	}
	seen := make(map[string]int, len(s.Deployments))
	for i, d := range s.Deployments {
		if d.Provider == "" {
			return fmt.Errorf("catalog: model %q deployment %d has no provider", s.ID, i)
		}
		if j, dup := seen[d.Provider]; dup {
			return fmt.Errorf("catalog: model %q lists provider %q twice (deployments %d and %d); "+
				"a model has at most one deployment per provider", s.ID, d.Provider, j, i)
		}
		seen[d.Provider] = i
		switch {
		case d.Weight < 0 || d.Weight > MaxWeight:
			return fmt.Errorf("catalog: model %q deployment %d (%s): weight %d out of range; use 1 to %d",
				s.ID, i, d.Provider, d.Weight, MaxWeight)
		case d.Weight != 0 && s.Policy != PolicyWeighted:
			return fmt.Errorf("catalog: model %q deployment %d (%s) has weight %d but the model's policy is %s, "+
				"which ignores weights; set the policy to weighted or remove the weight", s.ID, i, d.Provider, d.Weight, s.Policy)
		}
	}
	return nil
}

// intern returns the catalog's own copy of a provider id, so that Provider can hand out the
// same string for a request's bytes without allocating.
func (c *Catalog) intern(id string) string {
	if s, ok := c.providers[id]; ok {
		return s
	}
	c.providers[id] = id
	c.provList = append(c.provList, id)
	return id
}

// Provider returns the provider id spelled by b, as the catalog holds it, or "" if no
// deployment uses that provider. It does not allocate, which lets the proxy turn the provider
// names of a request's routing preferences into strings for a balancer.Route for free.
func (c *Catalog) Provider(b []byte) string { return c.providers[string(b)] }

// Providers lists the provider ids deployments use, in order of first use.
func (c *Catalog) Providers() []string { return c.provList }

// Lookup finds a model by the id bytes from a request body. It does not allocate: the compiler
// turns the string(id) conversion in a map index into a lookup without a copy.
func (c *Catalog) Lookup(id []byte) *Model { return c.byID[string(id)] }

// Models lists models in configuration order.
func (c *Catalog) Models() []*Model { return c.models }

// Deployments lists every deployment; a deployment's Index is its position here.
func (c *Catalog) Deployments() []*Deployment { return c.deployments }
