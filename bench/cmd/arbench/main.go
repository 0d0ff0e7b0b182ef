// Command arbench runs ARouter's benchmark suite (package bench): it builds the gateway and the
// bare passthrough, starts them with the mock provider (and nginx when installed) as processes
// on loopback, runs every scenario interleaved, and writes results.json, RESULTS.md and PNG
// charts. The last line it prints is machine-readable:
//
//	RESULT throughput_vs_bare=0.93 p50_added_vs_bare_us=21 ...
//
// `make bench` runs the full plan (about ten minutes), `make bench-quick` a short one (under a
// minute) whose output goes to bench/quick instead, so that it never overwrites a full run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/arouter/arouter/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	quick := flag.Bool("quick", false, "run the short plan (under a minute)")
	out := flag.String("out", "", "directory for results.json, RESULTS.md, charts and profiles (default bench, or bench/quick with -quick)")
	targets := flag.String("targets", "", "comma-separated proxies to measure (passthrough,arouter,nginx; default all available)")
	scenarios := flag.String("scenarios", "", "comma-separated scenarios to run (small_closed,small_open,large_closed,stream,hold; default all)")
	noPipeline := flag.Bool("no-pipeline", false, "skip the in-process pipeline benchmark and profiles")
	flag.Parse()

	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "arbench:", err)
		return 1
	}
	plan := bench.FullPlan
	if *quick {
		plan = bench.QuickPlan
	}
	if *out == "" {
		*out = filepath.Join(root, "bench")
		if *quick {
			*out = filepath.Join(root, "bench", "quick")
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "arbench:", err)
		return 1
	}
	opt := bench.Options{Plan: plan, Root: root, Out: *out, Log: os.Stderr, SkipPipeline: *noPipeline}
	if *targets != "" {
		opt.Targets = map[string]bool{}
		for _, t := range strings.Split(*targets, ",") {
			opt.Targets[strings.TrimSpace(t)] = true
		}
	}

	if *scenarios != "" {
		opt.Scenarios = map[string]bool{}
		for _, sc := range strings.Split(*scenarios, ",") {
			opt.Scenarios[strings.TrimSpace(sc)] = true
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	res, err := bench.Run(ctx, opt)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "arbench: interrupted; every process and temporary file has been removed")
			return 130
		}
		fmt.Fprintln(os.Stderr, "arbench:", err)
		return 1
	}
	charts, err := res.WriteCharts(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "arbench: charts:", err)
		return 1
	}
	jsonPath, mdPath := filepath.Join(*out, "results.json"), filepath.Join(*out, "RESULTS.md")
	if err := res.WriteJSON(jsonPath); err != nil {
		fmt.Fprintln(os.Stderr, "arbench:", err)
		return 1
	}
	if err := res.WriteResultsMD(mdPath, charts); err != nil {
		fmt.Fprintln(os.Stderr, "arbench:", err)
		return 1
	}
	fmt.Println()
	fmt.Print(res.Markdown())
	fmt.Printf("Wrote %s, %s and %s in %s (%.0f s).\n", rel(root, jsonPath), rel(root, mdPath), strings.Join(charts, ", "), rel(root, *out), res.Seconds)
	fmt.Println(res.ResultLine())
	return 0
}

// moduleRoot is the directory of the main module's go.mod, where the suite runs `go build`.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the arouter module (go env GOMOD is empty)")
	}
	return filepath.Dir(mod), nil
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}
