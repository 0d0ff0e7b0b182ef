package bench

import "time"

// Plan is how much of each scenario a session runs. QuickPlan fits in under a minute with the
// builds; FullPlan in about ten minutes on two cores.
type Plan struct {
	Name string
	Runs int // runs of each throughput and latency scenario per target, interleaved

	SmallConcurrency int
	SmallDuration    time.Duration
	OpenRate         float64 // requests/s of the fixed-rate run
	OpenDuration     time.Duration
	OpenConns        int

	LargeRuns        int
	LargeConcurrency int
	LargeDuration    time.Duration

	StreamRuns        int
	StreamConcurrency int
	StreamsPerRun     int
	StreamEvents      int
	StreamDelay       time.Duration

	HoldRuns    int
	HoldStreams int
	HoldEvents  int           // content events per held stream
	HoldDelay   time.Duration // between them: the streams live HoldEvents × HoldDelay
	// HoldFull is the stream count the memory target is stated for: a run with fewer streams
	// reports its figure but leaves it out of the RESULT line.
	HoldFull int

	Warmup time.Duration // closed-loop warm-up per target before each scenario

	PipelineCount     int    // -test.count of the in-process pipeline benchmark
	PipelineBenchtime string // its -test.benchtime
	Profiles          bool   // collect pprof CPU and allocation profiles
}

// QuickPlan is `make bench-quick`.
var QuickPlan = Plan{
	Name: "quick", Runs: 3,
	SmallConcurrency: 32, SmallDuration: 700 * time.Millisecond,
	OpenRate: 5000, OpenDuration: time.Second, OpenConns: 64,
	LargeRuns: 1, LargeConcurrency: 8, LargeDuration: 700 * time.Millisecond,
	StreamRuns: 1, StreamConcurrency: 10, StreamsPerRun: 20, StreamEvents: 25, StreamDelay: 20 * time.Millisecond,
	HoldRuns: 1, HoldStreams: 2000, HoldEvents: 10, HoldDelay: time.Second, HoldFull: 9000,
	Warmup:        200 * time.Millisecond,
	PipelineCount: 1, PipelineBenchtime: "5000x",
}

// FullPlan is `make bench`.
var FullPlan = Plan{
	Name: "full", Runs: 5,
	SmallConcurrency: 32, SmallDuration: 4 * time.Second,
	OpenRate: 5000, OpenDuration: 6 * time.Second, OpenConns: 64,
	LargeRuns: 3, LargeConcurrency: 8, LargeDuration: 3 * time.Second,
	StreamRuns: 3, StreamConcurrency: 20, StreamsPerRun: 80, StreamEvents: 50, StreamDelay: 20 * time.Millisecond,
	HoldRuns: 3, HoldStreams: 9000, HoldEvents: 20, HoldDelay: 2 * time.Second, HoldFull: 9000,
	Warmup:        500 * time.Millisecond,
	PipelineCount: 5, PipelineBenchtime: "20000x", Profiles: true,
}

// Request bodies. The same bytes go to every target (the mock accepts ARouter's model id), so
// each proxy reads and forwards the same request.
const (
	smallBody  = `{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the plot of Hamlet in one sentence."}],"max_tokens":128}`
	largeBody  = `{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are thorough."},{"role":"user","content":"Write a long essay on the plot of Hamlet."}],"max_tokens":16384}`
	streamBody = `{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the plot of Hamlet in one sentence."}],"max_tokens":128,"stream":true,"stream_options":{"include_usage":true}}`
)

// Mock completion lengths: about 1 KB and 64 KB of JSON for the bodies above.
const (
	smallTokens = 75
	largeTokens = 10700
)
