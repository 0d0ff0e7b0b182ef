// Package accounting turns finished requests into usage records and moves them to a store
// without ever making a request wait: records go through a bounded queue to a batch writer.
package accounting

import (
	"errors"
	"time"

	"github.com/arouter/arouter/money"
)

// Record is the metadata of one request that reached a provider. It deliberately has no field
// that could hold prompt or completion text. Strings in it point at configuration (model and
// provider ids), so building a Record does not allocate.
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
}

// ErrRecordNotFound is returned (wrapped) by stores that have no record of a generation id.
var ErrRecordNotFound = errors.New("usage record not found")
