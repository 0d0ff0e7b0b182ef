package bench

import (
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleResults is a session as the suite would record it.
func sampleResults() *Results {
	lat := func(p50, p99 float64) *Summary {
		return &Summary{Count: 100, P50: p50, P90: p50 * 1.5, P99: p99, P999: p99 * 2}
	}
	r := &Results{Started: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), Plan: "full", Machine: Machine{CPUs: 2, GoVersion: "go1.26"},
		Targets: []string{TargetDirect, TargetPassthrough, TargetARouter}, Skipped: map[string]string{TargetNginx: "not installed"}}
	r.Scenarios = []*Scenario{
		{Name: "small_closed", Title: "Small, closed loop", Kind: "closed", Runs: 3, Params: map[string]any{"concurrency": 32, "seconds": 4.0, "completion_tokens": 75},
			Rows: []*Row{
				{Target: TargetDirect, RPS: 60000, Latency: lat(300, 3000), CPU: 17},
				{Target: TargetPassthrough, RPS: 40000, Latency: lat(700, 3000), CPU: 18},
				{Target: TargetARouter, RPS: 37000, Latency: lat(750, 4000), CPU: 20, Errors: 1, Error: "status 502"},
			}},
		{Name: "small_open", Title: "Small, open loop", Kind: "open", Runs: 3, Params: map[string]any{"rate": 5000.0, "seconds": 6.0, "connections": 64},
			Rows: []*Row{
				{Target: TargetDirect, RPS: 5000, Latency: lat(70, 400), Service: lat(68, 390), Late: lat(1, 30), CPU: 60},
				{Target: TargetPassthrough, RPS: 5000, Latency: lat(120, 900), Service: lat(118, 880), Late: lat(1, 30), CPU: 60},
				{Target: TargetARouter, RPS: 5000, Latency: lat(140, 1000), Service: lat(138, 990), Late: lat(1, 30), CPU: 66},
			}},
		{Name: "stream", Title: "Streams", Kind: "stream", Runs: 3, Params: map[string]any{"events": 50, "event_delay_ms": 20.0},
			Rows: []*Row{
				{Target: TargetDirect, TTFB: lat(200, 400), FirstEvent: lat(200, 400), Gaps: lat(20300, 20700), MinEvents: 54, MaxEvents: 54},
				{Target: TargetPassthrough, TTFB: lat(300, 500), FirstEvent: lat(300, 500), Gaps: lat(20300, 20700), MinEvents: 54, MaxEvents: 54},
				{Target: TargetARouter, TTFB: lat(340, 600), FirstEvent: lat(340, 600), Gaps: lat(20310, 20750), MinEvents: 54, MaxEvents: 54},
			}},
		{Name: "hold", Title: "Held streams", Kind: "hold", Runs: 3, Params: map[string]any{"streams": 9000},
			Rows: []*Row{
				{Target: TargetPassthrough, Hold: &HoldFigures{HoldResult: HoldResult{Streams: 9000, Opened: 9000}, KBPerStream: 33, PeakKBPerStream: 34}},
				{Target: TargetARouter, Hold: &HoldFigures{HoldResult: HoldResult{Streams: 9000, Opened: 9000}, KBPerStream: 35.5, PeakKBPerStream: 36}},
			}},
	}
	for _, s := range r.Scenarios {
		addLatencyDeltas(s)
	}
	r.Pipeline = &Pipeline{Runs: 5, Bare: PipelineFigures{NsPerOp: 40000, AllocsPerOp: 49}, Router: PipelineFigures{NsPerOp: 45000, AllocsPerOp: 51}}
	r.Checks, r.Result = evaluate(r, FullPlan)
	return r
}

