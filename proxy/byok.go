package proxy

import (
	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/money"
)

// Bring your own key. An organization may store its own credential for a provider; its
// requests to that provider then use it first (prefer), only after the platform's key failed
// (fallback), or exclusively (only). Both credentials of one deployment are tried within one
// attempt, so the deployment's circuit breaker judges the provider, not a bad BYOK key.

// credentialPlan is the order in which one deployment's credentials are tried: nil stands for
// the platform's key.
type credentialPlan struct {
	creds [2]*byok.Credential
	n     int
}

// planCredentials returns the credentials to try on provider for orgID, and whether the
// organization's credential exists but cannot be used (sealed under another master key).
func (s *Server) planCredentials(orgID int64, provider string) (p credentialPlan, unusable bool) {
	if s.opts.BYOK == nil {
		return credentialPlan{n: 1}, false
	}
	c, ok := s.opts.BYOK.Lookup(orgID, provider)
	if !ok {
		return credentialPlan{n: 1}, false
	}
	if !c.Usable() {
		if c.Mode == byok.Only {
			return credentialPlan{}, true
		}
		return credentialPlan{n: 1}, true // the platform's key, and the response says so
	}
	switch c.Mode {
	case byok.Only:
		return credentialPlan{creds: [2]*byok.Credential{c}, n: 1}, false
	case byok.Fallback:
		return credentialPlan{creds: [2]*byok.Credential{nil, c}, n: 2}, false
	default: // prefer
		return credentialPlan{creds: [2]*byok.Credential{c, nil}, n: 2}, false
	}
}

// byokUnusable answers a request whose organization must use its own key for a provider
// (mode only) when that key cannot be decrypted: another deployment may still serve.
func byokUnusable(provider string) *upstreamError {
	return &upstreamError{
		api: newAPIError(502, "this organization's own key for provider "+provider+
			" cannot be decrypted (check AROUTER_MASTER_KEY) and its BYOK mode forbids the platform's key",
			map[string]string{"provider": provider}),
		code:         "byok_unusable",
		tryElsewhere: true,
	}
}

// byokRefused rewords a provider's refusal of an organization's own key, so that the
// organization's admins know the fix is theirs (replace the key with POST /v1/byok).
func byokRefused(provider string, c *byok.Credential, e *upstreamError) *upstreamError {
	md := map[string]string{"provider": provider, "byok": "refused", "byok_label": c.Label}
	return &upstreamError{
		api: newAPIError(502, "provider "+provider+" refused this organization's own key ("+c.Label+
			"); an admin can replace it with DELETE and POST /v1/byok", md),
		code: "byok_refused",
	}
}

// setCredential points the upstream request at the organization's own key when the attempt
// uses one; the platform's key was set by prepare.
func (up *upstream) setCredential(req *fasthttp.Request, c *byok.Credential) {
	if c == nil {
		return
	}
	if up.adapter != nil {
		up.adapter.SetAuth(&req.Header, c.Secret)
		return
	}
	req.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+c.Secret)
}

var (
	headerBYOK         = []byte("X-ARouter-BYOK")
	headerBYOKFallback = []byte("X-ARouter-BYOK-Fallback")
	litYes             = []byte("true")
	litPlatform        = []byte("platform")
)

// setBYOKHeaders says on which account the request ran: on the organization's own key, or on
// the platform's after the organization's key failed (so nobody is billed on the wrong
// account without being told).
func (x *exchange) setBYOKHeaders(ctx *fasthttp.RequestCtx) {
	switch {
	case x.cred != nil:
		ctx.Response.Header.SetBytesKV(headerBYOK, litYes)
	case x.byokFellBack:
		ctx.Response.Header.SetBytesKV(headerBYOKFallback, litPlatform)
	}
}

// byokFee is the gateway's charge for a request served on the organization's own key, rounded
// up so no request is free by truncation.
func byokFee(list money.Nanos, percent int) money.Nanos {
	if list <= 0 || percent <= 0 {
		return 0
	}
	return (list*money.Nanos(percent) + 99) / 100
}

// priceBYOK turns x's priced usage into a BYOK charge when the attempt used the organization's
// key: the list price becomes BYOKCost and Cost becomes the fee.
func (x *exchange) priceBYOK(feePercent int) {
	if x.cred == nil {
		return
	}
	x.rec.BYOK = true
	x.rec.BYOKCost = x.rec.Cost
	x.rec.Cost = byokFee(x.rec.BYOKCost, feePercent)
}
