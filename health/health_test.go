package health

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// base is 12:30:30 UTC, mid-minute and mid-hour, so that offsets of a few minutes either way stay
// within the same hour unless a test means to cross one.
var base = time.Date(2025, 3, 14, 12, 30, 30, 0, time.UTC)

func ok(ttfb time.Duration) Outcome {
	return Outcome{OK: true, TTFB: ttfb, Latency: ttfb}
}

var failed = Outcome{OK: false}

func observeN(tr *Tracker, i, n int, o Outcome, at time.Time) {
	for range n {
		tr.Observe(i, o, at)
	}
}

func checkCounts(t *testing.T, what string, w Window, requests, errors int64) {
	t.Helper()
	if w.Requests != requests || w.Errors != errors {
		t.Errorf("%s: requests/errors = %d/%d, want %d/%d", what, w.Requests, w.Errors, requests, errors)
	}
	want := 1.0
	if requests > 0 {
		want = float64(requests-errors) / float64(requests)
	}
	if math.Abs(w.Availability-want) > 1e-12 {
		t.Errorf("%s: availability = %v, want %v", what, w.Availability, want)
	}
}

func TestAvailabilityWindows(t *testing.T) {
	t.Parallel()
	tr := New([]string{"a", "b"}, nil)
	observeN(tr, 0, 4, failed, base.Add(-10*time.Minute)) // 12:20:30: in 30m and 1d only
	observeN(tr, 0, 6, ok(time.Second), base.Add(-10*time.Minute))
	observeN(tr, 0, 9, ok(time.Second), base.Add(-2*time.Minute)) // 12:28:30: in every window
	observeN(tr, 0, 1, failed, base)
	observeN(tr, 0, 2, failed, base.Add(-3*time.Hour)) // 1d only
	observeN(tr, 0, 5, ok(time.Second), base.Add(-25*time.Hour))

	s := tr.Snapshot(0, base)
	if s.Name != "a" {
		t.Errorf("name = %q", s.Name)
	}
	checkCounts(t, "5m", s.Last5m, 10, 1)
	checkCounts(t, "30m", s.Last30m, 20, 5)
	checkCounts(t, "1d", s.Last1d, 22, 7)
	checkCounts(t, "other deployment", tr.Snapshot(1, base).Last1d, 0, 0)

	// Window edges: 5m holds the current minute and the four before it.
	checkCounts(t, "5m two minutes on", tr.Window(0, Span5m, base.Add(2*time.Minute)), 10, 1)
	checkCounts(t, "5m three minutes on", tr.Window(0, Span5m, base.Add(3*time.Minute)), 1, 1)
	checkCounts(t, "30m 20 minutes on", tr.Window(0, Span30m, base.Add(20*time.Minute)), 10, 1)
	// A reader whose clock lags the writers does not see their newer buckets.
	checkCounts(t, "5m read from the past", tr.Window(0, Span5m, base.Add(-time.Minute)), 9, 0)
}

func TestWindowAcrossHourBoundary(t *testing.T) {
	t.Parallel()
	tr := New([]string{"a"}, nil)
	now := time.Date(2025, 3, 14, 13, 2, 0, 0, time.UTC)
	observeN(tr, 0, 3, failed, now.Add(-4*time.Minute)) // 12:58, previous hour
	observeN(tr, 0, 1, ok(time.Second), now)
	s := tr.Snapshot(0, now)
	checkCounts(t, "5m", s.Last5m, 4, 3)
	checkCounts(t, "30m", s.Last30m, 4, 3)
	checkCounts(t, "1d", s.Last1d, 4, 3)
}

func TestRingReuse(t *testing.T) {
	t.Parallel()
	tr := New([]string{"a"}, nil)
	observeN(tr, 0, 7, failed, base)

	// A day later nothing is left, before and after the buckets are written again.
	day := base.Add(24 * time.Hour)
	s := tr.Snapshot(0, day)
	for _, w := range []Window{s.Last5m, s.Last30m, s.Last1d} {
		checkCounts(t, "a day later", w, 0, 0)
	}
	observeN(tr, 0, 2, ok(time.Second), day)
	s = tr.Snapshot(0, day)
	for _, w := range []Window{s.Last5m, s.Last30m, s.Last1d} {
		checkCounts(t, "a day later, rewritten", w, 2, 0)
	}
	if s.Last1d.TTFBp50 == 0 {
		t.Error("TTFB lost after reuse")
	}

	// The minute ring wraps after 30 minutes; the hour bucket keeps counting.
	tr2 := New([]string{"a"}, nil)
	observeN(tr2, 0, 3, failed, base)
	later := base.Add(30 * time.Minute) // same minute slot, next hour
	observeN(tr2, 0, 1, ok(time.Second), later)
	s = tr2.Snapshot(0, later)
	checkCounts(t, "5m after wrap", s.Last5m, 1, 0)
	checkCounts(t, "30m after wrap", s.Last30m, 1, 0)
	checkCounts(t, "1d after wrap", s.Last1d, 4, 3)

	// A straggler whose time is a whole lap behind must not reset the newer bucket.
	tr2.Observe(0, failed, base)
	checkCounts(t, "30m after straggler", tr2.Window(0, Span30m, later), 1, 0)
}

