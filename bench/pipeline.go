package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// pipeline runs BenchmarkPipeline (the in-process request path of both proxies, see
// pipeline_timing_test.go) for allocations per request and, in a full session, collects pprof
// CPU and allocation profiles of it.
func (s *session) pipeline() error {
	p := s.plan
	s.progress("in-process pipeline: BenchmarkPipeline -benchmem, %s × %d", p.PipelineBenchtime, p.PipelineCount)
	out, err := s.runTestBinary("-test.run", "^$", "-test.bench", "^BenchmarkPipeline$", "-test.benchmem",
		"-test.benchtime", p.PipelineBenchtime, "-test.count", strconv.Itoa(p.PipelineCount))
	if err != nil {
		return err
	}
	lines := parseBenchLines(out)
	if len(lines) == 0 {
		return fmt.Errorf("BenchmarkPipeline: %w:\n%s", errNoBench, out)
	}
	pl := &Pipeline{Runs: p.PipelineCount}
	pl.Bare, pl.Raw = medianBench(lines, "BenchmarkPipeline/"+TargetPassthrough), rawLines(lines)
	pl.Router = medianBench(lines, "BenchmarkPipeline/"+TargetARouter)
	s.res.Pipeline = pl
	s.progress("  passthrough %.0f allocs/op %.0f ns/op; arouter %.0f allocs/op %.0f ns/op",
		pl.Bare.AllocsPerOp, pl.Bare.NsPerOp, pl.Router.AllocsPerOp, pl.Router.NsPerOp)
	if p.Profiles {
		return s.profiles()
	}
	return nil
}