func TestEvaluateAndResultLine(t *testing.T) {
	r := sampleResults()
	want := "RESULT throughput_vs_bare=0.93 p50_added_vs_bare_us=20 p99_added_vs_bare_us=100 cpu_vs_bare=1.1 pipeline_allocs_over_bare=2 " +
		"stream_ttfb_vs_bare_us=40 stream_gap_p99_vs_upstream_us=50 stream_kb=35.5 stream_failures=0 errors=1"
	if got := r.ResultLine(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for _, c := range r.Checks {
		if !c.Met {
			t.Errorf("check %q not met: %+v", c.Name, c)
		}
	}
	if len(r.Checks) != 8 {
		t.Errorf("%d checks, want 8", len(r.Checks))
	}
	if row := r.scenario("small_closed").Row(TargetARouter); row.AddedP50 != 450 {
		t.Errorf("added p50 vs direct = %v", row.AddedP50)
	}
}

func TestQuickRunLeavesOutWhatItDoesNotMeasure(t *testing.T) {
	r := sampleResults()
	r.scenario("hold").Rows[1].Hold.Streams = 2000
	r.Pipeline = nil
	r.Checks, r.Result = evaluate(r, QuickPlan)
	line := r.ResultLine()
	for _, k := range []string{"stream_kb=", "stream_failures=", "pipeline_allocs_over_bare="} {
		if strings.Contains(line, k) {
			t.Errorf("%s in %s", k, line)
		}
	}
	if !strings.Contains(line, "throughput_vs_bare=") {
		t.Errorf("throughput missing: %s", line)
	}
}

func TestMissedTargetsAreReported(t *testing.T) {
	r := sampleResults()
	r.scenario("small_closed").Row(TargetARouter).RPS = 20000
	r.scenario("hold").Row(TargetARouter).Hold.Failed = 3
	r.Checks, r.Result = evaluate(r, FullPlan)
	missed := map[string]bool{}
	for _, c := range r.Checks {
		if !c.Met {
			missed[c.Name] = true
		}
	}
	if len(missed) != 2 || !missed["maximum throughput (small, closed loop)"] || !missed["memory per open stream at 9000 streams"] {
		t.Fatalf("missed: %v", missed)
	}
	if md := r.Markdown(); !strings.Contains(md, "**no**") {
		t.Fatal("markdown does not flag the miss")
	}
}

func TestResultsMDKeepsTheHandWrittenPart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "RESULTS.md")
	old := "# Benchmark results\n\nold generated text\n\n## Availability during a provider outage\n\nEvery request succeeded.\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sampleResults()
	for range 2 { // the second write finds the marker
		if err := r.WriteResultsMD(path, []string{"latency.png"}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		md := string(b)
		if strings.Contains(md, "old generated text") || strings.Count(md, keptHeading) != 1 ||
			!strings.Contains(md, "Every request succeeded.") || !strings.Contains(md, "![latency](latency.png)") ||
			!strings.Contains(md, r.ResultLine()) {
			t.Fatalf("RESULTS.md:\n%s", md)
		}
	}
}

func TestWriteJSONAndCharts(t *testing.T) {
	dir := t.TempDir()
	r := sampleResults()
	if err := r.WriteJSON(filepath.Join(dir, "results.json")); err != nil {
		t.Fatal(err)
	}
	var back Results
	b, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if err := json.Unmarshal(b, &back); err != nil || len(back.Scenarios) != 4 || back.Result[0].Key != "throughput_vs_bare" {
		t.Fatalf("round trip: %v", err)
	}
	names, err := r.WriteCharts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "latency.png,throughput.png,memory.png,streams.png" {
		t.Fatalf("charts %v", names)
	}
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() < panelW {
			t.Fatalf("%s: %v", n, err)
		}
	}
}

