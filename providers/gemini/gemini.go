// Package gemini translates between OpenAI chat completions and Google's Gemini API
// (models.generateContent and models.streamGenerateContent with alt=sse): requests, responses,
// the event stream and error bodies.
//
// The provider's base URL is its root, without the API version:
// "https://generativelanguage.googleapis.com". Path supplies /v1beta.
package gemini

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/providers"
)

// Adapter translates for one Gemini API provider. The zero value is ready to use.
type Adapter struct {
	// APIVersion is the path's version segment; "v1beta" when empty (thinking and JSON-schema
	// tool parameters need it).
	APIVersion string
	Now        func() time.Time // "created" of translated responses; time.Now when nil
	// Passthrough names top-level request members copied verbatim into the native request,
	// e.g. "mock" for a mockllm provider, so per-request mock behaviour survives translation.
	// Leave it empty for real providers, which refuse unknown members.
	Passthrough []string
}

var _ providers.Adapter = Adapter{}

// Path returns "/v1beta/models/{model}:generateContent", or ":streamGenerateContent?alt=sse"
// for streams: without alt=sse Gemini streams one JSON array instead of server-sent events.
func (a Adapter) Path(upstreamModel string, stream bool) string {
	v := a.APIVersion
	if v == "" {
		v = "v1beta"
	}
	m := strings.TrimPrefix(upstreamModel, "models/")
	if stream {
		return "/" + v + "/models/" + m + ":streamGenerateContent?alt=sse"
	}
	return "/" + v + "/models/" + m + ":generateContent"
}

// SetAuth sets x-goog-api-key (keeping the key out of URLs and their logs) and the JSON
// content type.
func (Adapter) SetAuth(h *fasthttp.RequestHeader, apiKey string) {
	h.Set("x-goog-api-key", apiKey)
	h.SetContentType("application/json")
}

// apiError is Google's error envelope: {"error":{"code","message","status","details"}}.
type apiError struct {
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type       string `json:"@type"`
			RetryDelay string `json:"retryDelay"`
			Reason     string `json:"reason"`
		} `json:"details"`
	} `json:"error"`
}

// decodeError reads an error body, which streamGenerateContent without alt=sse wraps in an
// array.
func decodeError(body []byte) apiError {
	var e apiError
	if json.Unmarshal(body, &e) == nil && e.Error != nil {
		return e
	}
	var arr []apiError
	if json.Unmarshal(body, &arr) == nil && len(arr) > 0 && arr[0].Error != nil {
		return arr[0]
	}
	return apiError{}
}

// ErrorMessage returns the error's message and status ("RESOURCE_EXHAUSTED"), except that a
// rejected key reports its ErrorInfo reason, "API_KEY_INVALID": Gemini answers a bad key with
// 400 INVALID_ARGUMENT, which would otherwise read as the client's mistake.
func (Adapter) ErrorMessage(body []byte) (message, errType string) {
	e := decodeError(body)
	if e.Error == nil {
		return "", ""
	}
	for _, d := range e.Error.Details {
		if d.Reason == "API_KEY_INVALID" {
			return e.Error.Message, d.Reason
		}
	}
	return e.Error.Message, e.Error.Status
}

// RetryAfter reads google.rpc.RetryInfo's retryDelay ("7s", "0.5s") from a 429 body, rounded
// up to whole seconds: Gemini says when to retry there, not in a Retry-After header.
func (Adapter) RetryAfter(body []byte) string {
	e := decodeError(body)
	if e.Error == nil {
		return ""
	}
	for _, d := range e.Error.Details {
		if !strings.HasSuffix(d.Type, "google.rpc.RetryInfo") {
			continue
		}
		s, ok := strings.CutSuffix(d.RetryDelay, "s")
		if !ok {
			return ""
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > 86400 {
			return ""
		}
		return strconv.Itoa(int(math.Ceil(f)))
	}
	return ""
}

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
