// Package health keeps health statistics per deployment (one model on one provider):
// availability, error rate, time to first byte, total latency and generation throughput over the
// last 5 minutes, 30 minutes and day, learned from the requests the proxy forwards anyway
// (passive) and from periodic probes of each provider (active, see Prober).
//
// The proxy calls Observe once per request that reached a provider, from every request
// goroutine, so Observe is a handful of atomic adds on preallocated memory: no lock, no
// allocation. Readers of whole windows (the endpoints listing, metrics scrapes) pay instead: a
// read sums the time buckets its window covers. The router, which reads on every request, reads
// a Score instead: a summary of the 5m window cached per deployment and recomputed at most once
// a second (see score.go).
//
// Each deployment has two rings of time buckets: 30 one-minute buckets serve the 5m and 30m
// windows and 24 one-hour buckets serve the 1d window. Writing both rings costs a second set of
// adds, but a day of minute buckets would be 1440 buckets per deployment, over 1 MiB with
// latency and throughput histograms, where the two rings take about 43 KiB. A window is the n
// most recent buckets including the current, partly elapsed one, so "5m" covers between 4 and 5
// minutes of traffic and "1d" between 23 and 24 hours. Time is always passed in, which keeps the
// package deterministic under test and lets the caller reuse the time.Now it already took.
package health

