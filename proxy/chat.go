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
	dep, done, err := s.bal.Pick(model)
	if err != nil {
		noProvider(err).write(ctx)
		return
	}
	x := exchange{
		rt:    &s.routes[dep.Index],
		dep:   dep,
		model: model,
		done:  done,
		rec: accounting.Record{
			GenerationID:  accounting.NewGenerationID(start),
			Time:          start,
			KeyID:         key.ID,
			Model:         model.ID,
			Provider:      dep.Provider,
			UpstreamModel: dep.UpstreamModel,
			Streamed:      req.stream,
		},
	}
	if req.stream {
		chatStreamRequests.Inc()
		s.forwardStream(ctx, &req, &x)
		return
	}
	chatRequests.Inc()
	s.forward(ctx, &req, &x)
}

// exchange is one request's journey to a deployment and back.
type exchange struct {
	rt    *route
	dep   *catalog.Deployment
	model *catalog.Model
	done  balancer.Done // the breaker's report; called exactly once
	rec   accounting.Record
	usage catalog.Usage
	// upstreamTTFB is when the provider's headers arrived; providerFailed says the provider,
	// not the client, is to blame for a failure. Both feed health statistics.
	upstreamTTFB   time.Duration
	providerFailed bool
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

func equalFoldASCII(a, lower []byte) bool {
	for i := range lower {
		if a[i]|0x20 != lower[i] && !(a[i] == ' ' && lower[i] == ' ') {
			return false
		}
	}
	return true
}

// forward relays a non-streaming request and writes the provider's body back with the cost
// added to its usage object.
func (s *Server) forward(ctx *fasthttp.RequestCtx, req *chatRequest, x *exchange) {
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
		s.fail(ctx, x, upstreamTransportError(up.id, err))
		return
	}
	if status := uresp.StatusCode(); status != fasthttp.StatusOK {
		s.fail(ctx, x, upstreamStatusError(up.id, status, uresp.Body(), uresp.Header.Peek(fasthttp.HeaderRetryAfter)))
		return
	}
	out, ok := addCostToResponse(uresp.SwapBody(nil), x)
	if !ok {
		uresp.SwapBody(out)
		s.fail(ctx, x, upstreamMalformed(up.id))
		return
	}
	x.done(nil)
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	ctx.Response.Header.SetBytesKV(headerGenerationID, x.rec.GenerationID.Bytes())
	// Hand the body buffer over instead of copying it; the server's spare buffer goes back to
	// the upstream response so both pools stay balanced.
	uresp.SwapBody(ctx.Response.SwapBody(out))
	s.account(x, fasthttp.StatusOK)
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

// fail answers a request that reached a provider but did not succeed, and records it.
func (s *Server) fail(ctx *fasthttp.RequestCtx, x *exchange, e *upstreamError) {
	x.done(e.breakerErr())
	x.providerFailed = e.providerFault
	e.api.write(ctx)
	ctx.Response.Header.SetBytesKV(headerGenerationID, x.rec.GenerationID.Bytes())
	x.rec.ErrorCode = e.code
	s.account(x, e.api.status)
}

// account finishes the record and hands it to the accounting queue.
func (s *Server) account(x *exchange, status int) {
	r := &x.rec
	r.Status = status
	r.Latency = time.Since(r.Time)
	if r.TTFB == 0 {
		r.TTFB = r.Latency
	}
	r.PromptTokens = x.usage.Prompt
	r.CompletionTokens = x.usage.Completion
	r.ReasoningTokens = x.usage.Reasoning
	r.CachedTokens = x.usage.Cached
	r.CacheWriteTokens = x.usage.CacheWrite
	countUsage(&x.usage, r.Cost)
	chatDuration.Update(r.Latency.Seconds())
	if !r.Cancelled {
		o := health.Outcome{OK: !x.providerFailed, TTFB: x.upstreamTTFB, Latency: r.Latency}
		if r.Streamed {
			o.CompletionTokens = r.CompletionTokens // a buffered body has no generation time to divide by
		}
		s.health.Observe(x.dep.Index, o, time.Now())
	}
	if !s.records.Enqueue(r) {
		accountingDrops.Inc()
	}
}
