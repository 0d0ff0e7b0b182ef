// Package accounting turns finished requests into usage records and moves them to a store
// without ever making a request wait: records go through a bounded queue to a batch writer.
package accounting

import (
	"errors"
	"time"

	"github.com/arouter/arouter/money"
)

// Record is the metadata of one request that reached a provider. Its only field that can hold
// prompt or completion text is Bodies, which stays nil unless the key or its organization opted
// in to prompt logging. Strings in it point at configuration (model and provider ids), so
// building a Record does not allocate.
type Record struct {
	GenerationID GenerationID
	Time         time.Time // when the gateway received the request
	KeyID        int64
	OrgID        int64 // the context whose credits paid
	BudgetID     int64 // the key's spend counter (see apikey.Key.BudgetID)

	Model         string // public model id, e.g. "openai/gpt-4o-mini"
	Provider      string // provider id from the configuration
	UpstreamModel string // the provider's own model name

	PromptTokens     int64
	CompletionTokens int64
	ReasoningTokens  int64
	CachedTokens     int64 // prompt tokens read from the provider's cache
	CacheWriteTokens int64 // prompt tokens written to the provider's cache
	Cost             money.Nanos
	// CacheDiscount is what caching saved against the full prompt price (negative when cache
	// writes cost more than they saved).
	CacheDiscount money.Nanos
	// BYOK says the request used the organization's own provider key; Cost is then the
	// gateway's fee, and BYOKCost the provider's list price the organization pays directly.
	BYOK     bool
	BYOKCost money.Nanos

	Latency time.Duration // receipt to last byte sent
	TTFB    time.Duration // receipt to first byte sent to the client

	Status    int  // HTTP status the client received
	Streamed  bool // the client asked for an SSE stream
	Cancelled bool // the client went away before the response ended
	// ErrorCode classifies a failure ("" on success), e.g. "upstream_status", "upstream_timeout",
	// "upstream_connect", "stream_interrupted". Never free text from a body.
	ErrorCode string

	// UpstreamID is the provider's own id for its answer ("chatcmpl-…", "msg_…", Gemini's
	// responseId), for matching a record with the provider's logs and invoices.
	UpstreamID UpstreamID
	// FinishReason is why the answer ended, in OpenAI's terms; NativeFinishReason is the
	// provider's own word for it (Anthropic's stop_reason, Gemini's finishReason), which keeps
	// a value FinishReason can only call FinishOther.
	FinishReason       FinishReason
	NativeFinishReason NativeFinishReason

	// Bodies holds the request and the answer when prompt logging is on for the request's key;
	// nil otherwise, which is the default and costs nothing. Only the spool (until the record
	// is stored) and the store's prompt-logging table receive it: Recent drops it, and it must
	// never reach a log line or a metric.
	Bodies *Bodies
}

// Bodies are a request's body and the answer the client received, kept for prompt logging.
// Each is capped (see MaxBodyBytes); the sizes count every byte, so a body shorter than its
// size was truncated.
type Bodies struct {
	Request      []byte
	Response     []byte
	RequestSize  int64
	ResponseSize int64
}

// MaxBodyBytes caps what prompt logging keeps of each direction of one request.
const MaxBodyBytes = 1 << 20

// RequestTruncated reports whether the stored request is shorter than the one received.
func (b *Bodies) RequestTruncated() bool { return int64(len(b.Request)) < b.RequestSize }

// ResponseTruncated reports whether the stored answer is shorter than the one sent.
func (b *Bodies) ResponseTruncated() bool { return int64(len(b.Response)) < b.ResponseSize }

// ErrRecordNotFound is returned (wrapped) by stores that have no record of a generation id.
var ErrRecordNotFound = errors.New("usage record not found")

// FinishReason is why an answer ended, normalised to OpenAI's finish_reason values. It is a
// small number rather than a string so that recording it never allocates; String gives the
// wire value.
type FinishReason uint8

