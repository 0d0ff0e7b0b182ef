// Package mockllm is a fast, deterministic mock of an LLM provider's HTTP API.
//
// It is the upstream used by ARouter's tests, quick start and benchmarks, so it
// aims to be byte-for-byte faithful to the providers' published wire formats,
// to answer the same request with the same text every time, to cost as little
// CPU as possible per request and per streamed event, and to be steerable:
// latency, inter-event delay, completion length and injected faults are all set
// through a Behavior, either for the whole server or for a single request (the
// request's "mock" object). A request that forces a tool call (OpenAI tool_choice
// "required" or a named function, Anthropic "any" or "tool", Gemini mode ANY) gets one,
// in each provider's shape, with arguments built from the tool's schema (tools.go); any
// other request is answered in text.
//
// One server speaks three wire formats, told apart by path:
//
//	POST /v1/chat/completions                          OpenAI Chat Completions (openai.go)
//	POST /v1/messages                                  Anthropic Messages (anthropic.go)
//	POST /v1beta/models/{model}:generateContent        Gemini (gemini.go), also
//	POST /v1beta/models/{model}:streamGenerateContent  with ?alt=sse or as a JSON array
//
// OpenAI clients take the server's base URL with /v1 (what Start returns);
// Anthropic and Gemini clients take the bare root ("http://host:port"), as their
// SDKs do. Wire-format code lives in one file per provider; everything the modes
// share — behaviour, text generation, timing, streaming plumbing and faults —
// lives in the other files, so a new mode only adds its encoder.
package mockllm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("20ms"), so behaviours are readable in the /_mock API and in test
// fixtures. A JSON number is also accepted and means milliseconds, because
// that is what people type by hand. *Duration is a flag.Value, with the same
// two spellings.
type Duration time.Duration

// String formats d like time.Duration does ("1.5s").
func (d Duration) String() string { return time.Duration(d).String() }

// Set parses a flag value: a Go duration ("250ms") or plain milliseconds ("250").
func (d *Duration) Set(s string) error {
	v, err := parseDuration(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes the duration as a string such as "20ms".
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, d.String()), nil
}

// UnmarshalJSON accepts a duration string or a number of milliseconds. null
// leaves d unchanged, as encoding/json does for other types.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return d.Set(s)
	}
	ms, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("duration must be a string like \"20ms\" or a number of milliseconds, got %s", b)
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}

func parseDuration(s string) (Duration, error) {
	if s == "" {
		return 0, nil
	}
	if ms, err := strconv.ParseFloat(s, 64); err == nil {
		return Duration(ms * float64(time.Millisecond)), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want e.g. \"20ms\" or a number of milliseconds", s)
	}
	return Duration(v), nil
}

// Fault names accepted in Behavior.Fault.
const (
	FaultNone       = ""
	FaultStatus     = "status"     // error status with a provider error body
	FaultRateLimit  = "rate_limit" // 429 with Retry-After
	FaultHang       = "hang"       // never answer
	FaultStall      = "stall"      // stream stops after FaultAfter events, connection stays open
	FaultDisconnect = "disconnect" // connection closed mid-response
	FaultMalformed  = "malformed"  // syntactically broken JSON
	// FaultStreamError: the stream sends FaultAfter content events, then the provider's own
	// in-stream error event (OpenAI's error object, Anthropic's "error" event, Gemini's error
	// response) and ends. Without streaming it behaves like "status".
	FaultStreamError = "stream_error"
)

// Behavior is what the mock does with a completion request. The zero value is
// a healthy, instant upstream answering 16 tokens. Every field is settable per
// request through the body's "mock" object, where only the fields present
// override the server's, so concurrent tests can share one server.
type Behavior struct {
	Latency         Duration `json:"latency"`          // wait before response headers (time to first byte)
	EventDelay      Duration `json:"event_delay"`      // stream: pause before each content event (inter-token latency)
	Processing      Duration `json:"processing"`       // stream: after the response headers, wait this long before the first event; OpenAI mode sends ": PROCESSING" comments meanwhile, as OpenAI-compatible routers do
	Tokens          int      `json:"tokens"`           // completion length in tokens (words); default 16 when 0; capped by request max_tokens/max_completion_tokens (then finish_reason "length")
	Reply           string   `json:"reply"`            // if set, the completion text is exactly this (tokens = its words); else deterministic words
	ReasoningTokens int      `json:"reasoning_tokens"` // OpenAI: usage reasoning_tokens, added to completion_tokens; Anthropic: thinking block length when the request enables thinking (DefaultThinkingTokens when 0); Gemini: thoughtsTokenCount unless thinkingBudget is 0
	CachedTokens    int      `json:"cached_tokens"`    // cached prompt tokens (capped at the prompt): OpenAI cached_tokens, Anthropic cache_read_input_tokens (instead of its cache_control prefix cache), Gemini cachedContentTokenCount
	Fault           string   `json:"fault"`            // "", "status", "rate_limit", "hang", "stall", "disconnect", "malformed", "stream_error"; errors in each wire format's own shape
	FaultStatus     int      `json:"fault_status"`     // for "status" (default 500)
	RetryAfter      int      `json:"retry_after"`      // seconds, for "rate_limit" (default 1): Retry-After header (OpenAI, Anthropic) or RetryInfo retryDelay in the body (Gemini)
	FaultAfter      int      `json:"fault_after"`      // stream: number of content events sent before stall/disconnect/malformed/stream_error
	APIKey          string   `json:"api_key"`          // if set, requests must carry it: "Authorization: Bearer" (OpenAI), x-api-key (Anthropic), x-goog-api-key or ?key= (Gemini)
}

// DefaultTokens is the completion length used when Behavior.Tokens is 0.
const DefaultTokens = 16

// maxHold bounds every wait that is meant to be "forever" (hang, stall), so a
// forgotten client can never pin a connection and goroutine for the life of
// the process.
const maxHold = 10 * time.Minute

// validate rejects behaviours that would otherwise be silently misread, such
// as a misspelt fault name, so a test fails loudly instead of passing for the
// wrong reason.
func (b *Behavior) validate() error {
	switch b.Fault {
	case FaultNone, FaultStatus, FaultRateLimit, FaultHang, FaultStall, FaultDisconnect, FaultMalformed, FaultStreamError:
	default:
		return fmt.Errorf("unknown fault %q: want one of status, rate_limit, hang, stall, disconnect, malformed, stream_error", b.Fault)
	}
	switch {
	case b.Latency < 0 || b.EventDelay < 0 || b.Processing < 0:
		return errors.New("latency, event_delay and processing must not be negative")
	case b.Tokens < 0 || b.ReasoningTokens < 0 || b.CachedTokens < 0 || b.FaultAfter < 0 || b.RetryAfter < 0:
		return errors.New("tokens, reasoning_tokens, cached_tokens, fault_after and retry_after must not be negative")
	case b.FaultStatus != 0 && (b.FaultStatus < 400 || b.FaultStatus > 599):
		return fmt.Errorf("fault_status %d: want a 4xx or 5xx status", b.FaultStatus)
	}
	return nil
}

// decodeBehavior decodes JSON onto b: fields absent from data keep b's values,
// which is what makes a request's "mock" object a partial override. Unknown
// fields are an error so typos do not go unnoticed.
func decodeBehavior(data []byte, b *Behavior) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(b); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	return b.validate()
}
