package health

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// wait is one wait a probing goroutine asked the fake clock for; the test fires it.
type wait struct {
	d    time.Duration
	fire chan time.Time
}

// fakeClock makes p's waits visible on the returned channel instead of timing them.
func fakeClock(p *Prober) chan wait {
	waits := make(chan wait)
	p.after = func(d time.Duration) <-chan time.Time {
		w := wait{d, make(chan time.Time, 1)}
		select {
		case waits <- w:
		case <-p.ctx.Done(): // stopping: nobody will fire it
		}
		return w.fire
	}
	return waits
}

// recv receives from c, failing the test instead of hanging if nothing comes.
func recv[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// drive fires every wait the probing goroutines ask for until a probe result arrives, and
// returns it. Which goroutine waits next is up to the scheduler, so tests with several
// providers cannot fire them in a fixed order.
func drive(t *testing.T, waits chan wait, res chan bool) bool {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case w := <-waits:
			w.fire <- time.Time{}
		case ok := <-res:
			return ok
		case <-timeout:
			t.Fatal("timed out waiting for a probe result")
		}
	}
}

// results installs a result hook on p and returns its channel.
func results(p *Prober) chan bool {
	c := make(chan bool, 16)
	p.onResult = func(_ string, ok bool) { c <- ok }
	return c
}

