package proxy

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/balancer"
)

// upstreamError is a failed exchange with a provider: what the client is told, the record's
// error code, and whether the provider is to blame (which feeds its circuit breaker).
type upstreamError struct {
	api           *apiError
	code          string
	providerFault bool
	// retryAt is when a provider that answered 429 or 503 asked to be tried again (its
	// Retry-After, or a short default for a 429): the deployment is skipped until then.
	retryAt time.Time
	// tryElsewhere: not the provider's fault, but another deployment may serve.
	tryElsewhere bool
	// credentialRefused: the provider refused the credential (401/403). On an organization's
	// own key that says nothing about the provider's health.
	credentialRefused bool
	// accountScoped: the answer (401, 403, 404, 429) is about the account behind the
	// credential, not the deployment. Made with an organization's own key, it must not open
	// the breaker, cool down or mark unhealthy what every other tenant shares.
	accountScoped bool
}

// ownKeyOnly reports whether e, from an attempt made with an organization's own key, says
// something about that key's account only.
func (e *upstreamError) ownKeyOnly(ownKey bool) bool {
	return ownKey && e != nil && e.accountScoped
}

// defaultRateLimitCoolDown is how long a deployment that answered 429 without Retry-After is
// skipped: long enough to stop hammering it, short enough not to matter if it was a blip.
const defaultRateLimitCoolDown = 2 * time.Second

var errProviderFault = errors.New("provider failure")

// retryable says whether another deployment may be tried: the provider failed or limited us,
// and the request itself was fine.
func (e *upstreamError) retryable() bool {
	return e.providerFault || e.tryElsewhere || e.api.status == 429
}

// breakerErr is the attempt's outcome for the deployment's circuit breaker: nil for success
// (e nil) or a failure that is not the provider's.
func (e *upstreamError) breakerErr() error {
	if e != nil && e.providerFault {
		return errProviderFault
	}
	return nil
}

func upstreamTransportError(provider string, err error) *upstreamError {
	var ne net.Error
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		upstreamErrTimeout.Inc()
		return &upstreamError{
			api:           newAPIError(504, "provider "+provider+" did not respond in time", map[string]string{"provider": provider}),
			code:          "upstream_timeout",
			providerFault: true,
		}
	}
	upstreamErrConnect.Inc()
	return &upstreamError{
		api:           newAPIError(502, "could not reach provider "+provider+": "+err.Error(), map[string]string{"provider": provider}),
		code:          "upstream_connect",
		providerFault: true,
	}
}

// upstreamStatusError maps a provider's non-200 answer. Request errors the client can fix keep
// their status; problems with the gateway's own credentials or configuration become 502, since
// the client cannot fix them; rate limits stay 429 and say who limited.
func upstreamStatusError(provider string, status int, body, retryAfter []byte) *upstreamError {
	upstreamErrStatus.Inc()
	msg := stringAt(body, "error", "message")
	if msg == "" {
		msg = "provider " + provider + " answered HTTP " + strconv.Itoa(status)
	}
	meta := map[string]string{"provider": provider, "provider_status": strconv.Itoa(status)}
	e := &upstreamError{code: "upstream_status", accountScoped: status == 401 || status == 403 || status == 404 || status == 429}
	if status == 429 || status == 503 {
		now := time.Now()
		if at, ok := balancer.ParseRetryAfter(retryAfter, now); ok {
			e.retryAt = at
		} else if status == 429 {
			e.retryAt = now.Add(defaultRateLimitCoolDown)
		}
	}
	switch {
	case status == 429:
		meta["limited_by"] = "upstream"
		e.api = newAPIError(429, "rate limited by provider "+provider+": "+msg, meta)
		if len(retryAfter) > 0 {
			e.api.header = [2]string{"Retry-After", string(retryAfter)}
		}
	case status == 400 || status == 413 || status == 422:
		// The client fixes these, so what the provider said about them passes on: the field at
		// fault, and its own code (context_length_exceeded, say), which cannot take the place
		// of our numeric code.
		if code := stringAt(body, "error", "code"); code != "" {
			meta["provider_code"] = code
		}
		e.api = &apiError{status: status, message: msg, param: stringAt(body, "error", "param"), metadata: meta}
		e.api.body = e.api.render()
	case status == 408:
		e.api = newAPIError(504, "provider "+provider+" timed out: "+msg, meta)
		e.providerFault = true
	default: // 401/403 (our credentials), 404 (our model mapping), 5xx
		e.api = newAPIError(502, "provider "+provider+" failed: "+msg, meta)
		e.providerFault = true
		e.credentialRefused = status == 401 || status == 403
	}
	return e
}

// upstreamFirstByteTimeout: a stream's headers or first event did not come in time.
func upstreamFirstByteTimeout(provider string) *upstreamError {
	upstreamErrTimeout.Inc()
	return &upstreamError{
		api:           newAPIError(504, "provider "+provider+" sent no first event within its first_byte_timeout", map[string]string{"provider": provider}),
		code:          "upstream_timeout",
		providerFault: true,
	}
}

func upstreamMalformed(provider string) *upstreamError {
	upstreamErrMalform.Inc()
	return &upstreamError{
		api:           newAPIError(502, "provider "+provider+" returned a malformed response", map[string]string{"provider": provider}),
		code:          "upstream_malformed",
		providerFault: true,
	}
}

// noProvider answers when no deployment is left to try, naming each and why it was not used
// (tried and failed, circuit open, cooling down), with Retry-After when one frees up soon.
func noProvider(err error) *apiError {
	if err == nil { // not reached: every way out of the failover loop says why
		err = errors.New("no provider could serve the request")
	}
	var nd *balancer.NoDeploymentError
	if !errors.As(err, &nd) {
		return newAPIError(503, err.Error(), nil)
	}
	e := newAPIError(503, nd.Error(), map[string]string{"model": nd.Model})
	if ra := nd.RetryAfter(); ra > 0 {
		e.header = [2]string{"Retry-After", strconv.Itoa(int(ra / time.Second))}
	}
	return e
}

// gaveUpError says the failover loop stopped on one of its bounds (routing.max_attempts or
// routing.failover_timeout) with deployments perhaps still untried; it lists what was tried.
type gaveUpError struct {
	bound    string
	attempts []balancer.Attempt
}

var (
	errAttemptLimit     = &gaveUpError{bound: "routing.max_attempts"}
	errFailoverDeadline = &gaveUpError{bound: "routing.failover_timeout"}
)

// with returns a copy of e that names the request's attempts. It copies them: a stays the
// request's (on its stack).
func (e *gaveUpError) with(a *balancer.Attempts) *gaveUpError {
	return &gaveUpError{bound: e.bound, attempts: append([]balancer.Attempt(nil), a.List()...)}
}

func (e *gaveUpError) Error() string {
	var sb strings.Builder
	sb.WriteString("no provider answered before the gateway reached ")
	sb.WriteString(e.bound)
	for i, at := range e.attempts {
		if i == 0 {
			sb.WriteString(": ")
		} else {
			sb.WriteString("; ")
		}
		sb.WriteString(at.Deployment.Name())
		if at.Err != nil {
			sb.WriteString(" failed (")
			sb.WriteString(at.Err.Error())
			sb.WriteByte(')')
		}
	}
	return sb.String()
}
