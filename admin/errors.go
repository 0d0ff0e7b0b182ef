package admin

import (
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/apierror"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

// apiError is an error answer in the gateway's shape.
type apiError struct {
	status   int
	message  string
	metadata map[string]string
}

func newError(status int, format string, args ...any) *apiError {
	return &apiError{status: status, message: fmt.Sprintf(format, args...)}
}

func (e *apiError) Error() string { return e.message }

func (e *apiError) write(ctx *fasthttp.RequestCtx) {
	ctx.Response.Reset()
	ctx.SetStatusCode(e.status)
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.SetBody(apierror.Body(e.status, e.message, e.metadata))
}

// badField is a 400 naming the request field at fault.
func badField(field, format string, args ...any) *apiError {
	e := newError(fasthttp.StatusBadRequest, "%s: %s", field, fmt.Sprintf(format, args...))
	e.metadata = map[string]string{"field": field}
	return e
}

var (
	errMissingKey   = newError(401, "missing management key: send Authorization: Bearer <management key> (the instance admin's is printed at first start)")
	errBadKey       = newError(401, "invalid management key")
	errInferenceKey = newError(403, "inference keys cannot call the Management API; use a management key (sk-ar-mgmt-v1-…)")
	errAdminOnly    = newError(403, "this action requires the admin role in this organization")
	errKeyRotated   = newError(409, "this key was rotated already and expires with its grace period; rotate its successor (GET /v1/keys lists it under the same name)")
	errKeyExpired   = newError(409, "this key has expired and cannot be rotated; create a new key, or give it a new expires_at with PATCH /v1/keys/{hash} first")
	// errCreditsByOperator: see addCredits.
	errCreditsByOperator = newError(403, "credits are granted by the instance admin (the operator), not by an organization's Admins; ask them to run: arouter credits add USD --org ID")
	errNoEndpoint        = newError(404, "no such Management API endpoint; see docs/management-api.md")
	errKeyNotFound       = newError(404, "no such API key in this organization; GET /v1/keys (or arouter keys list) shows key hashes")
	errOrgNotFound       = newError(404, "no such organization")
	errUserNotFound      = newError(404, "no such member in this organization")
	errMgmtKeyNotFound   = newError(404, "no such management key of yours in this context; GET /v1/management-keys lists them")
	errLastAdmin         = newError(409, "an organization must keep at least one admin: promote another member first")
	errStore             = newError(503, "the store is unavailable; retry shortly")
)

func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	newError(fasthttp.StatusMethodNotAllowed, "method not allowed; use %s", allow).write(ctx)
	ctx.Response.Header.Set("Allow", allow)
}

// storeError turns a store error into an answer: not-found and conflict errors into theirs,
// anything else into 503 (logged by the caller).
func storeError(err error, notFound *apiError) *apiError {
	switch {
	case errors.Is(err, tenancy.ErrNotFound), errors.Is(err, apikey.ErrNotFound):
		return notFound
	case errors.Is(err, tenancy.ErrLastAdmin):
		return errLastAdmin
	case errors.Is(err, tenancy.ErrExists):
		return newError(409, "already exists")
	case errors.Is(err, apikey.ErrRotated):
		return errKeyRotated
	}
	return nil
}
