package proxy

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/apierror"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
)

// apiError is an error in the gateway's wire shape (package apierror). Errors known at
// start-up are rendered once.
type apiError struct {
	status   int
	message  string
	param    string // the request field at fault, when known (OpenAI's error.param)
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
	return apierror.BodyWithParam(e.status, e.message, e.param, e.metadata)
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
	errMissingMessages     = newAPIError(400, `"messages" is required: the conversation so far, e.g. [{"role":"user","content":"Hello"}]`, nil)
	errMessagesNotArray    = newAPIError(400, `"messages" must be an array of messages, e.g. [{"role":"user","content":"Hello"}]`, nil)
	errDuplicateMessages   = newAPIError(400, `"messages" appears more than once in the request body`, nil)
	errEmptyMessages       = newAPIError(400, `"messages" is empty: send at least one message, e.g. [{"role":"user","content":"Hello"}]`, nil)
	errDuplicateModel      = newAPIError(400, `"model" appears more than once in the request body`, nil)
	errDuplicateStream     = newAPIError(400, `"stream" appears more than once in the request body`, nil)
	errDuplicateStreamOpts = newAPIError(400, `"stream_options" appears more than once in the request body`, nil)
	errStreamNotBool       = newAPIError(400, `"stream" must be true or false`, nil)
	errDuplicateRouting    = newAPIError(400, `"models", "route", "provider" and "usage" may each appear only once`, nil)
	errBodyTooLarge        = newAPIError(413, "request body is larger than the gateway accepts (server.max_request_body)", nil)
	errHeadersTooLarge     = newAPIError(431, "request headers are too large", nil)
	errBadRequest          = newAPIError(400, "malformed HTTP request", nil)
	errRequestTimeout      = newAPIError(408, "the request was not received in time", nil)

	errMissingKey = newAPIError(401, "missing API key: send Authorization: Bearer <key> (create one with `arouter keys create`)", nil)
	errBadKey     = newAPIError(401, "invalid API key", nil)
	errDisabled   = newAPIError(401, "API key is disabled", nil)
	errExpired    = newAPIError(401, "API key has expired", nil)
	errKeyStore   = newAPIError(503, "the key store is unavailable; retry shortly", nil)
	// errAccountingFull: the store has not taken usage records for so long that the spool
	// holding them is full (accounting.spool_full: refuse).
	errAccountingFull = newAPIError(503, "the gateway cannot record usage right now (its store has been unreachable long enough to fill the accounting spool); retry later", nil)

	// errBudgetUnavailable: the budget replicas share (Redis) is unreachable and
	// redis.on_failure is fail_closed.
	errBudgetUnavailable = newAPIError(503, "the gateway cannot check this key's budget right now (its shared budget store is unreachable); retry shortly", nil)

	errManagementKey = newAPIError(403, "management keys cannot call inference endpoints; create an inference key with POST /v1/keys", nil)

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

// modelNotAllowed names the model a key may not call.
func modelNotAllowed(model string) *apiError {
	return newAPIError(403, "model "+model+" is not allowed for this API key; an admin can change the key's allowed_models",
		map[string]string{"model": model})
}

// budgetRefused explains a 402: which limit was reached, how much of it is used, and when it
// starts again.
func budgetRefused(r *budget.Refusal) *apiError {
	if r.Reason == budget.Unavailable {
		return errBudgetUnavailable
	}
	used, limit := r.Used.String(), r.Limit.String()
	if r.Reason == budget.NoCredits {
		return newAPIError(402, "out of credits: this organization has used $"+used+" of $"+limit+
			"; an admin can add credits with POST /v1/credits",
			map[string]string{"limit": "credits", "limit_usd": limit, "used_usd": used})
	}
	md := map[string]string{"limit": "key", "limit_usd": limit, "used_usd": used}
	msg := "API key spend limit reached: $" + used + " of $" + limit
	if r.Reset != apikey.NoReset {
		md["limit_reset"] = r.Reset.String()
		md["resets_at"] = r.ResetsAt.UTC().Format(time.RFC3339)
		msg += " this " + map[apikey.Period]string{apikey.Daily: "day", apikey.Weekly: "week", apikey.Monthly: "month"}[r.Reset] +
			"; it resets at " + md["resets_at"]
	}
	return newAPIError(402, msg+"; raise the key's limit with PATCH /v1/keys/{hash}", md)
}