// The finish reasons. FinishNone means no finish was reported: a stream the client cancelled
// before the provider's finish chunk, or a request that failed before any answer (those are
// FinishError: the gateway answered with an error).
const (
	FinishNone          FinishReason = iota // ""
	FinishStop                              // "stop": a natural end or a stop sequence
	FinishLength                            // "length": max_tokens or the context window reached
	FinishToolCalls                         // "tool_calls" (and OpenAI's legacy "function_call")
	FinishContentFilter                     // "content_filter"
	FinishError                             // "error": the client got an error answer or a stream's error event
	FinishOther                             // "other": a value outside this set (see NativeFinishReason)
)

var finishNames = [...]string{"", "stop", "length", "tool_calls", "content_filter", "error", "other"}

// String returns the wire value: "" for FinishNone.
func (f FinishReason) String() string {
	if int(f) < len(finishNames) {
		return finishNames[f]
	}
	return "other"
}

// ParseFinishReason maps a finish_reason value to a FinishReason without allocating: "" is
// FinishNone, an unknown value FinishOther.
func ParseFinishReason(b []byte) FinishReason {
	switch string(b) {
	case "":
		return FinishNone
	case "stop":
		return FinishStop
	case "length":
		return FinishLength
	case "tool_calls", "function_call":
		return FinishToolCalls
	case "content_filter":
		return FinishContentFilter
	case "error":
		return FinishError
	}
	return FinishOther
}

// MaxUpstreamIDLen bounds the provider response ids a record keeps; longer ones are cut.
// Real ids are 30–40 bytes ("chatcmpl-" + 29, "msg_01" + 22).
const MaxUpstreamIDLen = 64

// UpstreamID is a provider's response id, held in the record itself so that taking it from a
// response does not allocate. Only printable ASCII other than '"' and '\' is kept, and the id
// ends at the first other byte or at MaxUpstreamIDLen bytes: it came from a provider's body
// and is stored and served as text.
type UpstreamID struct {
	n uint8
	b [MaxUpstreamIDLen]byte
}

// Set replaces the id with the leading printable part of v.
func (u *UpstreamID) Set(v []byte) { u.n = uint8(setText(u.b[:], v)) }

// SetString is Set for a string.
func (u *UpstreamID) SetString(v string) { u.n = uint8(setText(u.b[:], v)) }

// IsZero reports whether no id was recorded.
func (u *UpstreamID) IsZero() bool { return u.n == 0 }

// String returns the id, "" if none. It allocates: for the store and the API, not the proxy.
func (u UpstreamID) String() string { return string(u.b[:u.n]) }

// Bytes returns the id backed by u itself, without allocating (for encoders).
func (u *UpstreamID) Bytes() []byte { return u.b[:u.n] }

// NativeFinishReason is a provider's own finish reason ("end_turn", "MAX_TOKENS", "eos"),
// held like UpstreamID in a fixed array, cut at 32 bytes (the longest known is 29).
type NativeFinishReason struct {
	n uint8
	b [32]byte
}

// Set replaces the reason with the leading printable part of v.
func (f *NativeFinishReason) Set(v []byte) { f.n = uint8(setText(f.b[:], v)) }

// SetString is Set for a string.
func (f *NativeFinishReason) SetString(v string) { f.n = uint8(setText(f.b[:], v)) }

// IsZero reports whether no reason was recorded.
func (f *NativeFinishReason) IsZero() bool { return f.n == 0 }

// String returns the reason, "" if none. It allocates.
func (f NativeFinishReason) String() string { return string(f.b[:f.n]) }

// Bytes returns the reason backed by f itself, without allocating (for encoders).
func (f *NativeFinishReason) Bytes() []byte { return f.b[:f.n] }

// setText copies the leading run of printable ASCII of v (no quote, no backslash) into dst, as
// much as fits, zeroes the rest of dst, and returns the length copied.
func setText[S string | []byte](dst []byte, v S) int {
	n := 0
	for n < len(v) && n < len(dst) {
		c := v[n]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			break
		}
		dst[n] = c
		n++
	}
	clear(dst[n:]) // so that equal values compare equal (records are compared with ==)
	return n
}