// profiles writes CPU and allocation profiles of the in-process pipeline to <out>/profiles and
// keeps their top entries. The CPU profile covers both proxies; its summaries are cut to each
// proxy's goroutines by their pprof label. Allocation profiles carry no labels, so each proxy
// gets a run of its own.
func (s *session) profiles() error {
	dir := filepath.Join(s.opt.Out, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cpu := filepath.Join(dir, "pipeline-cpu.pprof")
	s.progress("profiles: CPU of BenchmarkPipelineParallel, allocations of each proxy → %s", dir)
	out, err := s.runTestBinary("-test.run", "^$", "-test.bench", "^BenchmarkPipelineParallel$", "-test.benchtime", "3s",
		"-test.cpuprofile", cpu)
	if err != nil {
		return err
	}
	pr := &Profiles{Dir: dir}
	if pr.Breakdown, err = s.cpuBreakdown(cpu, parseBenchLines(out)); err != nil {
		return err
	}
	if pr.CPUTop, err = s.pprofTop(cpu, "cpu-arouter.txt", "-tagfocus=target="+TargetARouter); err != nil {
		return err
	}
	if pr.CPUCumTop, err = s.pprofTop(cpu, "cpu-arouter-cum.txt", "-tagfocus=target="+TargetARouter, "-cum"); err != nil {
		return err
	}
	if pr.BareCPUTop, err = s.pprofTop(cpu, "cpu-passthrough.txt", "-tagfocus=target="+TargetPassthrough); err != nil {
		return err
	}
	for _, name := range []string{TargetPassthrough, TargetARouter} {
		mem := filepath.Join(dir, "pipeline-alloc-"+name+".pprof")
		if _, err := s.runTestBinary("-test.run", "^$", "-test.bench", "^BenchmarkPipeline$/^"+name+"$", "-test.benchtime", "20000x",
			"-test.memprofile", mem, "-test.memprofilerate", "1"); err != nil {
			return err
		}
		top, err := s.pprofTop(mem, "alloc-"+name+".txt", "-sample_index=alloc_objects")
		if err != nil {
			return err
		}
		if name == TargetARouter {
			pr.AllocTop = top
		} else {
			pr.BareAllocTop = top
		}
	}
	s.res.Profiles = pr
	return nil
}

// cpuParts are the functions whose cumulative CPU the breakdown reports; each includes what it
// calls, so the rows overlap (the handler is part of the server goroutines, and so on).
var cpuParts = []struct{ part, fn string }{
	{"fasthttp server goroutines (read request, handler, write response)", "github.com/valyala/fasthttp.(*workerPool).workerFunc"},
	{"  handler (ARouter: proxy.(*Server).handle)", "github.com/arouter/arouter/proxy.(*Server).handle"},
	{"  handler (passthrough)", "github.com/arouter/arouter/bench/bare.(*Passthrough).handle"},
	{"    upstream round trip (fasthttp HostClient.Do)", "github.com/valyala/fasthttp.(*HostClient).Do"},
	{"    auth (key lookup)", "github.com/arouter/arouter/proxy.(*Server).authenticate"},
	{"    request parse", "github.com/arouter/arouter/proxy.(*chatRequest).parse"},
	{"    admit (budget reserve)", "github.com/arouter/arouter/budget.(*Ledger).Reserve"},
	{"    usage read + cost added to the body", "github.com/arouter/arouter/proxy.addCostToResponse"},
	{"    account (settle, record, enqueue)", "github.com/arouter/arouter/proxy.(*Server).account"},
	{"accounting writer goroutine (SQLite usage rows)", "github.com/arouter/arouter/accounting.(*Writer).run"},
}

// cpuBreakdown cuts the CPU profile into the parts above, per proxy, in µs per request (the
// profiled run's request count comes from the benchmark output; calibration runs make the
// figures a few percent high, equally for both).
func (s *session) cpuBreakdown(profile string, lines []benchLine) ([]BreakdownRow, error) {
	reqs := map[string]float64{}
	for _, l := range lines {
		if name, ok := strings.CutPrefix(l.name, "BenchmarkPipelineParallel/"); ok {
			reqs[name] += l.n
		}
	}
	cum := map[string]map[string]float64{}
	totals := map[string]float64{}
	for _, target := range []string{TargetARouter, TargetPassthrough} {
		out, err := s.goTool("tool", "pprof", "-top", "-cum", "-nodecount=1000", "-tagfocus=target="+target, profile)
		if err != nil {
			return nil, err
		}
		cum[target] = parseCumSeconds(out)
		tags, err := s.goTool("tool", "pprof", "-tags", "-tagfocus=target="+target, profile)
		if err != nil {
			return nil, err
		}
		totals[target] = parseTagTotal(tags)
	}
	per := func(target string, sec float64) float64 {
		if reqs[target] == 0 {
			return 0
		}
		return sec * 1e6 / reqs[target]
	}
	rows := []BreakdownRow{{Part: "all of the proxy's goroutines", ARouterUS: per(TargetARouter, totals[TargetARouter]),
		BareUS: per(TargetPassthrough, totals[TargetPassthrough]), ARouterShare: 100}}
	for _, p := range cpuParts {
		a, b := cum[TargetARouter][p.fn], cum[TargetPassthrough][p.fn]
		if a == 0 && b == 0 {
			continue
		}
		r := BreakdownRow{Part: p.part, ARouterUS: per(TargetARouter, a), BareUS: per(TargetPassthrough, b)}
		if totals[TargetARouter] > 0 {
			r.ARouterShare = 100 * a / totals[TargetARouter]
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func (s *session) goTool(args ...string) ([]byte, error) {
	cmd := exec.CommandContext(s.ctx, "go", args...)
	cmd.Dir = s.opt.Root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// parseCumSeconds maps each function of `pprof -top -cum` output to its cumulative seconds.
func parseCumSeconds(out []byte) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		v, ok := parsePprofDuration(f[3])
		if !ok {
			continue
		}
		m[strings.Join(f[5:], " ")] = v
	}
	return m
}

// parseTagTotal reads "target: Total 3.83s of 11.29s" from `pprof -tags` output.
func parseTagTotal(out []byte) float64 {
	for line := range strings.Lines(string(out)) {
		if _, rest, ok := strings.Cut(line, "Total "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				if v, ok := parsePprofDuration(f[0]); ok {
					return v
				}
			}
		}
	}
	return 0
}

// parsePprofDuration reads pprof's "1.72s", "310ms", "20us" or "0" as seconds.
func parsePprofDuration(s string) (float64, bool) {
	if s == "0" {
		return 0, true
	}
	for _, u := range []struct {
		suffix string
		scale  float64
	}{{"ms", 1e-3}, {"us", 1e-6}, {"µs", 1e-6}, {"ns", 1e-9}, {"s", 1}, {"min", 60}, {"h", 3600}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			return v * u.scale, err == nil
		}
	}
	return 0, false
}

// runTestBinary runs the bench test binary built by Lab.Build in the bench directory.
func (s *session) runTestBinary(args ...string) ([]byte, error) {
	cmd := exec.CommandContext(s.ctx, s.lab.testBin, args...)
	cmd.Dir = filepath.Join(s.opt.Root, "bench")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("bench.test %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// pprofTop runs `go tool pprof -top` on a profile, writes the text next to it and returns the
// function lines.
func (s *session) pprofTop(profile, name string, flags ...string) ([]string, error) {
	args := append([]string{"tool", "pprof", "-top", "-nodecount=40"}, flags...)
	args = append(args, s.lab.testBin, profile)
	cmd := exec.CommandContext(s.ctx, "go", args...)
	cmd.Dir = s.opt.Root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(profile), name), out, 0o644); err != nil {
		return nil, err
	}
	return topLines(out, 15), nil
}

// topLines keeps the header summary and the first n function lines of `pprof -top` output.
func topLines(out []byte, n int) []string {
	var lines []string
	inTable := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " ")
		switch {
		case strings.HasPrefix(line, "Showing nodes"):
			lines = append(lines, strings.TrimSpace(line))
		case strings.Contains(line, "flat%") && strings.Contains(line, "cum%"):
			inTable = true
			lines = append(lines, strings.TrimSpace(line))
		case inTable && line != "" && len(lines) < n+2:
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return lines
}

// benchLine is one result line of `go test -bench`.
type benchLine struct {
	name                 string // without the -GOMAXPROCS suffix
	n, ns, bytes, allocs float64
	raw                  string
	hasBytes, hasAllocs  bool
}

// parseBenchLines reads the result lines of `go test -bench` output.
func parseBenchLines(out []byte) []benchLine {
	var ls []benchLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		l := benchLine{name: f[0], raw: sc.Text()}
		l.n, _ = strconv.ParseFloat(f[1], 64)
		if i := strings.LastIndexByte(l.name, '-'); i > 0 {
			if _, err := strconv.Atoi(l.name[i+1:]); err == nil {
				l.name = l.name[:i]
			}
		}
		ok := false
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				l.ns, ok = v, true
			case "B/op":
				l.bytes, l.hasBytes = v, true
			case "allocs/op":
				l.allocs, l.hasAllocs = v, true
			}
		}
		if ok {
			ls = append(ls, l)
		}
	}
	return ls
}

// medianBench is the median of each figure over the lines named name.
func medianBench(ls []benchLine, name string) PipelineFigures {
	var ns, b, a []float64
	for _, l := range ls {
		if l.name == name {
			ns, b, a = append(ns, l.ns), append(b, l.bytes), append(a, l.allocs)
		}
	}
	return PipelineFigures{NsPerOp: median(ns), BytesPerOp: median(b), AllocsPerOp: median(a)}
}

func rawLines(ls []benchLine) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.raw
	}
	return out
}
