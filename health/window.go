package health

import "time"

// Span names one of the three windows statistics are kept for.
type Span uint8

const (
	Span5m  Span = iota // the 5 newest one-minute buckets
	Span30m             // the 30 newest one-minute buckets
	Span1d              // the 24 newest one-hour buckets
)

// String returns the span as the metrics label spells it: "5m", "30m" or "1d".
func (s Span) String() string {
	switch s {
	case Span5m:
		return "5m"
	case Span30m:
		return "30m"
	case Span1d:
		return "1d"
	}
	return "unknown"
}

// Window is a deployment's health over one window.
type Window struct {
	Requests, Errors int64
	// Availability is the fraction of requests the provider served, 1 when there were none:
	// a deployment without traffic has shown no sign of trouble, and callers ranking
	// deployments need a number, not NaN.
	Availability float64
	// TTFB percentiles of the successful requests, each within its histogram bucket's 25%
	// precision; 0 when there were none.
	TTFBp50, TTFBp90, TTFBp99 time.Duration
	// LatencyP50 is the median total latency of the successful requests, to the same
	// precision; 0 when there were none.
	LatencyP50 time.Duration
	// TokensPerSecond is all completion tokens over all generation time of the requests that
	// reported both, so long generations weigh more than short ones; 0 when there were none.
	TokensPerSecond float64
	// TokensPerSecondP50 is the median of the same requests' own rates, each request counting
	// once: what a typical request sees, where TokensPerSecond is what the provider delivered.
	// It has the histogram's 25% precision; 0 when there were none.
	TokensPerSecondP50 float64
}

// ErrorRate is the fraction of requests that failed, 0 when there were none.
func (w *Window) ErrorRate() float64 {
	if w.Requests <= 0 {
		return 0
	}
	return float64(w.Errors) / float64(w.Requests)
}

// Snapshot is a deployment's health over every window.
type Snapshot struct {
	Name                    string
	Last5m, Last30m, Last1d Window
}

// Snapshot returns deployment i's health at now. It reads 59 time buckets; callers that need
// one window, such as a router, should use Window instead.
func (t *Tracker) Snapshot(i int, now time.Time) Snapshot {
	return Snapshot{
		Name:    t.deps[i].name,
		Last5m:  t.Window(i, Span5m, now),
		Last30m: t.Window(i, Span30m, now),
		Last1d:  t.Window(i, Span1d, now),
	}
}

// Window returns deployment i's health over span s ending at now. It allocates nothing; its cost
// is proportional to the buckets the span covers (5, 30 or 24, about 200 atomic loads each), so
// a router should read Score, which caches the 5m window, instead.
func (t *Tracker) Window(i int, s Span, now time.Time) Window {
	var a accumulator
	t.sum(&a, i, s, now, true)
	return a.window()
}

// accumulator sums the buckets of one window.
type accumulator struct {
	requests, errors int64
	tokens, genNanos int64
	hist             histCounts // TTFB
	latency, tps     histCounts
}

// sum adds deployment i's buckets of span s at now into a, the latency histograms only if
// withHist: the availability gauges do not need them.
func (t *Tracker) sum(a *accumulator, i int, s Span, now time.Time, withHist bool) {
	d := &t.deps[i]
	sec := now.Unix()
	switch s {
	case Span5m, Span30m:
		n := int64(5)
		if s == Span30m {
			n = 30
		}
		m := floorDiv(sec, 60)
		for u := m - n + 1; u <= m; u++ {
			a.add(&d.minutes[slot(u, minuteSlots)], u, withHist)
		}
	case Span1d:
		h := floorDiv(sec, 3600)
		for u := h - hourSlots + 1; u <= h; u++ {
			a.add(&d.hours[slot(u, hourSlots)], u, withHist)
		}
	}
}

// add adds b into a if b holds time unit u. Counters are loaded one by one while writers keep
// adding, so a window read during traffic may count a request in Requests but not yet in the
// histogram; requests and errors share one word, though, so availability is never torn.
func (a *accumulator) add(b *bucket, u int64, withHist bool) {
	if b.stamp.Load() != u {
		return
	}
	c := b.calls.Load()
	a.requests += int64(c >> 32)
	a.errors += int64(c & errorsMask)
	a.tokens += b.tokens.Load()
	a.genNanos += b.genNanos.Load()
	if withHist {
		a.hist.addFrom(&b.ttfb)
		a.latency.addFrom(&b.latency)
		a.tps.addFrom(&b.tps)
	}
}

func (a *accumulator) window() Window {
	w := Window{Requests: a.requests, Errors: a.errors, Availability: a.availability()}
	if n := a.hist.total(); n > 0 {
		w.TTFBp50 = a.hist.quantile(0.50, n)
		w.TTFBp90 = a.hist.quantile(0.90, n)
		w.TTFBp99 = a.hist.quantile(0.99, n)
	}
	if n := a.latency.total(); n > 0 {
		w.LatencyP50 = a.latency.quantile(0.50, n)
	}
	if n := a.tps.total(); n > 0 {
		w.TokensPerSecondP50 = durationToRate(a.tps.quantile(0.50, n))
	}
	if a.tokens > 0 && a.genNanos > 0 {
		w.TokensPerSecond = float64(a.tokens) / time.Duration(a.genNanos).Seconds()
	}
	return w
}

func (a *accumulator) availability() float64 {
	if a.requests <= 0 {
		return 1
	}
	return float64(a.requests-a.errors) / float64(a.requests)
}
