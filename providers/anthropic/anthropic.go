// Package anthropic translates between OpenAI chat completions and Anthropic's Messages API
// (POST /v1/messages): requests, responses, the event stream and error bodies.
//
// The provider's base URL is its root, without /v1: "https://api.anthropic.com", as in
// Anthropic's SDKs. Path supplies the version prefix.
package anthropic

import (
	"encoding/json"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/providers"
)

// Version is the anthropic-version header sent when Adapter.Version is empty: the API version
// whose wire format this package implements.
const Version = "2023-06-01"

// DefaultMaxTokens is the output cap sent when the client sets none: Anthropic requires one,
// OpenAI does not.
const DefaultMaxTokens = 4096

// Adapter translates for one Anthropic-compatible provider. The zero value is ready to use.
type Adapter struct {
	Version          string           // anthropic-version header; Version when empty
	DefaultMaxTokens int64            // max_tokens when the client sets none; DefaultMaxTokens when 0
	Now              func() time.Time // "created" of translated responses; time.Now when nil
	// Passthrough names top-level request members copied verbatim into the native request,
	// e.g. "mock" for a mockllm provider, so per-request mock behaviour survives translation.
	// Leave it empty for real providers, which refuse unknown members.
	Passthrough []string
}

var _ providers.Adapter = Adapter{}

// Path returns the Messages endpoint; the model and streaming travel in the body.
func (Adapter) Path(string, bool) string { return "/v1/messages" }

// SetAuth sets x-api-key, anthropic-version and the JSON content type.
func (a Adapter) SetAuth(h *fasthttp.RequestHeader, apiKey string) {
	h.Set("x-api-key", apiKey)
	v := a.Version
	if v == "" {
		v = Version
	}
	h.Set("anthropic-version", v)
	h.SetContentType("application/json")
}

// ErrorMessage reads {"type":"error","error":{"type":…,"message":…}}.
func (Adapter) ErrorMessage(body []byte) (message, errType string) {
	var e struct {
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == nil {
		return "", ""
	}
	return e.Error.Message, e.Error.Type
}

// RetryAfter returns "": Anthropic says when to retry in the retry-after header, not the body.
func (Adapter) RetryAfter([]byte) string { return "" }

// NewStream returns a translator for one streamed response.
func (Adapter) NewStream(model, id string, created int64) providers.Stream {
	return NewStream(model, id, created)
}

func (a Adapter) now() int64 {
	if a.Now != nil {
		return a.Now().Unix()
	}
	return time.Now().Unix()
}