func TestNoTraffic(t *testing.T) {
	t.Parallel()
	tr := New([]string{"x"}, nil)
	if tr.Len() != 1 || tr.Name(0) != "x" {
		t.Fatalf("Len/Name = %d/%q", tr.Len(), tr.Name(0))
	}
	s := tr.Snapshot(0, base)
	for _, w := range []Window{s.Last5m, s.Last30m, s.Last1d} {
		if w != (Window{Availability: 1}) {
			t.Errorf("empty window = %+v", w)
		}
	}
	// Failures only: availability 0, still no latency.
	observeN(tr, 0, 3, failed, base)
	if w := tr.Window(0, Span5m, base); w.Availability != 0 || w.TTFBp50 != 0 || w.TokensPerSecond != 0 {
		t.Errorf("failures only: %+v", w)
	}
}

func TestHistogramBuckets(t *testing.T) {
	t.Parallel()
	if histLower(1) != 1<<histMinExp {
		t.Fatalf("bucket 1 starts at %v", histLower(1))
	}
	for i := 1; i < histBuckets; i++ {
		lo := histLower(i)
		if lo <= histLower(i-1) {
			t.Fatalf("bucket %d lower %v not above bucket %d", i, lo, i-1)
		}
		if histIndex(lo) != i || histIndex(lo-1) != i-1 {
			t.Fatalf("bucket %d: index(%v)=%d index(%v)=%d", i, lo, histIndex(lo), lo-1, histIndex(lo-1))
		}
		if i < histBuckets-1 {
			if w := histUpper(i) - lo; float64(w) > 0.25*float64(lo)+1 {
				t.Fatalf("bucket %d [%v, %v) wider than 25%%", i, lo, histUpper(i))
			}
		}
	}
	for _, d := range []time.Duration{-time.Second, 0, time.Microsecond} {
		if histIndex(d) != 0 {
			t.Errorf("index(%v) = %d, want 0", d, histIndex(d))
		}
	}
	if histIndex(time.Hour) != histBuckets-1 {
		t.Errorf("index(1h) = %d, want the last bucket", histIndex(time.Hour))
	}
	if top := histLower(histBuckets - 1); top < 50*time.Second || top > 60*time.Second {
		t.Errorf("open bucket starts at %v", top)
	}
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() time.Duration{
		"constant 100ms": func() time.Duration { return 100 * time.Millisecond },
		"uniform 1ms-2s": func() time.Duration { return time.Millisecond + time.Duration(rng.Int64N(int64(2*time.Second))) },
		"lognormal ~300ms": func() time.Duration {
			return time.Duration(float64(300*time.Millisecond) * math.Exp(rng.NormFloat64()))
		},
		"bimodal 50ms/4s": func() time.Duration {
			if rng.IntN(10) == 0 {
				return 4*time.Second + time.Duration(rng.Int64N(int64(time.Second)))
			}
			return 50*time.Millisecond + time.Duration(rng.Int64N(int64(10*time.Millisecond)))
		},
	}
	for name, gen := range dists {
		tr := New([]string{"a"}, nil)
		samples := make([]time.Duration, 5000)
		for k := range samples {
			samples[k] = gen()
			// Spread over the 5 minutes of the window.
			tr.Observe(0, ok(samples[k]), base.Add(-time.Duration(k%5)*time.Minute))
		}
		slices.Sort(samples)
		w := tr.Window(0, Span5m, base)
		for _, c := range []struct {
			q   float64
			got time.Duration
		}{{0.50, w.TTFBp50}, {0.90, w.TTFBp90}, {0.99, w.TTFBp99}} {
			want := samples[int(math.Ceil(c.q*float64(len(samples))))-1]
			b := histIndex(want)
			if c.got < histLower(b) || c.got > histUpper(b) {
				t.Errorf("%s p%.0f = %v, want within [%v, %v] around %v",
					name, c.q*100, c.got, histLower(b), histUpper(b), want)
			}
			if rel := math.Abs(float64(c.got-want)) / float64(want); rel > 0.25 {
				t.Errorf("%s p%.0f = %v, want %v (off by %.0f%%)", name, c.q*100, c.got, want, rel*100)
			}
		}
	}

	// Failed requests do not count toward latency, however fast they failed.
	tr := New([]string{"a"}, nil)
	observeN(tr, 0, 10, ok(time.Second), base)
	observeN(tr, 0, 90, Outcome{TTFB: time.Millisecond, Latency: time.Millisecond}, base)
	if w := tr.Window(0, Span5m, base); w.TTFBp50 < 800*time.Millisecond {
		t.Errorf("p50 = %v: failures leaked into the latency histogram", w.TTFBp50)
	}
}