func TestProberFeedsEveryDeploymentOfTheProvider(t *testing.T) {
	t.Parallel()
	set := metrics.NewSet()
	tr := NewTracker([]string{"m1@p", "m2@q", "m3@p"}, Options{ProbeFailures: 2})
	var calls atomic.Int32
	outcomes := []error{errors.New("503"), errors.New("503"), nil}
	p, err := NewProber(tr, []ProbeTarget{{Provider: "p", Deployments: []int{0, 2}, Probe: func(ctx context.Context) error {
		return outcomes[calls.Add(1)-1]
	}}}, ProberOptions{Interval: time.Minute, Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return base }
	waits, res := fakeClock(p), results(p)
	p.Start()
	defer p.Stop()

	for k, want := range []bool{false, false, true} {
		recv(t, waits, "a wait").fire <- time.Time{}
		if got := recv(t, res, "a probe result"); got != want {
			t.Fatalf("probe %d ok = %v, want %v", k, got, want)
		}
		if k == 1 {
			for _, i := range []int{0, 2} {
				if s := tr.Score(i, base); s.Healthy || s.ProbeFailures != 2 {
					t.Fatalf("deployment %d after two failed probes: %+v", i, s)
				}
			}
			if !tr.Score(1, base).Healthy {
				t.Fatal("another provider's deployment became unhealthy")
			}
		}
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d probes, want 3", n)
	}
	if s := tr.Score(0, base); !s.Healthy || s.ProbeFailures != 0 {
		t.Fatalf("after a successful probe: %+v", s)
	}
	if w := tr.Window(2, Span5m, base); w.Requests != 3 || w.Errors != 2 {
		t.Fatalf("availability of deployment 2: %+v", w)
	}
	if w := tr.Window(1, Span5m, base); w.Requests != 0 {
		t.Fatalf("deployment 1 observed: %+v", w)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	for _, want := range []string{`arouter_probes_total{provider="p",result="ok"} 1`, `arouter_probes_total{provider="p",result="failed"} 2`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}

func TestProberJitter(t *testing.T) {
	t.Parallel()
	const interval = 10 * time.Second
	tr := New([]string{"a"}, nil)
	p, err := NewProber(tr, []ProbeTarget{{Provider: "p", Deployments: []int{0}, Probe: func(context.Context) error { return nil }}},
		ProberOptions{Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	waits, res := fakeClock(p), results(p)
	p.Start()
	defer p.Stop()
	first := recv(t, waits, "the first wait")
	if first.d < 0 || first.d >= interval/5 {
		t.Fatalf("first wait %v, want within the first fifth of the interval", first.d)
	}
	first.fire <- time.Time{}
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for range 300 {
		recv(t, res, "a result")
		w := recv(t, waits, "a wait")
		if w.d < interval*8/10 || w.d >= interval*12/10 {
			t.Fatalf("wait %v outside [0.8, 1.2) × %v", w.d, interval)
		}
		lo, hi = min(lo, w.d), max(hi, w.d)
		w.fire <- time.Time{}
	}
	if hi-lo < interval/4 {
		t.Fatalf("waits spread over [%v, %v] only: not jittered", lo, hi)
	}
	// The bounds themselves, with the source pinned, on a prober that is not running.
	idle, _ := NewProber(tr, nil, ProberOptions{Interval: interval})
	for r, want := range map[float64]time.Duration{0: 8 * time.Second, 0.5: 10 * time.Second} {
		idle.rand = func() float64 { return r }
		if got := idle.jittered(); got != want {
			t.Errorf("jitter at %v = %v, want %v", r, got, want)
		}
	}
}

func TestProberTimeout(t *testing.T) {
	t.Parallel()
	tr := NewTracker([]string{"a"}, Options{ProbeFailures: 1})
	deadlines := make(chan time.Duration, 2)
	ignoresCtx := atomic.Bool{}
	p, err := NewProber(tr, []ProbeTarget{{Provider: "p", Deployments: []int{0}, Probe: func(ctx context.Context) error {
		dl, _ := ctx.Deadline()
		deadlines <- time.Until(dl)
		<-ctx.Done()
		if ignoresCtx.Load() {
			return nil // answers, but too late
		}
		return ctx.Err()
	}}}, ProberOptions{Interval: time.Hour, Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	waits, res := fakeClock(p), results(p)
	p.Start()
	defer p.Stop()
	for _, late := range []bool{false, true} {
		ignoresCtx.Store(late)
		recv(t, waits, "a wait").fire <- time.Time{}
		if d := recv(t, deadlines, "a probe"); d <= 0 || d > 20*time.Millisecond {
			t.Fatalf("probe deadline %v away, want within the 20ms timeout", d)
		}
		if recv(t, res, "a result") {
			t.Fatalf("a probe that overran its timeout (answer late: %v) succeeded", late)
		}
	}
	if tr.Healthy(0) {
		t.Fatal("timed-out probes left the deployment healthy")
	}
}

func TestProberStop(t *testing.T) {
	t.Parallel()
	tr := New([]string{"a"}, nil)
	started := make(chan struct{})
	var ended atomic.Bool
	p, err := NewProber(tr, []ProbeTarget{{Provider: "p", Deployments: []int{0}, Probe: func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		ended.Store(true)
		return ctx.Err()
	}}}, ProberOptions{Interval: time.Hour, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	waits, res := fakeClock(p), results(p)
	p.Start()
	p.Start() // no second set of goroutines
	recv(t, waits, "a wait").fire <- time.Time{}
	recv(t, started, "the probe")
	p.Stop() // cancels the hour-long probe and waits for its goroutine
	if !ended.Load() {
		t.Fatal("Stop returned before the probe ended")
	}
	select {
	case <-res:
		t.Fatal("a probe cut short by Stop was recorded")
	default:
	}
	if w := tr.Window(0, Span5m, time.Now()); w.Requests != 0 {
		t.Fatalf("observed %+v", w)
	}
	p.Stop()

	// Stop while waiting, Stop without Start, Start after Stop.
	idle, _ := NewProber(tr, []ProbeTarget{{Provider: "p", Deployments: []int{0}, Probe: func(context.Context) error {
		t.Error("probe ran")
		return nil
	}}}, ProberOptions{Interval: time.Hour})
	idleWaits := fakeClock(idle)
	idle.Start()
	recv(t, idleWaits, "a wait")
	idle.Stop()
	never, _ := NewProber(tr, nil, ProberOptions{})
	never.Stop()
	never.Start()
	never.Stop()
}

func TestProberEnable(t *testing.T) {
	t.Parallel()
	tr := NewTracker([]string{"a", "b"}, Options{ProbeFailures: 1})
	var pCalls, qCalls atomic.Int32
	p, err := NewProber(tr, []ProbeTarget{
		{Provider: "p", Deployments: []int{0}, Probe: func(context.Context) error { pCalls.Add(1); return errors.New("down") }},
		{Provider: "q", Deployments: []int{1}, Probe: func(context.Context) error { qCalls.Add(1); return nil }, Disabled: true},
	}, ProberOptions{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	waits, res := fakeClock(p), results(p)
	p.Start()
	defer p.Stop()
	if !p.Enabled("p") || p.Enabled("q") || p.Enabled("zz") {
		t.Fatal("Enabled disagrees with the configuration")
	}
	// Only p probes, and fails.
	if drive(t, waits, res) {
		t.Fatal("p's probe succeeded")
	}
	if qCalls.Load() != 0 {
		t.Fatal("disabled provider probed")
	}
	if tr.Healthy(0) {
		t.Fatal("failing probes left p healthy")
	}
	if !p.SetEnabled("p", false) || p.SetEnabled("zz", true) {
		t.Fatal("SetEnabled on known/unknown providers")
	}
	if !tr.Healthy(0) {
		t.Fatal("disabling probes kept their failure streak")
	}
	n := pCalls.Load()
	p.SetEnabled("q", true)
	// Now only q's results arrive (q's probe succeeds, p's fails). drive may have fired p's
	// next wait before returning its first result, so one more probe of p may have been
	// recorded before p was disabled, and its result still be queued; SetEnabled cleared what
	// it recorded, and the Healthy check below shows nothing of p's was recorded after.
	for succeeded, stray := 0, 0; succeeded < 3; {
		if drive(t, waits, res) {
			succeeded++
		} else if stray++; stray > 1 {
			t.Fatal("a probe of p was recorded after it was disabled")
		}
	}
	if pCalls.Load() > n+1 {
		t.Fatalf("disabled provider probed %d more times", pCalls.Load()-n)
	}
	if !tr.Healthy(0) {
		t.Fatal("a probe of p recorded after it was disabled")
	}
}

func TestNewProberRefusesBadTargets(t *testing.T) {
	t.Parallel()
	tr := New([]string{"a"}, nil)
	probe := func(context.Context) error { return nil }
	for name, c := range map[string]struct {
		targets []ProbeTarget
		opts    ProberOptions
	}{
		"no probe":       {[]ProbeTarget{{Provider: "p"}}, ProberOptions{}},
		"twice":          {[]ProbeTarget{{Provider: "p", Probe: probe}, {Provider: "p", Probe: probe}}, ProberOptions{}},
		"bad index":      {[]ProbeTarget{{Provider: "p", Probe: probe, Deployments: []int{1}}}, ProberOptions{}},
		"negative index": {[]ProbeTarget{{Provider: "p", Probe: probe, Deployments: []int{-1}}}, ProberOptions{}},
		"negative":       {nil, ProberOptions{Interval: -time.Second}},
	} {
		if _, err := NewProber(tr, c.targets, c.opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
