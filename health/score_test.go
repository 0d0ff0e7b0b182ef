package health

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

func TestScoreIsCachedForASecond(t *testing.T) {
	t.Parallel()
	tr := New([]string{"a"}, nil)
	observeN(tr, 0, 4, ok(200*time.Millisecond), base)
	s := tr.Score(0, base)
	if s.Requests != 4 || s.TTFBp50 < 150*time.Millisecond || s.TTFBp50 > 250*time.Millisecond || !s.Healthy {
		t.Fatalf("first score %+v", s)
	}
	observeN(tr, 0, 4, ok(2*time.Second), base)
	if s2 := tr.Score(0, base.Add(999*time.Millisecond)); s2.Requests != 4 || s2.TTFBp50 != s.TTFBp50 {
		t.Fatalf("score recomputed within the second: %+v", s2)
	}
	// A reader whose clock lags does not recompute either.
	if s2 := tr.Score(0, base.Add(-time.Minute)); s2.Requests != 4 {
		t.Fatalf("lagging reader recomputed: %+v", s2)
	}
	if s2 := tr.Score(0, base.Add(time.Second)); s2.Requests != 8 || s2.TTFBp50 <= s.TTFBp50 {
		t.Fatalf("score not recomputed after a second: %+v", s2)
	}
}

// TestHealthyThresholds walks one deployment through the error-rate rule.
func TestHealthyThresholds(t *testing.T) {
	t.Parallel()
	tr := NewTracker([]string{"a"}, Options{MaxErrorRate: 0.5, MinRequests: 10})
	at := base
	step := func() time.Time { at = at.Add(time.Second); return at } // past the score's lifetime
	observeN(tr, 0, 9, failed, base)
	if s := tr.Score(0, step()); !s.Healthy || s.ErrorRate != 1 {
		t.Fatalf("9 failures, below MinRequests: %+v", s)
	}
	observeN(tr, 0, 1, failed, base)
	if s := tr.Score(0, step()); s.Healthy {
		t.Fatalf("10 failures: %+v", s)
	}
	// One success restores it while the rate is still high; the next failure removes it again.
	tr.Observe(0, ok(time.Second), at)
	if s := tr.Score(0, at); !s.Healthy {
		t.Fatalf("after a success: %+v", s)
	}
	tr.Observe(0, failed, at)
	if s := tr.Score(0, at); s.Healthy {
		t.Fatalf("failure after the success: %+v", s)
	}
	// Exactly at the threshold is healthy: 10 failures, 10 successes, then a failure is 11/21.
	tr2 := NewTracker([]string{"a"}, Options{MaxErrorRate: 0.5, MinRequests: 10})
	observeN(tr2, 0, 10, ok(time.Second), base)
	observeN(tr2, 0, 9, failed, base)
	observeN(tr2, 0, 1, failed, base)
	if s := tr2.Score(0, base); !s.Healthy || math.Abs(s.ErrorRate-0.5) > 1e-12 {
		t.Fatalf("error rate at the threshold: %+v", s)
	}
	tr2.Observe(0, failed, base)
	if s := tr2.Score(0, base.Add(time.Second)); s.Healthy {
		t.Fatalf("error rate above the threshold: %+v", s)
	}
	// The window moves on: five minutes later the failures are forgotten.
	if s := tr2.Score(0, base.Add(5*time.Minute)); !s.Healthy || s.Requests != 0 {
		t.Fatalf("five minutes later: %+v", s)
	}
}

