package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
)

// The targets, against the bare passthrough in the same run.
const (
	wantThroughput   = 0.90  // × the passthrough's maximum throughput, at least
	wantP50Added     = 30.0  // µs over the passthrough's p50 at the fixed rate, at most
	wantP99Added     = 150.0 // µs over its p99
	wantCPU          = 1.15  // × its CPU per request at the fixed rate, at most
	wantAllocsOver   = 2.0   // allocations per request over it, in process
	wantTTFBAdded    = 50.0  // µs of stream time to first byte over it
	wantStreamKB     = 40.0  // KB of proxy memory per open stream
	wantGapTolerance = 1000  // µs: event gaps equal the upstream's within this (no buffering)
)

func (r *Results) scenario(name string) *Scenario {
	for _, s := range r.Scenarios {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// evaluate derives the RESULT figures and the checks against the targets from what was
// measured; a figure that was not measured is left out of both.
func evaluate(r *Results, p Plan) ([]Check, []ResultFigure) {
	var checks []Check
	var figs []ResultFigure
	add := func(key string, v float64) { figs = append(figs, ResultFigure{Key: key, Value: v}) }
	check := func(name, target string, v float64, unit string, met bool, rounds []float64) {
		checks = append(checks, Check{Name: name, Target: target, Value: v, Unit: unit, Met: met, Rounds: rounds})
	}
	pair := func(sc string) (ar, bare *Row) {
		s := r.scenario(sc)
		return s.Row(TargetARouter), s.Row(TargetPassthrough)
	}
	if ar, bare := pair("small_closed"); ar != nil && bare != nil && bare.RPS > 0 {
		v := ar.RPS / bare.RPS
		add("throughput_vs_bare", v)
		check("maximum throughput (small, closed loop)", fmt.Sprintf("≥ %.2f× bare", wantThroughput), v, "×", v >= wantThroughput,
			byRound(ar, bare, func(a, b RoundFigures) float64 { return a.RPS / b.RPS }))
	}
	if ar, bare := pair("small_open"); ar != nil && bare != nil && ar.Latency != nil && bare.Latency != nil {
		d50, d99 := ar.Latency.P50-bare.Latency.P50, ar.Latency.P99-bare.Latency.P99
		add("p50_added_vs_bare_us", d50)
		add("p99_added_vs_bare_us", d99)
		rate := r.scenario("small_open").Params["rate"]
		check(fmt.Sprintf("added p50 latency at %v requests/s", rate), fmt.Sprintf("≤ %.0f µs", wantP50Added), d50, "µs", d50 <= wantP50Added,
			byRound(ar, bare, func(a, b RoundFigures) float64 { return a.P50 - b.P50 }))
		check(fmt.Sprintf("added p99 latency at %v requests/s", rate), fmt.Sprintf("≤ %.0f µs", wantP99Added), d99, "µs", d99 <= wantP99Added,
			byRound(ar, bare, func(a, b RoundFigures) float64 { return a.P99 - b.P99 }))
		if bare.CPU > 0 {
			v := ar.CPU / bare.CPU
			add("cpu_vs_bare", v)
			check(fmt.Sprintf("CPU per request at %v requests/s", rate), fmt.Sprintf("≤ %.2f× bare", wantCPU), v, "×", v <= wantCPU,
				byRound(ar, bare, func(a, b RoundFigures) float64 { return a.CPU / b.CPU }))
		}
	}
	if pl := r.Pipeline; pl != nil {
		v := pl.Router.AllocsPerOp - pl.Bare.AllocsPerOp
		add("pipeline_allocs_over_bare", v)
		check("allocations per request, in-process pipeline", fmt.Sprintf("≤ %.0f over bare", wantAllocsOver), v, "allocs", v <= wantAllocsOver, nil)
	}
	if ar, bare := pair("stream"); ar != nil && bare != nil && ar.TTFB != nil && bare.TTFB != nil {
		v := ar.TTFB.P50 - bare.TTFB.P50
		add("stream_ttfb_vs_bare_us", v)
		check("stream time to first byte (p50)", fmt.Sprintf("≤ %.0f µs over bare", wantTTFBAdded), v, "µs", v <= wantTTFBAdded,
			byRound(ar, bare, func(a, b RoundFigures) float64 { return a.P50 - b.P50 }))
		if up := r.scenario("stream").Row(TargetDirect); up != nil && up.Gaps != nil && ar.Gaps != nil {
			g50, g99 := ar.Gaps.P50-up.Gaps.P50, ar.Gaps.P99-up.Gaps.P99
			add("stream_gap_p99_vs_upstream_us", g99)
			// Buffering shows as events in bursts: the median gap shrinks and the p99 grows.
			// A p99 below the upstream's is noise in the direct run, not buffering.
			same := math.Abs(g50) <= wantGapTolerance && g99 <= wantGapTolerance && ar.MinEvents == up.MinEvents && ar.MaxEvents == up.MaxEvents
			check("no buffering: event gaps (p50, p99) and events per stream as upstream's",
				fmt.Sprintf("within %d µs, same count", wantGapTolerance), g99, "µs (p99)", same, nil)
		}
	}
	if s := r.scenario("hold"); s != nil {
		if ar := s.Row(TargetARouter); ar != nil && ar.Hold != nil {
			full := ar.Hold.Streams >= p.HoldFull
			if full {
				add("stream_kb", ar.Hold.KBPerStream)
				add("stream_failures", float64(ar.Hold.Failed))
			}
			check(fmt.Sprintf("memory per open stream at %d streams", ar.Hold.Streams),
				fmt.Sprintf("≤ %.0f KB, no failures", wantStreamKB), ar.Hold.KBPerStream, "KB",
				ar.Hold.KBPerStream <= wantStreamKB && ar.Hold.Failed == 0, nil)
		}
	}
	var errs int64
	found := false
	for _, s := range r.Scenarios {
		if row := s.Row(TargetARouter); row != nil && s.Kind != "hold" {
			errs += row.Errors
			found = true
		}
	}
	if found {
		add("errors", float64(errs))
	}
	return checks, figs
}

// byRound computes a check's figure from each round's runs alone, or returns nil when the two
// targets do not have the same two or more rounds, or a round has no finite figure (a ratio
// to a run that measured zero), which results.json could not hold either.
func byRound(ar, bare *Row, figure func(ar, bare RoundFigures) float64) []float64 {
	if len(ar.Rounds) < 2 || len(ar.Rounds) != len(bare.Rounds) {
		return nil
	}
	out := make([]float64, len(ar.Rounds))
	for i := range out {
		out[i] = figure(ar.Rounds[i], bare.Rounds[i])
		if math.IsNaN(out[i]) || math.IsInf(out[i], 0) {
			return nil
		}
	}
	return out
}

// ResultLine is the machine-readable last line of a session.
func (r *Results) ResultLine() string {
	var b strings.Builder
	b.WriteString("RESULT")
	for _, f := range r.Result {
		b.WriteString(" " + f.Key + "=" + formatFigure(f.Key, f.Value))
	}
	return b.String()
}

func formatFigure(key string, v float64) string {
	switch {
	case strings.HasSuffix(key, "_vs_bare") || key == "stream_kb":
		return trimFloat(fmt.Sprintf("%.2f", v))
	default:
		return fmt.Sprintf("%.0f", math.Round(v))
	}
}

func trimFloat(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// WriteJSON writes the results to path.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// fmtUS formats microseconds for a table.
func fmtUS(v float64) string {
	switch a := math.Abs(v); {
	case a >= 10000:
		return fmt.Sprintf("%.2f ms", v/1000)
	case a >= 100:
		return fmt.Sprintf("%.0f µs", v)
	default:
		return fmt.Sprintf("%.1f µs", v)
	}
}

func fmtSigned(v float64) string {
	s := fmtUS(v)
	if v >= 0 {
		s = "+" + s
	}
	return s
}

func fmtMB(kb int64) string {
	if kb == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f MB", float64(kb)/1024)
}

func fmtCount(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	n := len(s)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (n-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Markdown renders the tables: the targets, every scenario, the pipeline and the profiles.
func (r *Results) Markdown() string {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Where ARouter stands (%s run, %s, %d CPUs, %s)\n\n", r.Plan, r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Machine.CPUs, r.Machine.GoVersion)
	w("Against the bare fasthttp passthrough, measured in the same session; each figure is the median of the runs. " +
		"A round runs every target once, back to back; the same figure from each round alone shows how far the machine moved it during the session.\n\n")
	w("| figure | target | measured | by round | met |\n|---|---|---|---|---|\n")
	for _, c := range r.Checks {
		format := func(v float64) string {
			if c.Unit == "×" {
				return trimFloat(fmt.Sprintf("%.2f", v))
			}
			return fmt.Sprintf("%.1f", v)
		}
		spread := "–"
		if len(c.Rounds) > 0 {
			spread = fmt.Sprintf("%s to %s", format(slices.Min(c.Rounds)), format(slices.Max(c.Rounds)))
		}
		w("| %s | %s | %s %s | %s | %s |\n", c.Name, c.Target, format(c.Value), c.Unit, spread, map[bool]string{true: "yes", false: "**no**"}[c.Met])
	}
	w("\n")
	for _, s := range r.Scenarios {
		w("### %s\n\n", s.Title)
		w("%s\n\n", describeParams(s))
		switch s.Kind {
		case "closed":
			w("| target | req/s | p50 | p90 | p99 | p99.9 | added p50 vs direct | CPU µs/req (user+sys) | peak RSS | errors |\n|---|---|---|---|---|---|---|---|---|---|\n")
			for _, row := range s.Rows {
				l := row.Latency
				w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", row.Target, fmtCount(row.RPS), fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.P999),
					fmtSigned(row.AddedP50), fmtCPU(row), fmtMB(row.PeakKB), row.Errors)
			}
		case "open":
			w("| target | achieved req/s | p50 | p90 | p99 | p99.9 | added p50 / p99 vs direct | service p50 / p99 | CPU µs/req (user+sys) | peak RSS | errors |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
			for _, row := range s.Rows {
				l := row.Latency
				w("| %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s | %s | %d |\n", row.Target, fmtCount(row.RPS), fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.P999),
					fmtSigned(row.AddedP50), fmtSigned(row.AddedP99), fmtUS(row.Service.P50), fmtUS(row.Service.P99), fmtCPU(row), fmtMB(row.PeakKB), row.Errors)
			}
			if len(s.Rows) > 0 && s.Rows[0].Late != nil {
				w("\nLatency is measured from each request's scheduled send time (no coordinated omission); service time from the actual send. The client itself sent requests late by p50 %s / p99 %s (%s run).\n",
					fmtUS(s.Rows[0].Late.P50), fmtUS(s.Rows[0].Late.P99), s.Rows[0].Target)
			}
		case "stream":
			w("| target | TTFB p50 | TTFB p99 | added TTFB p50 vs direct | first event p50 | gap p50 | gap p99 | gap p99.9 | data events/stream | CPU µs/stream | errors |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
			for _, row := range s.Rows {
				w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", row.Target, fmtUS(row.TTFB.P50), fmtUS(row.TTFB.P99), fmtSigned(row.AddedP50),
					fmtUS(row.FirstEvent.P50), fmtUS(row.Gaps.P50), fmtUS(row.Gaps.P99), fmtUS(row.Gaps.P999), eventsRange(row), fmtUS(row.CPU), row.Errors)
			}
		case "hold":
			w("| target | open / streams | failed | time to open all | RSS before | RSS with all open | KB per open stream | peak KB per stream |\n|---|---|---|---|---|---|---|---|\n")
			for _, row := range s.Rows {
				h := row.Hold
				w("| %s | %d / %d | %d | %.1f s | %s | %s | %.1f | %.1f |\n", row.Target, h.Opened, h.Streams, h.Failed, h.OpenSeconds,
					fmtMB(h.BaselineKB), fmtMB(h.OpenKB), h.KBPerStream, h.PeakKBPerStream)
			}
		}
		for _, row := range s.Rows {
			if row.Error != "" {
				w("\n%s's first error: `%s`\n", row.Target, strings.ReplaceAll(row.Error, "`", "'"))
			}
		}
		w("\n")
	}
	if pl := r.Pipeline; pl != nil {
		w("### In-process pipeline (`BenchmarkPipeline`, median of %d)\n\n", pl.Runs)
		w("Client, proxy and mock in one process, one request at a time; allocations are the whole process's, so the difference is the gateway's.\n\n")
		w("| proxy | ns/op | B/op | allocs/op |\n|---|---|---|---|\n")
		w("| passthrough | %s | %s | %.0f |\n", fmtCount(pl.Bare.NsPerOp), fmtCount(pl.Bare.BytesPerOp), pl.Bare.AllocsPerOp)
		w("| arouter | %s | %s | %.0f |\n\n", fmtCount(pl.Router.NsPerOp), fmtCount(pl.Router.BytesPerOp), pl.Router.AllocsPerOp)
	}
	if len(r.Skipped) > 0 {
		for name, why := range r.Skipped {
			w("Not measured: %s — %s.\n", name, why)
		}
		w("\n")
	}
	for _, n := range r.Notes {
		w("Note: %s\n\n", n)
	}
	return b.String()
}

// ProfileMarkdown renders the profile summaries.
func (r *Results) ProfileMarkdown() string {
	p := r.Profiles
	if p == nil {
		return ""
	}
	var b bytes.Buffer
	block := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s\n\n```\n%s\n```\n\n", title, strings.Join(lines, "\n"))
	}
	b.WriteString("### Profiles of the in-process pipeline\n\n")
	b.WriteString("Files in `bench/profiles/` (open with `go tool pprof -http=: bench/profiles/pipeline-cpu.pprof`; " +
		"`-tagfocus=target=arouter` keeps the gateway's goroutines).\n\n")
	if len(p.Breakdown) > 0 {
		b.WriteString("Where the CPU goes (BenchmarkPipelineParallel, µs per request; parts include what they call, so they overlap; " +
			"garbage collection is not attributed to either proxy):\n\n| part | ARouter | share of ARouter | passthrough |\n|---|---|---|---|\n")
		for _, r := range p.Breakdown {
			cell := func(v float64, format string) string {
				if v <= 0 {
					return "–"
				}
				return fmt.Sprintf(format, v)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", strings.ReplaceAll(r.Part, "  ", "&nbsp;&nbsp;"),
				cell(r.ARouterUS, "%.2f"), cell(r.ARouterShare, "%.0f%%"), cell(r.BareUS, "%.2f"))
		}
		b.WriteString("\n")
	}
	block("ARouter's goroutines, CPU, flat:", p.CPUTop)
	block("ARouter's goroutines, CPU, cumulative:", p.CPUCumTop)
	block("Passthrough's goroutines, CPU, flat:", p.BareCPUTop)
	block("Allocations (objects), whole process, ARouter run:", p.AllocTop)
	block("Allocations (objects), whole process, passthrough run:", p.BareAllocTop)
	return b.String()
}

func fmtCPU(row *Row) string {
	if row.CPU == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f (%.1f+%.1f)", row.CPU, row.CPUUser, row.CPUSys)
}

func eventsRange(row *Row) string {
	if row.MinEvents == row.MaxEvents {
		return fmt.Sprint(row.MinEvents)
	}
	return fmt.Sprintf("%d–%d", row.MinEvents, row.MaxEvents)
}

func describeParams(s *Scenario) string {
	p := s.Params
	switch s.Kind {
	case "closed":
		return fmt.Sprintf("%v connections sending back to back for %vs, %d runs per target, interleaved; the mock answers %v tokens.",
			p["concurrency"], p["seconds"], s.Runs, p["completion_tokens"])
	case "open":
		return fmt.Sprintf("%v requests/s for %vs over %v keep-alive connections, %d runs per target, interleaved.",
			p["rate"], p["seconds"], p["connections"], s.Runs)
	case "stream":
		return fmt.Sprintf("%v streams per run on %v connections, %d runs per target; the upstream sends %v content events %vms apart. TTFB is the first byte of the answer; gaps are between consecutive data events.",
			p["streams_per_run"], p["concurrency"], s.Runs, p["events"], p["event_delay_ms"])
	case "hold":
		return fmt.Sprintf("%v streams opened at once through each proxy (started fresh for each of %d runs); memory per stream is (RSS with all open − RSS before) / open streams.",
			p["streams"], s.Runs)
	}
	return ""
}

// keptMarker separates the generated part of RESULTS.md from what the suite keeps.
const keptMarker = "<!-- Everything above this line is written by the benchmark suite (make bench); everything below is kept. -->"

// keptHeading is where the hand-written part starts in a RESULTS.md that has no marker yet.
const keptHeading = "## Availability during a provider outage"

// WriteResultsMD writes RESULTS.md: the generated tables, charts and profiles, then whatever the
// existing file had below the marker (or from the outage section on).
func (r *Results) WriteResultsMD(path string, charts []string) error {
	var kept string
	if old, err := os.ReadFile(path); err == nil {
		kept = keptPart(string(old))
	}
	var b strings.Builder
	b.WriteString("# Benchmark results\n\n")
	b.WriteString("Written by `make bench` (full) or `make bench-quick`: the suite in `bench/` starts the mock provider, the bare fasthttp passthrough (`bench/cmd/passthrough`), ARouter (auth, limits, routing, usage parsing and accounting all on) and nginx when installed as separate processes on loopback, and sends them the same load interleaved. CPU and memory are each process's own, from /proc. Raw figures: `bench/results.json`.\n\n")
	b.WriteString(r.Markdown())
	if len(charts) > 0 {
		b.WriteString("### Charts\n\n")
		for _, c := range charts {
			fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(c, ".png"), c)
		}
	}
	b.WriteString(r.ProfileMarkdown())
	b.WriteString("```\n" + r.ResultLine() + "\n```\n\n")
	b.WriteString(keptMarker + "\n\n")
	b.WriteString(strings.TrimLeft(kept, "\n"))
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// keptPart is the hand-written part of an existing RESULTS.md.
func keptPart(old string) string {
	if i := strings.Index(old, keptMarker); i >= 0 {
		return old[i+len(keptMarker):]
	}
	if i := strings.Index(old, keptHeading); i >= 0 {
		return old[i:]
	}
	return ""
}
