package bench

import "time"

// Results is everything a session measured; it is written to bench/results.json and rendered
// into RESULTS.md, the charts and the RESULT line.
type Results struct {
	Started   time.Time         `json:"started"`
	Seconds   float64           `json:"seconds"`
	Plan      string            `json:"plan"`
	Machine   Machine           `json:"machine"`
	Targets   []string          `json:"targets"`
	Skipped   map[string]string `json:"skipped,omitempty"` // target → why
	Scenarios []*Scenario       `json:"scenarios"`
	Pipeline  *Pipeline         `json:"pipeline,omitempty"`
	Profiles  *Profiles         `json:"profiles,omitempty"`
	Checks    []Check           `json:"checks"`
	// Result holds the figures of the RESULT line, in its order.
	Result []ResultFigure `json:"result"`
	Notes  []string       `json:"notes,omitempty"`
}

// Machine describes where the session ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go"`
	Kernel    string `json:"kernel"`
	OpenFiles uint64 `json:"open_files"`
}

// Scenario is one load shape run against every target.
type Scenario struct {
	Name   string         `json:"name"`  // small_closed, small_open, large_closed, stream, hold
	Title  string         `json:"title"` // for the report
	Kind   string         `json:"kind"`  // closed, open, stream, hold
	Params map[string]any `json:"params"`
	Runs   int            `json:"runs"`
	Rows   []*Row         `json:"targets"`
}

// Row returns the figures of target, or nil.
func (s *Scenario) Row(target string) *Row {
	if s == nil {
		return nil
	}
	for _, r := range s.Rows {
		if r.Target == target {
			return r
		}
	}
	return nil
}

// Row is one target's figures in a scenario: the median over runs of each.
type Row struct {
	Target string `json:"target"`
	// Requests/s (closed loop: the maximum at that concurrency; open loop: achieved rate).
	RPS float64 `json:"rps,omitempty"`
	// Latency: closed loop, send to last byte; open loop, from the scheduled send time.
	Latency *Summary `json:"latency,omitempty"`
	Service *Summary `json:"service,omitempty"`     // open loop: from the actual send
	Late    *Summary `json:"client_late,omitempty"` // open loop: the client's own scheduling error
	// AddedP50 and AddedP99 are the latency percentiles minus the direct target's (µs).
	AddedP50 float64 `json:"added_p50_vs_direct_us"`
	AddedP99 float64 `json:"added_p99_vs_direct_us"`
	// CPU of the target's process per request (per stream for streams), µs; for direct, the mock's.
	CPU     float64 `json:"cpu_us_per_request,omitempty"`
	CPUUser float64 `json:"cpu_user_us_per_request,omitempty"`
	CPUSys  float64 `json:"cpu_sys_us_per_request,omitempty"`
	PeakKB  int64   `json:"peak_rss_kb,omitempty"`
	Errors  int64   `json:"errors"`
	Sent    int64   `json:"requests"`
	Error   string  `json:"first_error,omitempty"`

	// Streams.
	TTFB       *Summary `json:"ttfb,omitempty"`
	FirstEvent *Summary `json:"first_event,omitempty"`
	Gaps       *Summary `json:"event_gaps,omitempty"`
	MinEvents  int      `json:"min_events,omitempty"`
	MaxEvents  int      `json:"max_events,omitempty"`

	// Held streams.
	Hold *HoldFigures `json:"hold,omitempty"`

	// Rounds keeps each run's own figures, in run order. Run k of every target belongs to
	// round k, and a round runs the targets back to back, so comparing targets round by round
	// shows how far the machine moved a result (Check.Rounds).
	Rounds []RoundFigures `json:"rounds,omitempty"`
}

// RoundFigures are one run's figures. Latencies are µs: the request's, or for streams the
// time to first byte.
type RoundFigures struct {
	RPS float64 `json:"rps,omitempty"`
	P50 float64 `json:"p50_us,omitempty"`
	P99 float64 `json:"p99_us,omitempty"`
	CPU float64 `json:"cpu_us,omitempty"` // per request, or per stream
	KB  float64 `json:"kb_per_stream,omitempty"`
}

// HoldFigures is the memory an open stream costs a proxy.
type HoldFigures struct {
	HoldResult
	BaselineKB int64 `json:"baseline_rss_kb"` // fresh process after a warm-up
	OpenKB     int64 `json:"open_rss_kb"`     // highest RSS sampled while all streams were open
	PeakKB     int64 `json:"peak_rss_kb"`     // VmHWM over the whole run
	// KBPerStream is (OpenKB − BaselineKB) / opened streams; PeakKBPerStream uses PeakKB.
	KBPerStream     float64 `json:"kb_per_stream"`
	PeakKBPerStream float64 `json:"peak_kb_per_stream"`
	OpenSeconds     float64 `json:"open_seconds"` // time to open them all
}

// Pipeline is the in-process benchmark: allocations and time per request of each proxy.
type Pipeline struct {
	Runs   int               `json:"runs"`
	Bare   PipelineFigures   `json:"passthrough"`
	Router PipelineFigures   `json:"arouter"`
	Raw    []string          `json:"raw"`
	Extra  map[string]string `json:"extra,omitempty"`
}

// PipelineFigures are medians over -test.count runs.
type PipelineFigures struct {
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

// Profiles names the profile files and carries their summaries.
type Profiles struct {
	Dir          string   `json:"dir"`
	CPUTop       []string `json:"cpu_top"`        // ARouter's goroutines only, flat
	CPUCumTop    []string `json:"cpu_cum_top"`    // same, cumulative
	BareCPUTop   []string `json:"bare_cpu_top"`   // the passthrough's, flat
	AllocTop     []string `json:"alloc_top"`      // ARouter run, allocated objects
	BareAllocTop []string `json:"bare_alloc_top"` // passthrough run
	// Breakdown is where each proxy's CPU goes, per request.
	Breakdown []BreakdownRow `json:"cpu_breakdown"`
}

// BreakdownRow is one part of a proxy's CPU per request in the in-process profile.
type BreakdownRow struct {
	Part         string  `json:"part"`
	ARouterUS    float64 `json:"arouter_us_per_request"`
	ARouterShare float64 `json:"arouter_share_pct"`
	BareUS       float64 `json:"passthrough_us_per_request"`
}

// Check is one of the targets and where this session stands against it.
type Check struct {
	Name   string  `json:"name"`
	Target string  `json:"target"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Met    bool    `json:"met"`
	// Rounds is the same figure from each round's runs alone (see Row.Rounds): its spread is
	// how much of Value the machine's drift during the session could account for.
	Rounds []float64 `json:"rounds,omitempty"`
}

// ResultFigure is one key=value of the RESULT line.
type ResultFigure struct {
	Key   string  `json:"key"`
	Value float64 `json:"value"`
}
