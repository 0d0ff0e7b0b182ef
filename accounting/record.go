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

	// Bodies holds the request and the answer when prompt logging is on for the request's key;
	// nil otherwise, which is the default and costs nothing. Only the store's prompt-logging
	// table receives it: Recent drops it, and it must never reach a log line or a metric.
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

// size is what b holds in memory, for the writer's bound on queued bodies.
func (b *Bodies) size() int64 { return int64(cap(b.Request) + cap(b.Response)) }

// ErrRecordNotFound is returned (wrapped) by stores that have no record of a generation id.
var ErrRecordNotFound = errors.New("usage record not found")
