// Package balancer chooses which deployment serves a request. A model's routing policy
// (catalog.Policy) ranks its deployments, a request's provider preferences (Route) narrow and
// reorder them, and deployments that cannot serve now are skipped: an open circuit breaker, a
// cooldown the provider asked for with Retry-After, or, as a preference only, bad health.
//
// Each deployment has a gobreaker two-step breaker, because streams report success when their
// headers arrive, long before the request ends. Everything the request path reads besides the
// breaker's own admission (a mutex and the Allow closure, the one allocation of selection) is
// an atomic load, so choosing a deployment costs tens of nanoseconds and allocates nothing else.
package balancer

import (
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/health"
)

// HealthReader is the read side of health.Tracker that routing needs. Score is called for
// every candidate of every request, so it must be cheap and must not allocate.
type HealthReader interface {
	Score(i int, now time.Time) health.Score
}

var _ HealthReader = (*health.Tracker)(nil)

// Options configure the breakers and cooldowns; zero values take the defaults noted.
type Options struct {
	// ConsecutiveFailures opens a breaker, default 5.
	ConsecutiveFailures uint32
	// FailureRatio, if set, also opens a breaker when at least this fraction of the requests
	// counted in Interval failed, once there are MinRequests of them; it catches a deployment
	// failing often but not in a row. 0 disables it.
	FailureRatio float64
	// MinRequests is how many finished requests the ratio needs, default 10.
	MinRequests uint32
	// Interval is the rolling window a closed breaker counts requests over (in ten steps),
	// default 60s when FailureRatio is set; 0 otherwise, which counts from the last state
	// change on, as consecutive failures need.
	Interval time.Duration
	// OpenFor is how long an open breaker refuses traffic before letting probes through,
	// default 30s.
	OpenFor time.Duration
	// HalfOpenRequests is how many requests a half-open breaker lets through as probes; that
	// many successes close it, one failure opens it again. Default 1.
	HalfOpenRequests uint32
	// MaxCoolDown caps a cooldown from CoolDown, default 5 minutes, so that one absurd
	// Retry-After cannot take a deployment out for a day.
	MaxCoolDown time.Duration
	// Health, if set, demotes unhealthy deployments and feeds the latency and throughput
	// rankings; nil treats every deployment as healthy and unmeasured.
	Health HealthReader
	// Metrics receives arouter_breaker_state{deployment=…}; nil skips it.
	Metrics *metrics.Set
	Logger  *zap.Logger
}

// Validate reports options New would refuse, in words a configuration error can carry.
func (o *Options) Validate() error {
	switch {
	case o.FailureRatio < 0 || o.FailureRatio > 1:
		return errors.New("balancer: failure ratio must be a fraction in (0, 1], e.g. 0.5, or 0 to open breakers on consecutive failures only")
	case o.Interval < 0 || o.OpenFor < 0 || o.MaxCoolDown < 0:
		return errors.New("balancer: breaker interval, open time and maximum cooldown must not be negative")
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.ConsecutiveFailures == 0 {
		o.ConsecutiveFailures = 5
	}
	if o.MinRequests == 0 {
		o.MinRequests = 10
	}
	if o.FailureRatio > 0 && o.Interval == 0 {
		o.Interval = time.Minute
	}
	if o.OpenFor == 0 {
		o.OpenFor = 30 * time.Second
	}
	if o.HalfOpenRequests == 0 {
		o.HalfOpenRequests = 1
	}
	if o.MaxCoolDown == 0 {
		o.MaxCoolDown = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// Balancer is safe for concurrent use.
type Balancer struct {
	deps        []deployment
	health      HealthReader
	maxCoolDown time.Duration
	randN       func(n int) int  // weighted draws; a seam for tests
	now         func() time.Time // CoolDown's clock for the MaxCoolDown cap
}

// deployment is one deployment's routing state. The breaker's state is mirrored into atomics
// from OnStateChange, so that selection can skip an open breaker without taking its lock.
type deployment struct {
	cb        *gobreaker.TwoStepCircuitBreaker[struct{}]
	state     atomic.Int32 // gobreaker.State
	openUntil atomic.Int64 // Unix nanoseconds at which an open breaker lets probes through
	coolUntil atomic.Int64 // Unix nanoseconds until which the provider asked us to wait
}

// ErrClientGone marks an outcome caused by the client, not the provider: the breaker ignores it.
var ErrClientGone = errors.New("client went away")

// Done reports how an attempt on a deployment ended: nil for success (or a request the provider
// rightly refused), ErrClientGone to ignore it, any other error for a provider failure.
type Done func(err error)

// New builds one breaker per catalog deployment. It panics if opts.Validate fails: call
// Validate first to report a configuration mistake properly.
func New(c *catalog.Catalog, opts Options) *Balancer {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	opts.setDefaults()
	b := &Balancer{
		deps:        make([]deployment, len(c.Deployments())),
		health:      opts.Health,
		maxCoolDown: opts.MaxCoolDown,
		randN:       rand.IntN,
		now:         time.Now,
	}
	for _, d := range c.Deployments() {
		st := &b.deps[d.Index]
		st.cb = newBreaker(d.Name(), st, &opts)
		if opts.Metrics != nil {
			cb := st.cb
			opts.Metrics.NewGauge(`arouter_breaker_state{deployment="`+d.Name()+`"}`, func() float64 {
				return float64(cb.State()) // 0 closed, 1 half-open, 2 open
			})
		}
	}
	return b
}

// Pick returns the first deployment of m in priority order, not in tried, whose breaker admits
// a request; its position in m.Deployments; and the function that must be called exactly once
// with the attempt's outcome. It ignores the model's policy, health and cooldowns: it is the
// selection of the first gateway version, kept for callers not yet moved to PickRoute.
func (b *Balancer) Pick(m *catalog.Model, tried Tried) (*catalog.Deployment, int, Done, error) {
	for pos, d := range m.Deployments {
		if tried.has(pos) {
			continue
		}
		st := &b.deps[d.Index]
		if gobreaker.State(st.state.Load()) == gobreaker.StateOpen && st.openUntil.Load() > time.Now().UnixNano() {
			continue
		}
		done, err := st.cb.Allow()
		if err != nil {
			continue // open, or half-open with its probes already out
		}
		return d, pos, done, nil
	}
	return nil, -1, nil, b.noDeployment(m, nil, tried, 0, nil, time.Now())
}

// State returns the breaker state of deployment d, for health endpoints and tests.
func (b *Balancer) State(d *catalog.Deployment) gobreaker.State { return b.deps[d.Index].cb.State() }
