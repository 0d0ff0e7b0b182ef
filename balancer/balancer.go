// Package balancer chooses which deployment serves a request. A model's routing policy
// (catalog.Policy) ranks its deployments, a request's provider preferences (Route) narrow and
// reorder them, and deployments that cannot serve now are skipped: an open circuit breaker, a
// cooldown the provider asked for with Retry-After, or, as a preference only, bad health.
//
// A request goes through two steps per attempt: Choose names a deployment, and Attempt runs the
// attempt under that deployment's gobreaker circuit breaker (CircuitBreaker.Execute), returning
// when the attempt's outcome is known: a non-streamed request when its response is in, a stream
// when its first event is. Choose reads only atomics (the breaker's state is mirrored into them),
// so it costs tens of nanoseconds; Attempt adds the breaker's mutex before and after the try.
// Neither allocates: the try function stays on the caller's stack.
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
	cb        *gobreaker.CircuitBreaker[struct{}]
	state     atomic.Int32 // gobreaker.State
	openUntil atomic.Int64 // Unix nanoseconds at which an open breaker lets probes through
	coolUntil atomic.Int64 // Unix nanoseconds until which the provider asked us to wait
}

// ErrClientGone marks an outcome caused by the client, not the provider: the breaker ignores it.
// Attempt's try may return it, or an error wrapping it.
var ErrClientGone = errors.New("client went away")

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

// State returns the breaker state of deployment d, for health endpoints and tests.
func (b *Balancer) State(d *catalog.Deployment) gobreaker.State { return b.deps[d.Index].cb.State() }
