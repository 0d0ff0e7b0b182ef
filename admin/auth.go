package admin

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

// call is one authenticated Management API request.
type call struct {
	ctx *fasthttp.RequestCtx
	p   *tenancy.Principal
	api *API
}

func (c *call) context() context.Context { return context.Background() }

// bearerToken returns the token of an Authorization: Bearer header, or "".
func bearerToken(ctx *fasthttp.RequestCtx) string {
	auth := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	const scheme = "bearer "
	if len(auth) < len(scheme) || !strings.EqualFold(string(auth[:len(scheme)]), scheme) {
		return ""
	}
	return string(bytes.TrimSpace(auth[len(scheme):]))
}

// authenticate resolves the request's management key to its principal.
func (a *API) authenticate(ctx *fasthttp.RequestCtx) (*tenancy.Principal, *apiError) {
	token := bearerToken(ctx)
	switch {
	case token == "":
		return nil, errMissingKey
	case strings.HasPrefix(token, apikey.Prefix):
		return nil, errInferenceKey
	case strings.HasPrefix(token, tenancy.InvitationPrefix):
		return nil, errInvitationAsKey
	case !apikey.IsManagementToken(token):
		return nil, errBadKey
	}
	p, err := a.store.PrincipalByManagementKey(context.Background(), apikey.HashToken([]byte(token)))
	if err != nil {
		if errors.Is(err, tenancy.ErrNotFound) {
			return nil, errBadKey
		}
		a.log.Error("management key lookup failed", zap.Error(err))
		return nil, errStore
	}
	return p, nil
}

// requireAdmin answers 403 and returns false unless the principal administers its context.
func (c *call) requireAdmin() bool {
	if c.p.IsAdmin() {
		return true
	}
	errAdminOnly.write(c.ctx)
	return false
}

// fail answers with err: a known answer, or 503 for a store failure, which is logged.
func (c *call) fail(err error, notFound *apiError) {
	var e *apiError
	if errors.As(err, &e) {
		e.write(c.ctx)
		return
	}
	if e := storeError(err, notFound); e != nil {
		e.write(c.ctx)
		return
	}
	c.api.log.Error("management request failed", zap.ByteString("path", c.ctx.Path()), zap.Error(err))
	errStore.write(c.ctx)
}
