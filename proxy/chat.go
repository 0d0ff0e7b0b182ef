package proxy

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/balancer"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/health"
	"github.com/arouter/arouter/money"
)

// chat serves POST /v1/chat/completions: authenticate, parse, route, forward, relay, account.
func (s *Server) chat(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	key, e := s.authenticate(ctx, start)
	if e != nil {
		e.write(ctx)
		return
	}
	var req chatRequest
	if e := req.parse(ctx.PostBody()); e != nil {
		e.write(ctx)
		return
	}
	model := s.cat.Lookup(req.model)
	if model == nil {
		unknownModel(req.model).write(ctx)
		return
	}
	if !key.AllowsModel(model.ID) {
		modelNotAllowed(model.ID).write(ctx)
		return
	}
	reservation, refusal := s.budget.Reserve(key, s.estimate(model, &req, len(ctx.PostBody())), start)
	if refusal.Reason != budget.Admitted {
		budgetRefused(&refusal).write(ctx)
		return
	}
	x := exchange{
		model:       model,
		reservation: reservation,
		rec: accounting.Record{
			GenerationID: accounting.NewGenerationID(start),
			Time:         start,
			KeyID:        key.ID,
			OrgID:        key.OrgID,
			BudgetID:     key.BudgetID,
			Model:        model.ID,
			Streamed:     req.stream,
		},
	}
	if req.stream {
		chatStreamRequests.Inc()
	} else {
		chatRequests.Inc()
	}
	// Try the model's deployments in order until one answers. A failure is retried on the next
	// deployment only while nothing has reached the client and the provider is to blame.
	var tried balancer.Tried
	var last *upstreamError
	for {
		dep, pos, done, err := s.bal.Pick(model, tried)
		if err != nil {
			if last != nil {
				s.answerFailure(ctx, &x, last)
			} else {
				s.budget.Settle(x.reservation, 0, time.Now())
				noProvider(err).write(ctx)
			}
			return
		}
		x.attempt(&s.routes[dep.Index], dep, done)
		var e *upstreamError
		if req.stream {
			e = s.forwardStream(ctx, &req, &x)
		} else {
			e = s.forward(ctx, &req, &x)
		}
		if e == nil {
			return
		}
		x.done(e.breakerErr())
		if !e.retryable() {
			s.answerFailure(ctx, &x, e)
			return
		}
		failovers.Inc()
		x.providerFailed = e.providerFault
		s.observe(&x, time.Now())
		tried, last = tried.With(pos), e
	}
}

// exchange is one request's journey to a deployment and back.
type exchange struct {
	rt    *route
	dep   *catalog.Deployment
	model *catalog.Model
	done  balancer.Done // the breaker's report; called exactly once
	// reservation is the budget admission set aside; account settles it to the true cost.
	reservation budget.Reservation
	rec         accounting.Record
	usage       catalog.Usage
	// upstreamTTFB is when the provider's headers arrived; providerFailed says the provider,
	// not the client, is to blame for a failure. Both feed health statistics.
	upstreamTTFB   time.Duration
	providerFailed bool
	observed       bool // this attempt's outcome has gone to the health tracker
}

// attempt points x at a deployment for the next try.
func (x *exchange) attempt(rt *route, dep *catalog.Deployment, done balancer.Done) {
	x.rt, x.dep, x.done = rt, dep, done
	x.rec.Provider, x.rec.UpstreamModel = dep.Provider, dep.UpstreamModel
	x.upstreamTTFB, x.providerFailed, x.observed = 0, false, false
}

// estimate is the most a request may cost, which admission reserves: every byte of the body
// counted as a prompt token (a token is rarely shorter than a byte, so this bounds the prompt
// from above) and the completion at the client's max_tokens or the gateway's default.
func (s *Server) estimate(m *catalog.Model, req *chatRequest, bodyLen int) money.Nanos {
	completion := req.maxTokens
	if completion == 0 {
		completion = int64(s.opts.DefaultMaxTokens)
	}
	return m.Prices.Cost(&catalog.Usage{Prompt: int64(bodyLen), Completion: completion})
}

var bearer = []byte("bearer ")

// authenticate returns the request's key or the error to answer with. On a cache hit it
// neither allocates nor touches the store.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx, now time.Time) (*apikey.Key, *apiError) {
	auth := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	if len(auth) < len(bearer) || !equalFoldASCII(auth[:len(bearer)], bearer) {
		return nil, errMissingKey
	}
	token := bytes.TrimSpace(auth[len(bearer):])
	// A token that cannot be ours is refused without hashing or a cache lookup.
	if bytes.HasPrefix(token, []byte(apikey.ManagementPrefix)) {
		return nil, errManagementKey
	}
	if len(token) != apikey.TokenLen || !bytes.HasPrefix(token, []byte(apikey.Prefix)) {
		return nil, errBadKey
	}
	h := apikey.HashToken(token)
	k, err := s.keys.Lookup(context.Background(), h, now)
	if err != nil {
		if errors.Is(err, apikey.ErrNotFound) {
			return nil, errBadKey
		}
		s.log.Error("key lookup failed", zap.Error(err))
		return nil, errKeyStore
	}
	// Defence in depth: whatever the lookup did, the record must carry exactly this hash.
	if subtle.ConstantTimeCompare(k.Hash[:], h[:]) != 1 {
		return nil, errBadKey
	}
	switch k.Usable(now) {
	case nil:
		return k, nil
	case apikey.ErrDisabled:
		return nil, errDisabled
	default:
		return nil, errExpired
	}
}

