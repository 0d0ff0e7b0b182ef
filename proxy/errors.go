package proxy

import (
	"encoding/json"
	"net/http"

	"github.com/valyala/fasthttp"
)

// apiError is an error in the gateway's wire shape:
//
//	{"error":{"code":<status>,"message":"…","type":"…","metadata":{…}}}
//
// code and message are OpenRouter's shape; type mirrors OpenAI's so that SDKs fill their
// error classes' type field too. Errors known at start-up are rendered once.
type apiError struct {
	status   int
	message  string
	metadata map[string]string
	header   [2]string // optional response header (name, value), e.g. Retry-After
	body     []byte
}

func newAPIError(status int, message string, metadata map[string]string) *apiError {
	e := &apiError{status: status, message: message, metadata: metadata}
	e.body = e.render()
	return e
}

func (e *apiError) Error() string { return e.message }

func (e *apiError) render() []byte {
	type inner struct {
		Code     int               `json:"code"`
		Message  string            `json:"message"`
		Type     string            `json:"type"`
		Metadata map[string]string `json:"metadata,omitempty"`
	}
	b, _ := json.Marshal(struct {
		Error inner `json:"error"`
	}{inner{e.status, e.message, errorType(e.status), e.metadata}})
	return b
}

// errorType maps a status to the OpenAI error type an SDK user would expect.
func errorType(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed,
		http.StatusRequestEntityTooLarge, http.StatusRequestHeaderFieldsTooLarge:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "insufficient_quota"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return "timeout_error"
	default:
		return "api_error"
	}
}

// write sends e as the whole response.
func (e *apiError) write(ctx *fasthttp.RequestCtx) {
	ctx.Response.Reset()
	ctx.SetStatusCode(e.status)
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	if e.header[0] != "" {
		ctx.Response.Header.Set(e.header[0], e.header[1])
	}
	ctx.Response.SetBodyRaw(e.body)
	errorsByStatus(e.status).Inc()
}

var contentTypeJSON = []byte("application/json")

// Request errors known in advance.
var (
	errEmptyBody           = newAPIError(400, "request body is empty; send a JSON chat completion request", nil)
	errMalformedJSON       = newAPIError(400, "request body is not valid JSON", nil)
	errNotObject           = newAPIError(400, "request body must be a JSON object", nil)
	errEscapedKey          = newAPIError(400, "object keys with escape sequences are not accepted; write keys as plain strings", nil)
	errMissingModel        = newAPIError(400, `"model" is required: name a model from GET /v1/models`, nil)
	errModelNotString      = newAPIError(400, `"model" must be a string of at most 256 bytes`, nil)
	errDuplicateModel      = newAPIError(400, `"model" appears more than once in the request body`, nil)
	errDuplicateStream     = newAPIError(400, `"stream" appears more than once in the request body`, nil)
	errDuplicateStreamOpts = newAPIError(400, `"stream_options" appears more than once in the request body`, nil)
	errStreamNotBool       = newAPIError(400, `"stream" must be true or false`, nil)
	errBodyTooLarge        = newAPIError(413, "request body is larger than the gateway accepts (server.max_request_body)", nil)
	errHeadersTooLarge     = newAPIError(431, "request headers are too large", nil)
	errBadRequest          = newAPIError(400, "malformed HTTP request", nil)
	errRequestTimeout      = newAPIError(408, "the request was not received in time", nil)

	errMissingKey = newAPIError(401, "missing API key: send Authorization: Bearer <key> (create one with `arouter keys create`)", nil)
	errBadKey     = newAPIError(401, "invalid API key", nil)
	errDisabled   = newAPIError(401, "API key is disabled", nil)
	errExpired    = newAPIError(401, "API key has expired", nil)
	errKeyStore   = newAPIError(503, "the key store is unavailable; retry shortly", nil)

	errNotFound = newAPIError(404, "no such endpoint; see the README for the API", nil)
)

// unknownModel names the model the client asked for, so the mistake is obvious.
func unknownModel(model []byte) *apiError {
	return newAPIError(404, "model "+string(model)+" is not available; GET /v1/models lists the models this gateway serves", nil)
}

// methodNotAllowed says which method the path takes.
func methodNotAllowed(allow string) *apiError {
	e := newAPIError(405, "method not allowed; use "+allow, nil)
	e.header = [2]string{"Allow", allow}
	return e
}