func TestParseBenchLines(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkPipeline/passthrough-2         	    5000	     40910 ns/op	    4766 B/op	      49 allocs/op
BenchmarkPipeline/arouter-2             	    5000	     52888 ns/op	    5986 B/op	      52 allocs/op
BenchmarkPipeline/arouter-2             	    5000	     50000 ns/op	    5900 B/op	      54 allocs/op
BenchmarkPipeline/arouter-2             	    5000	     51000 ns/op	    5950 B/op	      53 allocs/op
PASS
`)
	ls := parseBenchLines(out)
	if len(ls) != 4 {
		t.Fatalf("%d lines", len(ls))
	}
	ar := medianBench(ls, "BenchmarkPipeline/arouter")
	if ar.AllocsPerOp != 53 || ar.NsPerOp != 51000 || ar.BytesPerOp != 5950 {
		t.Fatalf("%+v", ar)
	}
	if b := medianBench(ls, "BenchmarkPipeline/passthrough"); b.AllocsPerOp != 49 {
		t.Fatalf("%+v", b)
	}
}

func TestTopLines(t *testing.T) {
	out := []byte(`File: bench.test
Showing nodes accounting for 2.72s, 24.70% of 11.01s total
      flat  flat%   sum%        cum   cum%
     0.66s  5.99%  5.99%      0.66s  5.99%  internal/runtime/syscall/linux.Syscall6
     0.38s  3.45%  9.45%      1.07s  9.72%  modernc.org/sqlite/lib._sqlite3VdbeExec
`)
	got := topLines(out, 1)
	if len(got) != 3 || !strings.HasPrefix(got[0], "Showing") || !strings.HasSuffix(got[2], "Syscall6") {
		t.Fatalf("%q", got)
	}
}

func TestPprofParsers(t *testing.T) {
	for in, want := range map[string]float64{"1.72s": 1.72, "310ms": 0.31, "20us": 20e-6, "0": 0} {
		if got, ok := parsePprofDuration(in); !ok || math.Abs(got-want) > 1e-12 {
			t.Errorf("%s: %v %v", in, got, ok)
		}
	}
	if _, ok := parsePprofDuration("1.5x"); ok {
		t.Error("bad unit accepted")
	}
	cum := parseCumSeconds([]byte("      flat  flat%   sum%        cum   cum%\n" +
		"         0     0%     0%      1.72s 15.23%  github.com/arouter/arouter/accounting.(*Writer).run\n" +
		"     0.01s 0.089%  0.53%      310ms 15.68%  github.com/arouter/arouter/proxy.(*Server).chat\n"))
	if cum["github.com/arouter/arouter/accounting.(*Writer).run"] != 1.72 || cum["github.com/arouter/arouter/proxy.(*Server).chat"] != 0.31 {
		t.Fatalf("%v", cum)
	}
	if v := parseTagTotal([]byte(" target: Total 3.83s of 11.29s (33.92%)\n         3.83s (100%): arouter\n")); v != 3.83 {
		t.Fatalf("tag total %v", v)
	}
}

// Buffering shows as bursts (a median gap far below the upstream's, a p99 above it); a p99 below
// the upstream's is noise in the direct run and does not fail the check.
func TestEventGapCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		p50, p99 float64
		met      bool
	}{
		{"as upstream", 20310, 20750, true},
		{"direct run's p99 was noisy", 20300, 18500, true},
		{"bursts: p99 grows", 20300, 40000, false},
		{"bursts: events coalesce", 9000, 20700, false},
	} {
		r := sampleResults()
		r.scenario("stream").Row(TargetARouter).Gaps.P50 = tc.p50
		r.scenario("stream").Row(TargetARouter).Gaps.P99 = tc.p99
		r.Checks, r.Result = evaluate(r, FullPlan)
		for _, c := range r.Checks {
			if strings.HasPrefix(c.Name, "no buffering") && c.Met != tc.met {
				t.Errorf("%s: met = %v, want %v", tc.name, c.Met, tc.met)
			}
		}
	}
}

// A check carries its figure from each round alone, and the report shows their range; targets
// whose rounds do not pair up show none.
func TestChecksShowEachRound(t *testing.T) {
	r := sampleResults()
	s := r.scenario("small_closed")
	s.Row(TargetPassthrough).Rounds = []RoundFigures{{RPS: 40000}, {RPS: 38000}, {RPS: 42000}}
	s.Row(TargetARouter).Rounds = []RoundFigures{{RPS: 37000}, {RPS: 36100}, {RPS: 39900}}
	o := r.scenario("small_open")
	o.Row(TargetPassthrough).Rounds = []RoundFigures{{P50: 120, P99: 900}, {P50: 125, P99: 1500}}
	o.Row(TargetARouter).Rounds = []RoundFigures{{P50: 140, P99: 1000}} // a round short
	r.Checks, r.Result = evaluate(r, FullPlan)

	byName := map[string]Check{}
	for _, c := range r.Checks {
		byName[c.Name] = c
	}
	thr := byName["maximum throughput (small, closed loop)"]
	want := []float64{37000.0 / 40000, 36100.0 / 38000, 39900.0 / 42000}
	if len(thr.Rounds) != 3 || math.Abs(thr.Rounds[0]-want[0]) > 1e-9 || math.Abs(thr.Rounds[1]-want[1]) > 1e-9 || math.Abs(thr.Rounds[2]-want[2]) > 1e-9 {
		t.Errorf("throughput by round = %v, want %v", thr.Rounds, want)
	}
	if p99 := byName["added p99 latency at 5000 requests/s"]; p99.Rounds != nil {
		t.Errorf("p99 by round = %v, want none: the targets' rounds do not pair up", p99.Rounds)
	}
	// A run that measured no CPU gives no ratio, rather than an infinity results.json cannot hold.
	bareOpen, arOpen := o.Row(TargetPassthrough), o.Row(TargetARouter)
	bareOpen.Rounds = []RoundFigures{{CPU: 60}, {CPU: 0}}
	arOpen.Rounds = []RoundFigures{{CPU: 66}, {CPU: 70}}
	if got := byRound(arOpen, bareOpen, func(a, b RoundFigures) float64 { return a.CPU / b.CPU }); got != nil {
		t.Errorf("CPU ratio by round with a zero = %v, want none", got)
	}
	md := r.Markdown()
	if !strings.Contains(md, "| 0.93 × | 0.93 to 0.95 | yes |") {
		t.Errorf("report lacks the throughput's range by round:\n%s", md)
	}
	if !strings.Contains(md, "| 100.0 µs | – | yes |") {
		t.Errorf("report shows a range for p99 without rounds:\n%s", md)
	}
}