// equalFoldASCII compares a with a lower-case ASCII string, ignoring the case of letters only.
func equalFoldASCII(a, lower []byte) bool {
	for i := range lower {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// forward relays a non-streaming request and writes the provider's body back with the cost
// added to its usage object. On failure it writes nothing and returns the error, so the caller
// may try another deployment.
func (s *Server) forward(ctx *fasthttp.RequestCtx, req *chatRequest, x *exchange) *upstreamError {
	up := x.rt.up
	ureq := fasthttp.AcquireRequest()
	uresp := fasthttp.AcquireResponse()
	body := bytebufferpool.Get()
	defer func() {
		fasthttp.ReleaseRequest(ureq)
		fasthttp.ReleaseResponse(uresp)
		bytebufferpool.Put(body)
	}()
	up.prepare(ureq, false)
	body.B = req.appendUpstreamBody(body.B, ctx.PostBody(), x.rt.quotedModel)
	ureq.SetBodyRaw(body.B)

	upStart := time.Now()
	err := up.client.DoTimeout(ureq, uresp, up.requestTimeout)
	up.metrics.requests.Inc()
	up.metrics.duration.UpdateDuration(upStart)
	x.upstreamTTFB = time.Since(x.rec.Time)
	if err != nil {
		return upstreamTransportError(up.id, err)
	}
	if status := uresp.StatusCode(); status != fasthttp.StatusOK {
		return upstreamStatusError(up.id, status, uresp.Body(), uresp.Header.Peek(fasthttp.HeaderRetryAfter))
	}
	out, ok := addCostToResponse(uresp.SwapBody(nil), x)
	if !ok {
		uresp.SwapBody(out)
		return upstreamMalformed(up.id)
	}
	x.done(nil)
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	ctx.Response.Header.SetBytesKV(headerGenerationID, x.rec.GenerationID.Bytes())
	// Hand the body buffer over instead of copying it; the server's spare buffer goes back to
	// the upstream response so both pools stay balanced.
	uresp.SwapBody(ctx.Response.SwapBody(out))
	s.account(x, fasthttp.StatusOK)
	return nil
}

var headerGenerationID = []byte("X-Generation-Id")

// addCostToResponse reads usage from a chat.completion body and writes "cost" into it. ok is
// false when the body is not a JSON object. A body without usage is passed on unchanged.
func addCostToResponse(b []byte, x *exchange) ([]byte, bool) {
	it, ok := newObjectIter(b)
	if !ok {
		return b, false
	}
	for {
		key, _, vs, ve, ok := it.next()
		if !ok {
			break
		}
		if string(key) == "usage" && b[vs] == '{' {
			return addCost(b, vs, ve, x), true
		}
	}
	return b, !it.failed()
}

// addCost reads the usage object at b[vs:ve], prices it, and writes the cost into the object:
// replacing a "cost" the provider sent (an upstream gateway's) or appending one.
func addCost(b []byte, vs, ve int, x *exchange) []byte {
	if !readUsage(b[vs:ve], &x.usage) {
		return b
	}
	x.rec.Cost = x.model.Prices.Cost(&x.usage)
	var buf [48]byte
	frag := append(buf[:0], `,"cost":`...)
	frag = money.AppendUSD(frag, x.rec.Cost)
	it, _ := newObjectIter(b[vs:ve])
	members := 0
	for {
		key, _, cs, ce, ok := it.next()
		if !ok {
			break
		}
		members++
		if string(key) == "cost" {
			return splice(b, vs+cs, vs+ce, frag[len(`,"cost":`):])
		}
	}
	if members == 0 {
		frag = frag[1:] // no comma in an empty object
	}
	return splice(b, ve-1, ve-1, frag)
}

// splice replaces b[from:to] with v in place, growing b if needed.
func splice(b []byte, from, to int, v []byte) []byte {
	delta := len(v) - (to - from)
	oldLen := len(b)
	if delta > 0 {
		b = append(b, v[:delta]...) // grow; the bytes are overwritten below
	}
	copy(b[to+delta:], b[to:oldLen])
	copy(b[from:], v)
	if delta < 0 {
		b = b[:oldLen+delta]
	}
	return b
}

// answerFailure answers a request whose last attempt failed, and records it. The breaker has
// already been told.
func (s *Server) answerFailure(ctx *fasthttp.RequestCtx, x *exchange, e *upstreamError) {
	x.providerFailed = e.providerFault
	e.api.write(ctx)
	ctx.Response.Header.SetBytesKV(headerGenerationID, x.rec.GenerationID.Bytes())
	x.rec.ErrorCode = e.code
	s.account(x, e.api.status)
}

// observe reports the current attempt's outcome to the health tracker, once.
func (s *Server) observe(x *exchange, now time.Time) {
	if x.observed {
		return
	}
	x.observed = true
	o := health.Outcome{OK: !x.providerFailed, TTFB: x.upstreamTTFB, Latency: now.Sub(x.rec.Time)}
	if x.rec.Streamed {
		o.CompletionTokens = x.usage.Completion // a buffered body has no generation time to divide by
	}
	s.health.Observe(x.dep.Index, o, now)
}

// account finishes the record and hands it to the accounting queue.
func (s *Server) account(x *exchange, status int) {
	now := time.Now()
	r := &x.rec
	r.Status = status
	r.Latency = now.Sub(r.Time)
	if r.TTFB == 0 {
		r.TTFB = r.Latency
	}
	r.PromptTokens = x.usage.Prompt
	r.CompletionTokens = x.usage.Completion
	r.ReasoningTokens = x.usage.Reasoning
	r.CachedTokens = x.usage.Cached
	r.CacheWriteTokens = x.usage.CacheWrite
	s.budget.Settle(x.reservation, r.Cost, now)
	countUsage(&x.usage, r.Cost)
	chatDuration.Update(r.Latency.Seconds())
	if !r.Cancelled {
		s.observe(x, now)
	}
	if !s.records.Enqueue(r) {
		accountingDrops.Inc()
	}
}
