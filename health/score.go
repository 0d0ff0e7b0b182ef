package health

import (
	"math"
	"sync/atomic"
	"time"
)

// Score is the summary of a deployment's recent health that a router ranks and filters by, read
// on every request. Its figures come from the 5m window.
type Score struct {
	// TTFBp50 is the median time to first byte, 0 when no request succeeded recently.
	TTFBp50 time.Duration
	// TokensPerSecondP50 is the median generation rate of recent streamed requests, 0 when
	// unknown.
	TokensPerSecondP50 float64
	// ErrorRate is the fraction of recent requests and probes that failed; Requests is how many
	// there were.
	ErrorRate float64
	Requests  int64
	// ProbeFailures counts the consecutive failed active probes of the deployment's provider.
	ProbeFailures int64
	// Healthy is false when the deployment looks broken: its error rate is above
	// Options.MaxErrorRate over at least Options.MinRequests and its latest outcome failed, or
	// its last Options.ProbeFailures probes failed.
	//
	// The error-rate verdict holds only while the latest outcome is a failure: a router skips
	// unhealthy deployments, so the window would otherwise keep its errors for five minutes
	// with nothing new to dilute them. One success (a circuit breaker's probe, an active probe,
	// a request sent there as a last resort) restores the deployment, and its next failure
	// removes it again.
	Healthy bool
}

// scoreTTL is how long a computed score is served before the next reader recomputes it. A
// second keeps the router's view fresh compared with the minute buckets it summarises, and
// spreads the cost of summing them (about a microsecond) over every request of that second.
const scoreTTL = time.Second

// scoreSlot is one computed score. Fields are atomics because readers and the one recomputing
// writer meet without a lock.
type scoreSlot struct {
	ttfb     atomic.Int64
	tps      atomic.Uint64 // float64 bits
	errRate  atomic.Uint64 // float64 bits
	requests atomic.Int64
	errBad   atomic.Bool // error rate above the threshold over enough requests
}

// scoreCache double-buffers a deployment's score: the recomputing reader fills the slot nobody
// reads and then flips cur, so readers never wait and see one computation's figures together.
// A reader would see a mix only if it stalled mid-read through two recomputations, two seconds.
//
// The recomputation is done by whichever reader first finds the score stale, claimed with a
// compare-and-swap on at, rather than by a ticker: no goroutine to start and stop, nothing
// computed for deployments nobody routes to, and the time comes from the caller like everywhere
// else in the package.
type scoreCache struct {
	at    atomic.Int64 // Unix nanoseconds of the newest computation, 0 before the first
	cur   atomic.Uint32
	slots [2]scoreSlot
}

// Score returns deployment i's cached score, recomputing it first if it is older than a second
// at now. It allocates nothing; most calls are a few atomic loads.
func (t *Tracker) Score(i int, now time.Time) Score {
	d := &t.deps[i]
	c := &d.score
	n := now.UnixNano()
	if at := c.at.Load(); n-at >= int64(scoreTTL) && c.at.CompareAndSwap(at, n) {
		t.refresh(i, now)
	}
	s := &c.slots[c.cur.Load()&1]
	probes := d.probeFailures.Load()
	return Score{
		TTFBp50:            time.Duration(s.ttfb.Load()),
		TokensPerSecondP50: math.Float64frombits(s.tps.Load()),
		ErrorRate:          math.Float64frombits(s.errRate.Load()),
		Requests:           s.requests.Load(),
		ProbeFailures:      probes,
		Healthy:            !(s.errBad.Load() && d.lastFailed.Load()) && probes < t.opts.ProbeFailures,
	}
}

// Healthy reports whether deployment i looks healthy now; see Score.Healthy.
func (t *Tracker) Healthy(i int) bool { return t.Score(i, t.now()).Healthy }

// refresh recomputes deployment i's score into the idle slot and publishes it.
func (t *Tracker) refresh(i int, now time.Time) {
	c := &t.deps[i].score
	w := t.Window(i, Span5m, now)
	next := (c.cur.Load() + 1) & 1
	s := &c.slots[next]
	s.ttfb.Store(int64(w.TTFBp50))
	s.tps.Store(math.Float64bits(w.TokensPerSecondP50))
	rate := w.ErrorRate()
	s.errRate.Store(math.Float64bits(rate))
	s.requests.Store(w.Requests)
	s.errBad.Store(w.Requests >= t.opts.MinRequests && rate > t.opts.MaxErrorRate)
	c.cur.Store(next)
}

// ObserveProbe records the result of an active probe of deployment i's provider at now: an
// availability observation like a request's (without latency, which a probe does not share with
// completions) and the streak of failed probes behind Score.Healthy.
func (t *Tracker) ObserveProbe(i int, ok bool, now time.Time) {
	t.Observe(i, Outcome{OK: ok}, now)
	p := &t.deps[i].probeFailures
	if !ok {
		p.Add(1)
	} else if p.Load() != 0 {
		p.Store(0)
	}
}

// ClearProbes forgets deployment i's failed probes, for when probing its provider stops: a
// streak nobody will ever break would keep the deployment unhealthy forever.
func (t *Tracker) ClearProbes(i int) { t.deps[i].probeFailures.Store(0) }
