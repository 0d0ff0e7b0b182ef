package mockllm

import "flag"

// RegisterFlags binds every Behavior field to a flag on fs, using b's current
// values as defaults, so a command can set its own defaults before
// registering. An unknown -fault value is rejected at parse time rather than
// when the first request arrives.
func (b *Behavior) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(&b.Latency, "latency",
		"time to first byte: wait before sending response headers (Go duration like 300ms, or milliseconds)")
	fs.Var(&b.EventDelay, "event-delay",
		"streaming: pause before each content event, i.e. inter-token latency (Go duration, or milliseconds)")
	fs.Var(&b.Processing, "processing",
		"streaming: after the response headers, wait this long before the first event (OpenAI mode sends \": PROCESSING\" comments meanwhile)")
	fs.IntVar(&b.Tokens, "tokens", b.Tokens,
		"completion length in tokens (words); 0 means 16; capped by the request's max_tokens / max_completion_tokens")
	fs.StringVar(&b.Reply, "reply", b.Reply,
		"fixed completion text (one token per word); empty means deterministic words derived from the request")
	fs.IntVar(&b.ReasoningTokens, "reasoning-tokens", b.ReasoningTokens,
		"reasoning tokens to report in usage (OpenAI, Gemini thoughts) or to think (Anthropic, when the request enables thinking)")
	fs.IntVar(&b.CachedTokens, "cached-tokens", b.CachedTokens,
		"cached prompt tokens to report in usage (capped at prompt_tokens)")
	fs.Var(faultFlag{&b.Fault}, "fault",
		"inject a fault into every completion: status, rate_limit, hang, stall, disconnect, malformed or stream_error (empty: none)")
	fs.IntVar(&b.FaultStatus, "fault-status", b.FaultStatus,
		"HTTP status for -fault=status (0 means 500)")
	fs.IntVar(&b.RetryAfter, "retry-after", b.RetryAfter,
		"Retry-After seconds for -fault=rate_limit (0 means 1)")
	fs.IntVar(&b.FaultAfter, "fault-after", b.FaultAfter,
		"streaming: content events sent before -fault=stall|disconnect|malformed|stream_error takes effect")
	fs.StringVar(&b.APIKey, "api-key", b.APIKey,
		"if set, require the key: Authorization: Bearer (OpenAI), x-api-key (Anthropic) or x-goog-api-key (Gemini)")
}

// faultFlag validates the fault name as the flag is parsed.
type faultFlag struct{ p *string }

func (f faultFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}

func (f faultFlag) Set(s string) error {
	b := Behavior{Fault: s}
	if err := b.validate(); err != nil {
		return err
	}
	*f.p = s
	return nil
}
