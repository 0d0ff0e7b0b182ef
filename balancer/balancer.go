// Package balancer chooses which deployment serves a request: the model's deployments in
// priority order, skipping any whose circuit breaker is open. Each deployment has a gobreaker
// two-step breaker, because streams report success when their headers arrive, long before the
// request ends.
package balancer

import (
	"errors"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/arouter/arouter/catalog"
)

// Options configure the breakers; zero values take the defaults noted.
type Options struct {
	// ConsecutiveFailures opens a breaker, default 5.
	ConsecutiveFailures uint32
	// OpenFor is how long an open breaker refuses traffic before letting one probe through,
	// default 30s.
	OpenFor time.Duration
	// Metrics receives arouter_breaker_state{deployment=…}; nil skips it.
	Metrics *metrics.Set
	Logger  *zap.Logger
}

// Balancer is safe for concurrent use.
type Balancer struct {
	breakers []*gobreaker.TwoStepCircuitBreaker[struct{}]
}

// ErrClientGone marks an outcome caused by the client, not the provider: the breaker ignores it.
var ErrClientGone = errors.New("client went away")

// Done reports how an attempt on a deployment ended: nil for success (or a request the provider
// rightly refused), ErrClientGone to ignore it, any other error for a provider failure.
type Done func(err error)

// New builds one breaker per catalog deployment.
func New(c *catalog.Catalog, opts Options) *Balancer {
	if opts.ConsecutiveFailures == 0 {
		opts.ConsecutiveFailures = 5
	}
	if opts.OpenFor <= 0 {
		opts.OpenFor = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	b := &Balancer{}
	for _, d := range c.Deployments() {
		// OnStateChange runs under the breaker's lock: only log here.
		cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        d.Name(),
			MaxRequests: 1,
			Timeout:     opts.OpenFor,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				return c.ConsecutiveFailures >= opts.ConsecutiveFailures
			},
			IsExcluded: func(err error) bool { return errors.Is(err, ErrClientGone) },
			OnStateChange: func(name string, from, to gobreaker.State) {
				log.Warn("circuit breaker changed state", zap.String("deployment", name),
					zap.String("from", from.String()), zap.String("to", to.String()))
			},
		})
		b.breakers = append(b.breakers, cb)
		if opts.Metrics != nil {
			opts.Metrics.NewGauge(`arouter_breaker_state{deployment="`+d.Name()+`"}`, func() float64 {
				return float64(cb.State()) // 0 closed, 1 half-open, 2 open
			})
		}
	}
	return b
}

// NoDeploymentError says that every deployment of a model has been tried or is refusing traffic.
type NoDeploymentError struct {
	Model string
	Tried []string // deployment names
}

func (e *NoDeploymentError) Error() string {
	return "no provider available for " + e.Model + " (tried or circuit open: " + strings.Join(e.Tried, ", ") + ")"
}

// Tried is the set of a model's deployments (by position in Model.Deployments) already
// attempted for one request, so a failover never goes back to one that just failed.
type Tried uint64

// With returns t plus the deployment at position pos.
func (t Tried) With(pos int) Tried { return t | 1<<uint(pos) }

func (t Tried) has(pos int) bool { return t&(1<<uint(pos)) != 0 }

// MaxDeployments is how many deployments of one model Tried can track.
const MaxDeployments = 64

// Pick returns the first deployment of m, not in tried, whose breaker admits a request; its
// position in m.Deployments; and the function that must be called exactly once with the
// attempt's outcome. The returned Done is gobreaker's closure: the one allocation of the
// selection step.
func (b *Balancer) Pick(m *catalog.Model, tried Tried) (*catalog.Deployment, int, Done, error) {
	for pos, d := range m.Deployments {
		if pos >= MaxDeployments || tried.has(pos) {
			continue
		}
		cb := b.breakers[d.Index]
		if cb.State() == gobreaker.StateOpen {
			continue
		}
		done, err := cb.Allow()
		if err != nil {
			continue // half-open and its probe is already out
		}
		return d, pos, done, nil
	}
	names := make([]string, len(m.Deployments))
	for i, d := range m.Deployments {
		names[i] = d.Name()
	}
	return nil, -1, nil, &NoDeploymentError{Model: m.ID, Tried: names}
}

// State returns the breaker state of deployment d, for health endpoints and tests.
func (b *Balancer) State(d *catalog.Deployment) gobreaker.State { return b.breakers[d.Index].State() }
