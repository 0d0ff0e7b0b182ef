// Package providers is what the gateway needs to know about provider adapters in general: the
// method set every native-API adapter (providers/anthropic, providers/gemini) implements, the
// errors they return, and the SSE helpers a stream relay needs around them.
//
// An adapter translates OpenAI chat completions to a provider's native API and back, so that
// clients speak one format to every provider. Translation allocates; it is only on the routes
// of providers that need it, never on the OpenAI-compatible passthrough.
package providers

import (
	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/providers/internal/oai"
)

// Adapter is the method set of every native-API adapter. The packages' Adapter types satisfy
// it; the proxy may use it or declare its own subset.
type Adapter interface {
	// Path is the request path and query, relative to the provider's root base URL (scheme and
	// host, no path: "https://api.anthropic.com"). It allocates: cache it per deployment.
	Path(upstreamModel string, stream bool) string
	// SetAuth sets the credential and protocol headers, and the JSON content type.
	SetAuth(h *fasthttp.RequestHeader, apiKey string)
	// TranslateRequest appends the native request for an OpenAI chat-completions body.
	// Errors are *RequestError (answer 400).
	TranslateRequest(dst, openAIBody []byte, upstreamModel string) ([]byte, error)
	// TranslateResponse appends the OpenAI chat.completion body for a native 200 response
	// and fills u, and n when it is not nil. The body has no "cost"; the gateway adds it.
	// Errors wrap ErrMalformed or are *UpstreamError.
	TranslateResponse(dst, nativeBody []byte, model string, u *catalog.Usage, n *Native) ([]byte, error)
	// ErrorMessage reads a native error body: the provider's message and error type, both
	// empty when the body is not the provider's error shape.
	ErrorMessage(nativeBody []byte) (message, errType string)
	// RetryAfter returns the retry delay a native error body carries, in whole seconds as a
	// Retry-After value, or "" when it carries none (then use the response header).
	RetryAfter(nativeBody []byte) string
	// NewStream returns a translator for one streamed response.
	NewStream(model, id string, created int64) Stream
}

// Stream translates one provider event stream into OpenAI chunks, event by event.
type Stream interface {
	// Event consumes one upstream SSE event (its event name, nil when absent, and its data)
	// and appends zero or more complete OpenAI frames ("data: {…}\n\n") to dst. It never
	// writes "data: [DONE]" or the usage chunk. Errors are *UpstreamError (the provider
	// reported an error in the stream) or wrap ErrMalformed; dst is returned either way,
	// holding any frames appended before the error.
	Event(dst, event, data []byte) ([]byte, error)
	// Usage is the usage reported so far, OpenAI-normalised.
	Usage() catalog.Usage
	// Finished reports whether the provider said the answer is complete. A stream that ends
	// before this is an interrupted stream.
	Finished() bool
	// Native is what the provider said about its answer so far in its own terms: its
	// response id and, once it came, its finish reason.
	Native() Native
}

// Native is what a provider said about its answer in its own terms, for the usage record
// (the OpenAI answer the client gets carries only the normalised finish_reason). Either is
// empty when the provider did not send it.
type Native struct {
	ID           string // the provider's id for the response: Anthropic's "msg_…", Gemini's responseId
	FinishReason string // its own finish reason: Anthropic's stop_reason, Gemini's finishReason
}

// RequestError is a client request that cannot be translated; answer 400 naming Field.
type RequestError = oai.RequestError

// UpstreamError is an error the provider reported, with its own type and message.
type UpstreamError = oai.UpstreamError

// ErrMalformed is wrapped by errors about bodies or events that are not the provider's format.
var ErrMalformed = oai.ErrMalformed

// AppendUsageChunk appends OpenAI's final usage frame (choices: [], usage: {…}) of a translated
// stream, for the gateway to send (after pricing it) before "data: [DONE]".
func AppendUsageChunk(dst []byte, id, model string, created int64, u *catalog.Usage) []byte {
	return oai.AppendUsageChunk(dst, id, model, created, u)
}

// AppendUsage appends an OpenAI usage object (prompt_tokens … completion_tokens_details).
func AppendUsage(dst []byte, u *catalog.Usage) []byte { return oai.AppendUsage(dst, u) }
