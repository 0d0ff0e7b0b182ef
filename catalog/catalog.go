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
// Index is unique across the catalog so that per-deployment state can live in flat slices.
type Deployment struct {
	Index         int
	Model         *Model
	Provider      string
	UpstreamModel string
}

// Name identifies the deployment in logs and metrics, e.g. "openai/gpt-4o-mini@mock".
func (d *Deployment) Name() string { return d.Model.ID + "@" + d.Provider }

// Model is one public model id and the deployments that serve it, in priority order.
type Model struct {
	ID            string
	Name          string
	ContextLength int
	Prices        Prices
	Deployments   []*Deployment
}

// Catalog maps public model ids to models.
type Catalog struct {
	models      []*Model
	byID        map[string]*Model
	deployments []*Deployment
}

// ModelSpec and DeploymentSpec are the inputs to New, decoupled from the configuration format.
type ModelSpec struct {
	ID            string
	Name          string
	ContextLength int
	Prices        Prices
	Deployments   []DeploymentSpec
}

// DeploymentSpec names a provider and the model name it knows.
type DeploymentSpec struct {
	Provider      string
	UpstreamModel string
}

// New builds a catalog. Ids must be unique and every model needs a deployment; configuration
// validation already enforces both, so errors here mean a programming mistake upstream.
func New(specs []ModelSpec) (*Catalog, error) {
	c := &Catalog{byID: make(map[string]*Model, len(specs))}
	for _, s := range specs {
		if _, dup := c.byID[s.ID]; dup {
			return nil, fmt.Errorf("catalog: model %q defined twice", s.ID)
		}
		if len(s.Deployments) == 0 {
			return nil, fmt.Errorf("catalog: model %q has no deployments", s.ID)
		}
		m := &Model{ID: s.ID, Name: s.Name, ContextLength: s.ContextLength, Prices: s.Prices}
		if m.Name == "" {
			m.Name = m.ID
		}
		for _, ds := range s.Deployments {
			d := &Deployment{Index: len(c.deployments), Model: m, Provider: ds.Provider, UpstreamModel: ds.UpstreamModel}
			m.Deployments = append(m.Deployments, d)
			c.deployments = append(c.deployments, d)
		}
		c.models = append(c.models, m)
		c.byID[m.ID] = m
	}
	return c, nil
}

// Lookup finds a model by the id bytes from a request body. It does not allocate: the compiler
// turns the string(id) conversion in a map index into a lookup without a copy.
func (c *Catalog) Lookup(id []byte) *Model { return c.byID[string(id)] }

// Models lists models in configuration order.
func (c *Catalog) Models() []*Model { return c.models }

// Deployments lists every deployment; a deployment's Index is its position here.
func (c *Catalog) Deployments() []*Deployment { return c.deployments }