func TestThroughput(t *testing.T) {
	t.Parallel()
	tr := New([]string{"a"}, nil)
	gen := func(tokens int64, ttfb, gen time.Duration) Outcome {
		return Outcome{OK: true, TTFB: ttfb, Latency: ttfb + gen, CompletionTokens: tokens}
	}
	tr.Observe(0, gen(100, 200*time.Millisecond, 2*time.Second), base)
	tr.Observe(0, gen(500, time.Second, 3*time.Second), base.Add(-20*time.Minute))
	// Ignored: a failure, a response without tokens, one without generation time.
	tr.Observe(0, Outcome{TTFB: time.Second, Latency: 10 * time.Second, CompletionTokens: 1000}, base)
	tr.Observe(0, gen(0, time.Second, time.Second), base)
	tr.Observe(0, gen(1000, time.Second, 0), base)

	s := tr.Snapshot(0, base)
	if got := s.Last5m.TokensPerSecond; math.Abs(got-50) > 1e-9 {
		t.Errorf("5m throughput = %v, want 50", got)
	}
	if got := s.Last30m.TokensPerSecond; math.Abs(got-120) > 1e-9 { // 600 tokens / 5 s
		t.Errorf("30m throughput = %v, want 120", got)
	}
	if got := s.Last1d.TokensPerSecond; math.Abs(got-120) > 1e-9 {
		t.Errorf("1d throughput = %v, want 120", got)
	}
}

// TestConcurrentObserve checks that no request is lost or counted twice while many goroutines
// write, including while they cross minute and hour boundaries together, which makes them race
// to reset the same buckets.
func TestConcurrentObserve(t *testing.T) {
	t.Parallel()
	const goroutines, perGoroutine = 8, 3000
	tr := New([]string{"a", "b"}, nil)
	start := time.Date(2025, 3, 14, 12, 59, 58, 0, time.UTC)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for k := range perGoroutine {
				// Every 100 requests the clock moves a minute on, through all 30 minute buckets
				// and across an hour boundary.
				at := start.Add(time.Duration(k/100) * time.Minute)
				o := ok(time.Duration(1+k%500) * time.Millisecond)
				if k%10 == 0 {
					o = failed
				}
				tr.Observe(g%2, o, at)
				if k%100 == 0 {
					_ = tr.Snapshot(g%2, at) // readers during writes, for the race detector
				}
			}
		})
	}
	wg.Wait()
	end := start.Add(perGoroutine/100*time.Minute - time.Minute)
	const perDeployment = goroutines / 2 * perGoroutine
	for i := range 2 {
		s := tr.Snapshot(i, end)
		checkCounts(t, fmt.Sprint("deployment ", i, " 5m"), s.Last5m, perDeployment/6, perDeployment/60)
		checkCounts(t, fmt.Sprint("deployment ", i, " 30m"), s.Last30m, perDeployment, perDeployment/10)
		checkCounts(t, fmt.Sprint("deployment ", i, " 1d"), s.Last1d, perDeployment, perDeployment/10)
		var a accumulator
		tr.sum(&a, i, Span30m, end, true)
		if got := a.hist.total(); got != perDeployment*9/10 {
			t.Errorf("deployment %d: %d TTFB samples, want %d", i, got, perDeployment*9/10)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	set := metrics.NewSet()
	tr := New([]string{"openai/gpt-4o-mini@mock", `odd"name\`, "idle"}, set)
	tr.now = func() time.Time { return base }
	observeN(tr, 0, 3, ok(100*time.Millisecond), base)
	observeN(tr, 0, 1, failed, base)
	observeN(tr, 0, 4, failed, base.Add(-20*time.Minute))
	observeN(tr, 1, 1, ok(time.Second), base)

	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	out := buf.String()
	for _, want := range []string{
		`arouter_deployment_availability{deployment="openai/gpt-4o-mini@mock",window="5m"} 0.75` + "\n",
		`arouter_deployment_availability{deployment="openai/gpt-4o-mini@mock",window="30m"} 0.375` + "\n",
		`arouter_deployment_availability{deployment="openai/gpt-4o-mini@mock",window="1d"} 0.375` + "\n",
		`arouter_deployment_availability{deployment="idle",window="5m"} 1` + "\n",
		`arouter_deployment_availability{deployment="idle",window="1d"} 1` + "\n",
		`arouter_deployment_availability{deployment="odd\"name\\",window="5m"} 1` + "\n",
		`arouter_deployment_ttfb_p50_seconds{deployment="idle"} 0` + "\n",
		`arouter_deployment_ttfb_p99_seconds{deployment="idle"} 0` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
	if strings.Contains(out, "NaN") {
		t.Error("metrics output contains NaN")
	}
	w := tr.Window(0, Span5m, base)
	for name, d := range map[string]time.Duration{"p50": w.TTFBp50, "p99": w.TTFBp99} {
		line := fmt.Sprintf("arouter_deployment_ttfb_%s_seconds{deployment=\"openai/gpt-4o-mini@mock\"} %g\n", name, d.Seconds())
		if !strings.Contains(out, line) {
			t.Errorf("metrics output lacks %q", line)
		}
		if d < 80*time.Millisecond || d > 110*time.Millisecond {
			t.Errorf("%s = %v, want about 100ms", name, d)
		}
	}
	if n := strings.Count(out, "arouter_deployment_"); n != 3*7 {
		t.Errorf("%d deployment series, want 21:\n%s", n, out)
	}
}
