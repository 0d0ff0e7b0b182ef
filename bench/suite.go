package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Options configure a session.
type Options struct {
	Plan Plan
	Root string    // module root
	Out  string    // where profiles go (results are written by the caller)
	Log  io.Writer // progress
	// Targets restricts the proxies measured (nil: all available). Direct is always measured:
	// every added latency is relative to it.
	Targets map[string]bool
	// SkipPipeline leaves out the in-process benchmark and profiles.
	SkipPipeline bool
	// Scenarios restricts the scenarios run (nil: all): small_closed, small_open, large_closed,
	// stream, hold.
	Scenarios map[string]bool
}

// session is one run of the suite.
type session struct {
	ctx     context.Context
	opt     Options
	plan    Plan
	lab     *Lab
	start   time.Time
	targets []*Target // direct first, then the proxies
	res     *Results
}

// Run builds everything, starts the targets, runs every scenario and returns the figures.
// Every process and temporary file is gone when it returns, also when ctx is cancelled.
func Run(ctx context.Context, opt Options) (*Results, error) {
	s := &session{ctx: ctx, opt: opt, plan: opt.Plan, start: time.Now()}
	s.res = &Results{Started: s.start, Plan: opt.Plan.Name, Machine: machine()}
	nofile, err := RaiseOpenFiles()
	if err != nil {
		return nil, fmt.Errorf("raise the open-file limit: %w", err)
	}
	s.res.Machine.OpenFiles = nofile
	if need := uint64(2*opt.Plan.HoldStreams + 1000); nofile < need {
		s.note("the open-file limit is %d; %d held streams need about %d in a proxy: expect failures", nofile, opt.Plan.HoldStreams, need)
	}

	lab, err := NewLab(opt.Root, opt.Log)
	if err != nil {
		return nil, err
	}
	s.lab = lab
	defer lab.Close()
	stop := context.AfterFunc(ctx, lab.Close) // Ctrl-C: stop the processes at once
	defer stop()

	s.progress("building arouter, the passthrough%s", map[bool]string{true: "", false: " and the bench test binary"}[opt.SkipPipeline])
	if err := lab.Build(ctx, !opt.SkipPipeline); err != nil {
		return nil, err
	}
	s.res.Skipped = lab.Skipped()
	for name, why := range s.res.Skipped {
		s.progress("skipping %s: %s", name, why)
	}
	if err := lab.StartMock(); err != nil {
		return nil, err
	}
	s.targets = []*Target{lab.Direct()}
	for _, name := range lab.Proxies() {
		if opt.Targets != nil && !opt.Targets[name] {
			continue
		}
		t, err := lab.StartTarget(name)
		if err != nil {
			return nil, err
		}
		s.targets = append(s.targets, t)
	}
	for _, t := range s.targets {
		s.res.Targets = append(s.res.Targets, t.Name)
	}
	s.progress("targets: %s", s.describeTargets())
	if err := s.preflight(); err != nil {
		return nil, err
	}

	var steps []func() error
	for _, st := range []struct {
		name string
		run  func() error
	}{{"small_closed", s.smallClosed}, {"small_open", s.smallOpen}, {"large_closed", s.largeClosed}, {"stream", s.streams}, {"hold", s.hold}} {
		if opt.Scenarios == nil || opt.Scenarios[st.name] {
			steps = append(steps, st.run)
		}
	}
	if !opt.SkipPipeline {
		steps = append(steps, s.pipeline)
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := step(); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
	}
	s.res.Seconds = time.Since(s.start).Seconds()
	s.res.Checks, s.res.Result = evaluate(s.res, s.plan)
	return s.res, nil
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func (s *session) progress(format string, args ...any) {
	fmt.Fprintf(s.opt.Log, "[%5.1fs] %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

func (s *session) note(format string, args ...any) {
	s.res.Notes = append(s.res.Notes, fmt.Sprintf(format, args...))
}

func (s *session) describeTargets() string {
	var parts []string
	for _, t := range s.targets {
		parts = append(parts, fmt.Sprintf("%s %s (pid %d)", t.Name, t.Addr, t.Proc.PID()))
	}
	return strings.Join(parts, ", ")
}

func (s *session) request(t *Target, body string) []byte {
	return BuildRequest(t.Addr, "/v1/chat/completions", s.lab.Token(), []byte(body))
}

// preflight checks that every target answers a completion and a stream before anything is
// timed, so that a target that answers fast with errors cannot pass for a fast one.
func (s *session) preflight() error {
	if err := s.lab.SetBehavior(map[string]any{"tokens": smallTokens}); err != nil {
		return err
	}
	for _, t := range s.targets {
		body, err := httpDo("POST", "http://"+t.Addr+"/v1/chat/completions", s.lab.Token(), []byte(smallBody))
		if err != nil {
			return fmt.Errorf("%s does not answer a completion: %w", t.Name, err)
		}
		if !bytes.Contains(body, []byte(`"chat.completion"`)) || !bytes.Contains(body, []byte(`"usage"`)) {
			return fmt.Errorf("%s answered something else than a completion: %.300s", t.Name, body)
		}
		if got := bytes.Contains(body, []byte(`"cost"`)); got != (t.Name == TargetARouter) {
			return fmt.Errorf("%s: cost in the answer = %v, want %v: is %s really the gateway/a passthrough?", t.Name, got, !got, t.Name)
		}
		body, err = httpDo("POST", "http://"+t.Addr+"/v1/chat/completions", s.lab.Token(), []byte(streamBody))
		if err != nil || !bytes.HasSuffix(bytes.TrimSpace(body), []byte("data: [DONE]")) {
			return fmt.Errorf("%s does not stream: %v %.300s", t.Name, err, body)
		}
	}
	s.progress("preflight: every target answers completions and streams")
	return nil
}

// rotate gives run r's target order: each run starts with a different target, so that no
// target always runs first (or last) on a machine whose speed drifts.
func rotate[T any](xs []T, r int) []T {
	if len(xs) == 0 {
		return nil
	}
	k := r % len(xs)
	return append(append([]T{}, xs[k:]...), xs[:k]...)
}

// measure runs f and returns the CPU the target's process used meanwhile.
func measure(t *Target, f func()) (CPUTime, error) {
	before, err := t.Proc.CPU()
	if err != nil {
		return CPUTime{}, err
	}
	f()
	after, err := t.Proc.CPU()
	if err != nil {
		return CPUTime{}, err
	}
	return after.Sub(before), nil
}

// warm sends a short closed-loop burst to every target (connections, pools, caches).
func (s *session) warm(body string, conc int) {
	for _, t := range s.targets {
		ClosedLoop{Addr: t.Addr, Request: s.request(t, body), Concurrency: conc, Duration: s.plan.Warmup}.Run(s.ctx)
	}
	for _, t := range s.targets {
		_ = t.Proc.ResetPeak()
	}
}

// runFigures is one run of one target.
type runFigures struct {
	rps                 float64
	lat, svc, late      Summary
	cpu, cpuUser, cpuSy float64 // µs per request
	sent, errors        int64
	err                 string
}

func perRequest(c CPUTime, n int64) (total, user, sys float64) {
	if n <= 0 {
		return 0, 0, 0
	}
	f := func(ns int64) float64 { return float64(ns) / 1e3 / float64(n) }
	return f(c.Total()), f(c.User), f(c.System)
}

// closed runs a closed-loop scenario.
func (s *session) closed(name, title, body string, tokens, conc, runs int, dur time.Duration) error {
	if err := s.lab.SetBehavior(map[string]any{"tokens": tokens}); err != nil {
		return err
	}
	sc := &Scenario{Name: name, Title: title, Kind: "closed", Runs: runs,
		Params: map[string]any{"concurrency": conc, "seconds": dur.Seconds(), "completion_tokens": tokens}}
	s.progress("%s: %d runs × %d targets, %d connections, %s each", title, runs, len(s.targets), conc, dur)
	s.warm(body, conc)
	figs := map[string][]runFigures{}
	for r := range runs {
		for _, t := range rotate(s.targets, r) {
			var res RunResult
			cpu, err := measure(t, func() {
				res = ClosedLoop{Addr: t.Addr, Request: s.request(t, body), Concurrency: conc, Duration: dur}.Run(s.ctx)
			})
			if err != nil {
				return err
			}
			f := runFigures{rps: res.Throughput(), lat: res.Latency.Summarize(), sent: res.Requests + res.Errors, errors: res.Errors, err: res.FirstErr}
			f.cpu, f.cpuUser, f.cpuSy = perRequest(cpu, res.Requests)
			figs[t.Name] = append(figs[t.Name], f)
			s.progress("  %s run %d/%d %-11s %8.0f req/s  p50 %7.0f µs  p99 %7.0f µs  cpu %5.1f µs/req  errors %d",
				name, r+1, runs, t.Name, f.rps, f.lat.P50, f.lat.P99, f.cpu, f.errors)
		}
	}
	s.finish(sc, figs)
	return nil
}

// finish turns the runs into rows (medians) and the added latencies.
func (s *session) finish(sc *Scenario, figs map[string][]runFigures) {
	for _, t := range s.targets {
		fs := figs[t.Name]
		if len(fs) == 0 {
			continue
		}
		pick := func(g func(runFigures) float64) float64 {
			xs := make([]float64, len(fs))
			for i, f := range fs {
				xs[i] = g(f)
			}
			return median(xs)
		}
		sums := func(g func(runFigures) Summary) *Summary {
			ss := make([]Summary, len(fs))
			for i, f := range fs {
				ss[i] = g(f)
			}
			m := medianSummary(ss)
			return &m
		}
		row := &Row{Target: t.Name,
			RPS:     pick(func(f runFigures) float64 { return f.rps }),
			Latency: sums(func(f runFigures) Summary { return f.lat }),
			CPU:     pick(func(f runFigures) float64 { return f.cpu }),
			CPUUser: pick(func(f runFigures) float64 { return f.cpuUser }),
			CPUSys:  pick(func(f runFigures) float64 { return f.cpuSy }),
		}
		if sc.Kind == "open" {
			row.Service = sums(func(f runFigures) Summary { return f.svc })
			row.Late = sums(func(f runFigures) Summary { return f.late })
		}
		for _, f := range fs {
			row.Sent += f.sent
			row.Errors += f.errors
			if row.Error == "" {
				row.Error = f.err
			}
			row.Rounds = append(row.Rounds, RoundFigures{RPS: f.rps, P50: f.lat.P50, P99: f.lat.P99, CPU: f.cpu})
		}
		if m, err := t.Proc.Memory(); err == nil {
			row.PeakKB = m.Peak
		}
		sc.Rows = append(sc.Rows, row)
	}
	addLatencyDeltas(sc)
	s.res.Scenarios = append(s.res.Scenarios, sc)
}

// addLatencyDeltas fills each row's latency added over the direct target.
func addLatencyDeltas(sc *Scenario) {
	direct := sc.Row(TargetDirect)
	if direct == nil {
		return
	}
	for _, r := range sc.Rows {
		switch {
		case r.Latency != nil && direct.Latency != nil:
			r.AddedP50 = r.Latency.P50 - direct.Latency.P50
			r.AddedP99 = r.Latency.P99 - direct.Latency.P99
		case r.TTFB != nil && direct.TTFB != nil:
			r.AddedP50 = r.TTFB.P50 - direct.TTFB.P50
			r.AddedP99 = r.TTFB.P99 - direct.TTFB.P99
		}
	}
}

func (s *session) smallClosed() error {
	p := s.plan
	return s.closed("small_closed", "Small completion (~1 KB), closed loop: maximum throughput", smallBody, smallTokens,
		p.SmallConcurrency, p.Runs, p.SmallDuration)
}

func (s *session) largeClosed() error {
	p := s.plan
	return s.closed("large_closed", "Large completion (~64 KB), closed loop", largeBody, largeTokens,
		p.LargeConcurrency, p.LargeRuns, p.LargeDuration)
}

// smallOpen sends small completions at a fixed rate: latency without coordinated omission, and
// CPU per request at the same load for every target.
func (s *session) smallOpen() error {
	p := s.plan
	if err := s.lab.SetBehavior(map[string]any{"tokens": smallTokens}); err != nil {
		return err
	}
	title := fmt.Sprintf("Small completion (~1 KB), open loop at %.0f requests/s", p.OpenRate)
	sc := &Scenario{Name: "small_open", Title: title, Kind: "open", Runs: p.Runs,
		Params: map[string]any{"rate": p.OpenRate, "seconds": p.OpenDuration.Seconds(), "connections": p.OpenConns, "completion_tokens": smallTokens}}
	s.progress("%s: %d runs × %d targets, %s each", title, p.Runs, len(s.targets), p.OpenDuration)
	s.warm(smallBody, 8)
	figs := map[string][]runFigures{}
	for r := range p.Runs {
		for _, t := range rotate(s.targets, r) {
			var res RunResult
			cpu, err := measure(t, func() {
				res = OpenLoop{Addr: t.Addr, Request: s.request(t, smallBody), Rate: p.OpenRate, Duration: p.OpenDuration, Conns: p.OpenConns}.Run(s.ctx)
			})
			if err != nil {
				return err
			}
			f := runFigures{rps: res.Throughput(), lat: res.Latency.Summarize(), svc: res.Service.Summarize(), late: res.Late.Summarize(),
				sent: res.Requests + res.Errors, errors: res.Errors, err: res.FirstErr}
			f.cpu, f.cpuUser, f.cpuSy = perRequest(cpu, res.Requests)
			figs[t.Name] = append(figs[t.Name], f)
			s.progress("  small_open run %d/%d %-11s %6.0f req/s  p50 %6.0f µs  p99 %7.0f µs  p99.9 %7.0f µs  cpu %5.1f µs/req  client late p99 %4.0f µs  errors %d",
				r+1, p.Runs, t.Name, f.rps, f.lat.P50, f.lat.P99, f.lat.P999, f.cpu, f.late.P99, f.errors)
		}
	}
	s.finish(sc, figs)
	return nil
}

// streams runs event streams back to back: time to first byte and the gaps between events.
func (s *session) streams() error {
	p := s.plan
	if err := s.lab.SetBehavior(map[string]any{"tokens": p.StreamEvents, "event_delay": p.StreamDelay.String()}); err != nil {
		return err
	}
	title := fmt.Sprintf("SSE streams: %d events %s apart", p.StreamEvents, p.StreamDelay)
	sc := &Scenario{Name: "stream", Title: title, Kind: "stream", Runs: p.StreamRuns,
		Params: map[string]any{"events": p.StreamEvents, "event_delay_ms": p.StreamDelay.Seconds() * 1e3,
			"concurrency": p.StreamConcurrency, "streams_per_run": p.StreamsPerRun}}
	s.progress("%s: %d runs × %d targets, %d streams on %d connections", title, p.StreamRuns, len(s.targets), p.StreamsPerRun, p.StreamConcurrency)
	type streamRun struct {
		res               StreamResult
		ttfb, first, gaps Summary
		cpu               float64
	}
	runs := map[string][]streamRun{}
	for _, t := range s.targets {
		StreamLoop{Addr: t.Addr, Request: s.request(t, streamBody), Concurrency: 2, Streams: 2}.Run(s.ctx) // warm-up
		_ = t.Proc.ResetPeak()
	}
	for r := range p.StreamRuns {
		for _, t := range rotate(s.targets, r) {
			var res StreamResult
			cpu, err := measure(t, func() {
				res = StreamLoop{Addr: t.Addr, Request: s.request(t, streamBody), Concurrency: p.StreamConcurrency, Streams: p.StreamsPerRun,
					Stagger: time.Duration(p.StreamEvents) * p.StreamDelay}.Run(s.ctx)
			})
			if err != nil {
				return err
			}
			sr := streamRun{res: res, ttfb: res.TTFB.Summarize(), first: res.FirstEvent.Summarize(), gaps: res.Gaps.Summarize()}
			sr.cpu, _, _ = perRequest(cpu, res.Streams)
			runs[t.Name] = append(runs[t.Name], sr)
			s.progress("  stream run %d/%d %-11s ttfb p50 %6.0f µs p99 %6.0f µs  gap p50 %6.0f µs p99 %6.0f µs  events %d..%d  errors %d",
				r+1, p.StreamRuns, t.Name, sr.ttfb.P50, sr.ttfb.P99, sr.gaps.P50, sr.gaps.P99, res.MinEvents, res.MaxEvents, res.Errors)
		}
	}
	for _, t := range s.targets {
		rs := runs[t.Name]
		if len(rs) == 0 {
			continue
		}
		med := func(g func(streamRun) Summary) *Summary {
			ss := make([]Summary, len(rs))
			for i, r := range rs {
				ss[i] = g(r)
			}
			m := medianSummary(ss)
			return &m
		}
		row := &Row{Target: t.Name, TTFB: med(func(r streamRun) Summary { return r.ttfb }),
			FirstEvent: med(func(r streamRun) Summary { return r.first }), Gaps: med(func(r streamRun) Summary { return r.gaps }),
			MinEvents: -1}
		var cpus []float64
		for _, r := range rs {
			cpus = append(cpus, r.cpu)
			row.Sent += r.res.Streams + r.res.Errors
			row.Errors += r.res.Errors
			if row.Error == "" {
				row.Error = r.res.FirstErr
			}
			if r.res.Streams > 0 && (row.MinEvents < 0 || r.res.MinEvents < row.MinEvents) {
				row.MinEvents = r.res.MinEvents
			}
			row.MaxEvents = max(row.MaxEvents, r.res.MaxEvents)
			row.Rounds = append(row.Rounds, RoundFigures{P50: r.ttfb.P50, P99: r.ttfb.P99, CPU: r.cpu})
		}
		row.MinEvents = max(row.MinEvents, 0)
		row.CPU = median(cpus)
		if m, err := t.Proc.Memory(); err == nil {
			row.PeakKB = m.Peak
		}
		sc.Rows = append(sc.Rows, row)
	}
	addLatencyDeltas(sc)
	s.res.Scenarios = append(s.res.Scenarios, sc)
	return nil
}

// hold opens many slow streams through each proxy, started fresh for every run, and measures
// the proxy's memory while they are all open.
func (s *session) hold() error {
	p := s.plan
	if err := s.lab.SetBehavior(map[string]any{"tokens": p.HoldEvents, "event_delay": p.HoldDelay.String()}); err != nil {
		return err
	}
	title := fmt.Sprintf("%d concurrent slow streams (an event every %s): proxy memory per open stream", p.HoldStreams, p.HoldDelay)
	sc := &Scenario{Name: "hold", Title: title, Kind: "hold", Runs: p.HoldRuns,
		Params: map[string]any{"streams": p.HoldStreams, "event_delay_ms": p.HoldDelay.Seconds() * 1e3}}
	var proxies []*Target
	for _, t := range s.targets {
		if t.Name != TargetDirect {
			proxies = append(proxies, t)
		}
	}
	s.progress("%s: %d runs × %d proxies, each started fresh", title, p.HoldRuns, len(proxies))
	runs := map[string][]HoldFigures{}
	for r := range p.HoldRuns {
		for _, old := range rotate(proxies, r) {
			hf, err := s.holdOnce(old)
			if err != nil {
				return err
			}
			runs[old.Name] = append(runs[old.Name], hf)
			s.progress("  hold run %d/%d %-11s %d/%d open in %.1fs  baseline %d MB  open %d MB  → %.1f KB/stream (peak %.1f)  failed %d %s",
				r+1, p.HoldRuns, old.Name, hf.Opened, hf.Streams, hf.OpenSeconds, hf.BaselineKB>>10, hf.OpenKB>>10,
				hf.KBPerStream, hf.PeakKBPerStream, hf.Failed, hf.FirstErr)
		}
	}
	for _, t := range proxies {
		hs := runs[t.Name]
		if len(hs) == 0 {
			continue
		}
		var kb, peak, base, open, secs []float64
		agg := HoldFigures{HoldResult: HoldResult{Streams: p.HoldStreams}}
		for _, h := range hs {
			kb = append(kb, h.KBPerStream)
			peak = append(peak, h.PeakKBPerStream)
			base = append(base, float64(h.BaselineKB))
			open = append(open, float64(h.OpenKB))
			secs = append(secs, h.OpenSeconds)
			agg.Failed += h.Failed
			agg.Opened = max(agg.Opened, h.Opened)
			if agg.FirstErr == "" {
				agg.FirstErr = h.FirstErr
			}
			agg.PeakKB = max(agg.PeakKB, h.PeakKB)
		}
		agg.KBPerStream, agg.PeakKBPerStream = median(kb), median(peak)
		agg.BaselineKB, agg.OpenKB = int64(median(base)), int64(median(open))
		agg.OpenSeconds = median(secs)
		row := &Row{Target: t.Name, Hold: &agg, PeakKB: agg.PeakKB, Errors: agg.Failed, Error: agg.FirstErr,
			Sent: int64(p.HoldStreams * len(hs))}
		for _, k := range kb {
			row.Rounds = append(row.Rounds, RoundFigures{KB: k})
		}
		sc.Rows = append(sc.Rows, row)
	}
	s.res.Scenarios = append(s.res.Scenarios, sc)
	return nil
}

// holdOnce replaces the target's process with a fresh one, warms it up with plain requests,
// holds the streams open and measures. Afterwards it stops that process, waits until the mock
// has let go of every stream (it notices a gone client at its next event) and leaves a fresh
// process in place for whatever runs next.
func (s *session) holdOnce(old *Target) (HoldFigures, error) {
	p := s.plan
	s.lab.StopTarget(old)
	t, err := s.lab.StartTarget(old.Name)
	if err != nil {
		return HoldFigures{}, err
	}
	*old = *t
	ClosedLoop{Addr: t.Addr, Request: s.request(t, smallBody), Concurrency: 4, MaxRequests: 200, Duration: 5 * time.Second}.Run(s.ctx)
	time.Sleep(200 * time.Millisecond)
	base, err := t.Proc.Memory()
	if err != nil {
		return HoldFigures{}, err
	}
	_ = t.Proc.ResetPeak()
	begin := time.Now()
	h := StartHold(s.ctx, t.Addr, s.request(t, streamBody), p.HoldStreams, 256)
	// Every stream must open well within the streams' lifetime.
	h.WaitOpen(time.Duration(p.HoldEvents) * p.HoldDelay / 2)
	hf := HoldFigures{BaselineKB: base.RSS, OpenSeconds: time.Since(begin).Seconds()}
	for range 5 { // RSS while everything is open: the highest of a few samples
		if m, err := t.Proc.Memory(); err == nil {
			hf.OpenKB = max(hf.OpenKB, m.RSS)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m, err := t.Proc.Memory(); err == nil {
		hf.PeakKB = m.Peak
	}
	died := t.Proc.Exited()
	hf.HoldResult = h.Close(10 * time.Second)
	if hf.Opened > 0 {
		hf.KBPerStream = float64(hf.OpenKB-hf.BaselineKB) / float64(hf.Opened)
		hf.PeakKBPerStream = float64(hf.PeakKB-hf.BaselineKB) / float64(hf.Opened)
	}
	if s.ctx.Err() != nil {
		return hf, s.ctx.Err()
	}
	if died {
		return hf, t.Proc.failure("died holding streams")
	}
	s.lab.StopTarget(t)
	if err := s.lab.WaitMockIdle(2*p.HoldDelay + 10*time.Second); err != nil {
		return hf, err
	}
	fresh, err := s.lab.StartTarget(old.Name)
	if err != nil {
		return hf, err
	}
	*old = *fresh
	return hf, nil
}

var errNoBench = errors.New("no benchmark lines in the output")