import (
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

const (
	minuteSlots = 30 // one-minute buckets: the 30m window needs 30, the 5m window uses the newest 5
	hourSlots   = 24 // one-hour buckets for the 1d window
)

// Bucket stamps that are not a time unit. Real stamps are Unix minutes or hours, far from both.
const (
	stampEmpty int64 = math.MinInt64     // never written
	stampBusy  int64 = math.MinInt64 + 1 // being reset by one writer; others wait
)

// Outcome is what the proxy learned from one request that reached a provider.
type Outcome struct {
	// OK reports that the provider served the request. A failure the client caused (it went
	// away, it sent a bad request the gateway forwarded) says nothing about the provider's
	// health: do not Observe it at all.
	OK bool
	// TTFB is the time to the provider's response headers. It is recorded for successful
	// requests only, so that fast failures (an immediate 429 or 503) cannot make a failing
	// provider look like the quickest. For a non-streamed response the headers arrive after
	// the whole generation, so TTFB is close to Latency. Zero means not measured.
	TTFB time.Duration
	// Latency is the total time until the response was complete.
	Latency time.Duration
	// CompletionTokens feeds throughput, measured in tokens per second of generation time
	// (Latency - TTFB). Only streamed responses have a meaningful generation time; for a
	// non-streamed one leave it 0, or its tokens arriving all at once inflate the figure.
	CompletionTokens int64
}

// bucket accumulates one time unit (a minute or an hour) of one deployment.
//
// Requests and errors share one word (requests in the high 32 bits, errors in the low 32) so
// that counting a request is a single atomic add, not two; errors never exceed requests, so the
// low half cannot carry into the high one as long as a bucket sees fewer than 2^32 requests,
// which would take over a million requests per second to one deployment for an hour.
type bucket struct {
	stamp    atomic.Int64  // Unix minute or hour this bucket holds, or stampEmpty/stampBusy
	calls    atomic.Uint64 // requests<<32 | errors
	tokens   atomic.Int64  // completion tokens of requests with a generation time
	genNanos atomic.Int64  // their summed generation time
	ttfb     histogram     // TTFB of successful requests
	latency  histogram     // total latency of successful requests
	tps      histogram     // tokens per second of successful requests with a generation time
}

// sample is what one request adds to a bucket, prepared once for both rings. A histogram index
// of -1 means "not measured".
type sample struct {
	calls         uint64
	tokens, gen   int64
	ttfb, latency int
	tps           int
}

const (
	oneRequest = 1 << 32
	errorsMask = 1<<32 - 1
)

// add counts a request into b if b holds stamp, resetting b first if it still holds an older
// time unit.
func (b *bucket) add(stamp int64, s *sample) {
	if b.stamp.Load() != stamp && !b.claim(stamp) {
		return
	}
	b.calls.Add(s.calls)
	if s.tokens > 0 {
		b.tokens.Add(s.tokens)
		b.genNanos.Add(s.gen)
	}
	if s.ttfb >= 0 {
		b.ttfb[s.ttfb].Add(1)
	}
	if s.latency >= 0 {
		b.latency[s.latency].Add(1)
	}
	if s.tps >= 0 {
		b.tps[s.tps].Add(1)
	}
}

// claim makes b hold stamp, resetting it if it holds an older time unit, and reports whether it
// does. It reports false when b already holds a newer unit: the ring has moved a whole lap past
// the caller's time, which only a caller whose clock lags by 30 minutes (or a day) can see, and
// its sample belongs to a window nobody can read any more.
//
// The writer that moves the stamp from an old unit to stampBusy (a compare-and-swap, so exactly
// one) zeroes the counters and only then publishes the new stamp; writers of the new unit that
// arrive meanwhile yield until it does. They wait for about 70 stores, once per bucket per
// minute, and in exchange no increment can land in a bucket that is then zeroed: every request
// is counted exactly, even across a bucket boundary. A writer preempted for a whole lap of the
// ring between its stamp check and its add would still add to a reused bucket; that needs a
// 30-minute stall and is ignored.
func (b *bucket) claim(stamp int64) bool {
	for {
		s := b.stamp.Load()
		switch {
		case s == stamp:
			return true
		case s == stampBusy:
			runtime.Gosched()
		case s > stamp:
			return false
		case b.stamp.CompareAndSwap(s, stampBusy):
			b.calls.Store(0)
			b.tokens.Store(0)
			b.genNanos.Store(0)
			b.ttfb.reset()
			b.latency.reset()
			b.tps.reset()
			b.stamp.Store(stamp)
			return true
		}
	}
}

// deployment is one deployment's two rings and the state the router reads.
type deployment struct {
	name    string
	minutes [minuteSlots]bucket
	hours   [hourSlots]bucket
	// lastFailed says the latest outcome (request or probe) was a failure; see Score.Healthy.
	lastFailed atomic.Bool
	// probeFailures counts consecutive failed active probes of the deployment's provider.
	probeFailures atomic.Int64
	score         scoreCache
}

// Tracker holds the health statistics of a fixed set of deployments. It is safe for concurrent
// use; all its memory is allocated by NewTracker.
type Tracker struct {
	deps []deployment
	opts Options
	now  func() time.Time // clock of the metrics gauges and Healthy, which have no caller to pass the time
}

// Options configure a Tracker; zero values take the defaults noted.
type Options struct {
	// Metrics receives the per-deployment gauges (see NewTracker); nil registers none.
	Metrics *metrics.Set
	// MaxErrorRate is the error rate over the 5m window above which a deployment is unhealthy,
	// default 0.5. 1 or more never marks a deployment unhealthy by its error rate.
	MaxErrorRate float64
	// MinRequests is how many requests (and probes) the 5m window must hold before its error
	// rate counts, default 10, so that one failure of an idle deployment is not an outage.
	MinRequests int64
	// ProbeFailures is how many consecutive failed active probes make a deployment unhealthy,
	// default 3.
	ProbeFailures int64
}

func (o *Options) setDefaults() {
	if o.MaxErrorRate <= 0 {
		o.MaxErrorRate = 0.5
	}
	if o.MinRequests <= 0 {
		o.MinRequests = 10
	}
	if o.ProbeFailures <= 0 {
		o.ProbeFailures = 3
	}
}

// New is NewTracker with default thresholds and set as Options.Metrics.
func New(names []string, set *metrics.Set) *Tracker {
	return NewTracker(names, Options{Metrics: set})
}

// NewTracker tracks len(names) deployments; names[i] is the name of deployment i, as in
// "openai/gpt-4o-mini@mock". If opts.Metrics is non-nil it also registers there, once, the
// gauges arouter_deployment_availability{deployment, window="5m"|"30m"|"1d"},
// arouter_deployment_ttfb_p50_seconds and _p99_seconds{deployment} over the 5m window,
// arouter_deployment_healthy{deployment} (1 or 0) and
// arouter_deployment_probe_failures{deployment} (consecutive failed probes). The names must then
// be unique, and the set must not already hold gauges from another Tracker: the metrics package
// panics on a duplicate name.
func NewTracker(names []string, opts Options) *Tracker {
	opts.setDefaults()
	t := &Tracker{deps: make([]deployment, len(names)), opts: opts, now: time.Now}
	for i := range t.deps {
		d := &t.deps[i]
		d.name = names[i]
		for j := range d.minutes {
			d.minutes[j].stamp.Store(stampEmpty)
		}
		for j := range d.hours {
			d.hours[j].stamp.Store(stampEmpty)
		}
	}
	if opts.Metrics != nil {
		t.registerGauges(opts.Metrics)
	}
	return t
}

// Len returns the number of deployments.
func (t *Tracker) Len() int { return len(t.deps) }

// Name returns deployment i's name.
func (t *Tracker) Name(i int) string { return t.deps[i].name }

// Observe records the outcome of one request to deployment i that finished at now. It panics if
// i is not in [0, Len()), like a slice index.
func (t *Tracker) Observe(i int, o Outcome, now time.Time) {
	d := &t.deps[i]
	s := sample{calls: oneRequest, ttfb: -1, latency: -1, tps: -1}
	if !o.OK {
		s.calls |= 1
	} else {
		if o.TTFB > 0 {
			s.ttfb = histIndex(o.TTFB)
		}
		if o.Latency > 0 {
			s.latency = histIndex(o.Latency)
		}
		if g := o.Latency - o.TTFB; o.CompletionTokens > 0 && g > 0 {
			s.tokens, s.gen = o.CompletionTokens, int64(g)
			s.tps = histIndex(rateToDuration(float64(o.CompletionTokens) / g.Seconds()))
		}
	}
	// Written only on change: a store on every request would bounce the cache line between
	// cores for nothing.
	if failed := !o.OK; d.lastFailed.Load() != failed {
		d.lastFailed.Store(failed)
	}
	sec := now.Unix()
	m, h := floorDiv(sec, 60), floorDiv(sec, 3600)
	d.minutes[slot(m, minuteSlots)].add(m, &s)
	d.hours[slot(h, hourSlots)].add(h, &s)
}

// floorDiv divides rounding toward minus infinity, so that times before 1970 still fall into
// whole units (Go's / truncates toward zero).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// slot returns the ring position of time unit u in a ring of n buckets.
func slot(u, n int64) int64 {
	s := u % n
	if s < 0 {
		s += n
	}
	return s
}