func TestHealthyProbes(t *testing.T) {
	t.Parallel()
	tr := NewTracker([]string{"a", "b"}, Options{ProbeFailures: 3})
	for k := range 2 {
		tr.ObserveProbe(0, false, base)
		if !tr.Score(0, base).Healthy {
			t.Fatalf("unhealthy after %d failed probes", k+1)
		}
	}
	tr.ObserveProbe(0, false, base)
	if s := tr.Score(0, base); s.Healthy || s.ProbeFailures != 3 {
		t.Fatalf("after 3 failed probes: %+v", s)
	}
	if !tr.Score(1, base).Healthy {
		t.Fatal("other deployment affected")
	}
	tr.ObserveProbe(0, true, base)
	if s := tr.Score(0, base); !s.Healthy || s.ProbeFailures != 0 {
		t.Fatalf("after a successful probe: %+v", s)
	}
	for range 5 {
		tr.ObserveProbe(0, false, base)
	}
	tr.ClearProbes(0)
	if !tr.Score(0, base).Healthy {
		t.Fatal("unhealthy after ClearProbes")
	}
	// Probes count as availability observations, without latency.
	w := tr.Window(0, Span5m, base)
	if w.Requests != 9 || w.Errors != 8 || w.TTFBp50 != 0 || w.LatencyP50 != 0 {
		t.Fatalf("probe observations: %+v", w)
	}
	// Healthy reads the tracker's clock.
	tr.now = func() time.Time { return base }
	if !tr.Healthy(0) {
		t.Fatal("Healthy disagrees with Score")
	}
}

func TestLatencyAndThroughputPercentiles(t *testing.T) {
	t.Parallel()
	tr := New([]string{"a"}, nil)
	// Nine requests generate at 100 tokens/s in 2 s after a 100 ms TTFB, one at 1000 tokens/s.
	for range 9 {
		tr.Observe(0, Outcome{OK: true, TTFB: 100 * time.Millisecond, Latency: 2100 * time.Millisecond, CompletionTokens: 200}, base)
	}
	tr.Observe(0, Outcome{OK: true, TTFB: 100 * time.Millisecond, Latency: 300 * time.Millisecond, CompletionTokens: 200}, base)
	w := tr.Window(0, Span5m, base)
	if w.LatencyP50 < 1600*time.Millisecond || w.LatencyP50 > 2600*time.Millisecond {
		t.Errorf("latency p50 = %v, want about 2.1s", w.LatencyP50)
	}
	if w.TokensPerSecondP50 < 80 || w.TokensPerSecondP50 > 125 {
		t.Errorf("tokens/s p50 = %v, want about 100", w.TokensPerSecondP50)
	}
	// The aggregate rate weighs by generation time: 2000 tokens / 18.2 s.
	if want := 2000 / 18.2; math.Abs(w.TokensPerSecond-want) > 1e-9 {
		t.Errorf("tokens/s = %v, want %v", w.TokensPerSecond, want)
	}
	if s := tr.Score(0, base); s.TokensPerSecondP50 != w.TokensPerSecondP50 || s.TTFBp50 != w.TTFBp50 {
		t.Errorf("score %+v disagrees with window %+v", s, w)
	}
	// The rate scale covers 1 to ~49,000 tokens/s and saturates beyond.
	for _, r := range []float64{1, 7.5, 300, 20000} {
		got := durationToRate(histLower(histIndex(rateToDuration(r))))
		if got > r || got < r*0.75 {
			t.Errorf("rate %v lands in a bucket starting at %v", r, got)
		}
	}
	if histIndex(rateToDuration(1e30)) != histBuckets-1 || histIndex(rateToDuration(math.NaN())) != histBuckets-1 {
		t.Error("huge rates do not saturate")
	}
	if rateToDuration(-5) != 0 {
		t.Error("negative rate")
	}
}

func TestHealthMetrics(t *testing.T) {
	t.Parallel()
	set := metrics.NewSet()
	tr := NewTracker([]string{"a", "b"}, Options{Metrics: set, ProbeFailures: 2})
	tr.now = func() time.Time { return base }
	tr.ObserveProbe(0, false, base)
	tr.ObserveProbe(0, false, base)
	tr.ObserveProbe(1, false, base)
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	for _, want := range []string{
		`arouter_deployment_healthy{deployment="a"} 0` + "\n",
		`arouter_deployment_healthy{deployment="b"} 1` + "\n",
		`arouter_deployment_probe_failures{deployment="a"} 2` + "\n",
		`arouter_deployment_probe_failures{deployment="b"} 1` + "\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}
