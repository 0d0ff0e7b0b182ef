package health

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"go.uber.org/zap"
)

// ProbeFunc checks that a provider answers, typically with a GET of its models list: cheap for
// the provider, free of tokens, and it exercises the same host, TLS and credentials as a
// completion. It must return once ctx is done; ctx carries the probe's timeout. A nil error
// means the provider is up.
type ProbeFunc func(ctx context.Context) error

// ProbeTarget is one provider to probe and the tracker indexes of its deployments, which all
// receive each result: a provider that does not answer serves none of its models.
type ProbeTarget struct {
	Provider    string
	Deployments []int
	Probe       ProbeFunc
	// Disabled starts the provider with probing off (configuration said so); SetEnabled can
	// turn it on later.
	Disabled bool
}

// ProberOptions configure a Prober; zero values take the defaults noted.
type ProberOptions struct {
	// Interval is the mean time between two probes of one provider, default 30s. Each wait is
	// drawn uniformly from ±20% of it so that providers, and gateway replicas, drift apart
	// instead of probing in lockstep; the first probe comes within the first fifth of an
	// interval, so a dead provider is noticed soon after start.
	Interval time.Duration
	// Timeout bounds one probe, default 5s. A probe that overruns it fails even if it then
	// succeeds: a provider that slow is not serving completions either.
	Timeout time.Duration
	// Metrics receives arouter_probes_total{provider, result="ok"|"failed"}; nil registers none.
	Metrics *metrics.Set
	Logger  *zap.Logger
}

// Prober runs one goroutine per provider that probes it periodically and feeds the results to a
// Tracker (see Tracker.ObserveProbe). Probes of one provider never overlap: the next wait starts
// when a probe ends.
type Prober struct {
	tracker  *Tracker
	targets  []*probeTarget
	byName   map[string]*probeTarget
	interval time.Duration
	timeout  time.Duration
	log      *zap.Logger

	// Seams for tests: the clock the waits use, the jitter source and the result hook.
	after    func(time.Duration) <-chan time.Time
	rand     func() float64 // in [0, 1)
	now      func() time.Time
	onResult func(provider string, ok bool)

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	startOnce sync.Once
	stopOnce  sync.Once
}

// probeTarget is a ProbeTarget with its switch and counters. mu orders a result's recording
// against SetEnabled, so that a probe in flight when probing is turned off cannot leave a
// failure streak behind.
type probeTarget struct {
	ProbeTarget
	mu       sync.Mutex
	enabled  atomic.Bool
	ok, fail *metrics.Counter
}

// NewProber prepares probes of targets feeding t. It starts nothing; call Start.
func NewProber(t *Tracker, targets []ProbeTarget, opts ProberOptions) (*Prober, error) {
	if opts.Interval < 0 || opts.Timeout < 0 {
		return nil, errors.New("health: probe interval and timeout must not be negative")
	}
	if opts.Interval == 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	p := &Prober{
		tracker: t, byName: make(map[string]*probeTarget, len(targets)),
		interval: opts.Interval, timeout: opts.Timeout, log: opts.Logger,
		after: time.After, rand: rand.Float64, now: time.Now,
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for _, pt := range targets {
		switch {
		case pt.Probe == nil:
			return nil, fmt.Errorf("health: provider %q has no probe function", pt.Provider)
		case p.byName[pt.Provider] != nil:
			return nil, fmt.Errorf("health: provider %q listed twice for probing", pt.Provider)
		}
		for _, i := range pt.Deployments {
			if i < 0 || i >= t.Len() {
				return nil, fmt.Errorf("health: provider %q: deployment index %d out of range [0, %d)", pt.Provider, i, t.Len())
			}
		}
		target := &probeTarget{ProbeTarget: pt}
		target.enabled.Store(!pt.Disabled)
		if opts.Metrics != nil {
			label := `{provider="` + escapeLabel(pt.Provider) + `",result=`
			target.ok = opts.Metrics.NewCounter(`arouter_probes_total` + label + `"ok"}`)
			target.fail = opts.Metrics.NewCounter(`arouter_probes_total` + label + `"failed"}`)
		}
		p.targets = append(p.targets, target)
		p.byName[pt.Provider] = target
	}
	return p, nil
}

// Start starts probing. It returns at once; calling it again, or after Stop, does nothing.
func (p *Prober) Start() {
	p.startOnce.Do(func() {
		if p.ctx.Err() != nil {
			return
		}
		for _, t := range p.targets {
			p.wg.Add(1)
			go p.run(t)
		}
	})
}

// Stop cancels probes in flight and returns when every probing goroutine has ended. A probe
// cut short by Stop is not recorded. Stop may be called more than once, and without Start.
func (p *Prober) Stop() {
	p.stopOnce.Do(func() {
		p.cancel()
		p.wg.Wait()
	})
}

// SetEnabled turns probing of provider on or off and reports whether the provider is known.
// Turning it off forgets its failed probes, which nothing would otherwise ever clear.
func (p *Prober) SetEnabled(provider string, on bool) bool {
	t := p.byName[provider]
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.enabled.Store(on)
	if !on {
		for _, i := range t.Deployments {
			p.tracker.ClearProbes(i)
		}
	}
	return true
}

// Enabled reports whether provider is being probed.
func (p *Prober) Enabled(provider string) bool {
	t := p.byName[provider]
	return t != nil && t.enabled.Load()
}

// run probes one provider until Stop.
func (p *Prober) run(t *probeTarget) {
	defer p.wg.Done()
	delay := time.Duration(p.rand() * 0.2 * float64(p.interval))
	failing := false
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.after(delay):
		}
		delay = p.jittered()
		if !t.enabled.Load() {
			continue
		}
		err := p.probe(t)
		if p.ctx.Err() != nil {
			return // cut short by Stop: it says nothing about the provider
		}
		if !p.record(t, err) {
			continue
		}
		switch {
		case err != nil && !failing:
			p.log.Warn("provider probe failed", zap.String("provider", t.Provider), zap.Error(err))
		case err == nil && failing:
			p.log.Info("provider probe succeeded again", zap.String("provider", t.Provider))
		}
		failing = err != nil
		if p.onResult != nil {
			p.onResult(t.Provider, err == nil)
		}
	}
}

// jittered returns the interval scaled by a factor drawn uniformly from [0.8, 1.2).
func (p *Prober) jittered() time.Duration {
	return time.Duration((0.8 + 0.4*p.rand()) * float64(p.interval))
}

// probe runs one probe under the timeout.
func (p *Prober) probe(t *probeTarget) error {
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	err := t.Probe(ctx)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("probe answered after its %v timeout", p.timeout)
	}
	return err
}

// record feeds a result to the tracker unless probing was turned off meanwhile, and reports
// whether it did.
func (p *Prober) record(t *probeTarget, err error) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.enabled.Load() {
		return false
	}
	now := p.now()
	for _, i := range t.Deployments {
		p.tracker.ObserveProbe(i, err == nil, now)
	}
	if t.ok != nil {
		if err == nil {
			t.ok.Inc()
		} else {
			t.fail.Inc()
		}
	}
	return true
}
