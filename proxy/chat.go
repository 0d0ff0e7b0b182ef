package proxy

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/balancer"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/health"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/providers"
)

// chat serves POST /v1/chat/completions: authenticate, parse, admit, route, forward, relay,
// account.
func (s *Server) chat(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	key, e := s.authenticate(ctx, start)
	if e != nil {
		e.write(ctx)
		return
	}
	if s.gate != nil && !s.gate.Admit() {
		errAccountingFull.write(ctx)
		return
	}
	var req chatRequest
	if e := req.parse(ctx.PostBody()); e != nil {
		e.write(ctx)
		return
	}
	// The models to try, in order: "model", then "models" (OpenRouter's fallback list).
	var models [maxFallbackModels + 1]*catalog.Model
	n, e := s.candidateModels(&req, key, &models)
	if e != nil {
		e.write(ctx)
		return
	}
	var estimate money.Nanos
	for _, m := range models[:n] {
		estimate = max(estimate, s.estimate(m, &req, len(ctx.PostBody())))
	}
	reservation, refusal := s.budget.Reserve(key, estimate, start)
	if refusal.Reason != budget.Admitted {
		budgetRefused(&refusal).write(ctx)
		return
	}
	var names [3 * maxRouteProviders]string
	route := s.route(&req, names[:0])
	x := acquireExchange()
	defer releaseExchange(x)
	*x = exchange{
		reservation:    reservation,
		byokFeePercent: s.opts.BYOKFeePercent,
		rec: accounting.Record{
			GenerationID: accounting.NewGenerationID(start),
			Time:         start,
			KeyID:        key.ID,
			OrgID:        key.OrgID,
			BudgetID:     key.BudgetID,
			Streamed:     req.stream,
		},
	}
	x.logRequest(key, ctx.PostBody())
	if req.stream {
		chatStreamRequests.Inc()
	} else {
		chatRequests.Inc()
	}
	// Try each model's deployments in the route's order until one answers. A failure is
	// retried elsewhere only while nothing has reached the client and the provider is to blame.
	var attempts balancer.Attempts
	var last *upstreamError
	var unavailable error // why the last model had nothing left to try
	deadline := start.Add(s.opts.FailoverTimeout)
	for _, m := range models[:n] {
		x.model, x.rec.Model = m, m.ID
		x.stickyKey, x.sticky = 0, false
		unavailable = nil
		mr := route
		var stickyOrder [1]string
		if s.sticky != nil && worthSticking(m) {
			x.stickyKey, x.sticky = s.sticky.key(key.ID, m, ctx.PostBody(), &req)
			if d, ok := s.sticky.lookup(x.stickyKey); x.sticky && ok && len(mr.Order) == 0 && !mr.NoFallbacks && s.stickyTarget(m, d) {
				stickyOrder[0] = s.cat.Deployments()[d].Provider
				mr.Order = stickyOrder[:]
			}
		}
		for {
			if attempts.Len() >= s.opts.MaxAttempts {
				unavailable = errAttemptLimit
				break
			}
			if last != nil && !time.Now().Before(deadline) {
				unavailable = errFailoverDeadline
				break
			}
			dep, err := s.bal.Choose(m, &mr, &attempts, time.Now())
			if err != nil {
				unavailable = err
				break
			}
			plan, unusable := s.planCredentials(key.OrgID, dep.Provider)
			x.byokFellBack = x.byokFellBack || unusable
			var e *upstreamError
			if plan.n == 0 {
				// The organization may use only its own key here, and that key cannot be opened.
				x.attempt(&s.routes[dep.Index], dep)
				e = byokUnusable(dep.Provider)
				attempts.Add(dep, e.api)
				last = e
				continue
			}
			// The attempt runs inside the deployment's circuit breaker, which counts its
			// outcome; a stream's is decided at its first event, before forwardStream returns.
			// With an organization's own key, both of the deployment's credentials are tried
			// within one attempt.
			// x points at dep only once its breaker lets the attempt run, so that a refused
			// deployment is never blamed for, or recorded as serving, the request.
			ran := s.bal.Attempt(dep, func() error {
				x.attempt(&s.routes[dep.Index], dep)
				for i := range plan.n {
					x.cred = plan.creds[i]
					if req.stream {
						e = s.forwardStream(ctx, &req, x)
					} else {
						e = s.forward(ctx, &req, x)
					}
					if e == nil || !e.retryable() || i == plan.n-1 {
						break
					}
					x.byokFellBack = x.byokFellBack || x.cred != nil
				}
				if e.ownKeyOnly(x.cred != nil) {
					if e.credentialRefused {
						e = byokRefused(dep.Provider, x.cred, e)
					}
					return nil // the organization's account was refused or limited, not the provider broken
				}
				return e.breakerErr()
			})
			if !ran {
				attempts.Refuse(dep) // its breaker turned the request away since Choose looked
				continue
			}
			if e == nil {
				return
			}
			ownKeyOnly := e.ownKeyOnly(x.cred != nil)
			if !e.retryAt.IsZero() && !ownKeyOnly {
				s.bal.CoolDown(dep, e.retryAt)
			}
			if !e.retryable() {
				s.answerFailure(ctx, x, e)
				return
			}
			failovers.Inc()
			x.providerFailed = e.providerFault && !ownKeyOnly
			s.observe(x, time.Now())
			attempts.Add(dep, e.api)
			last = e
		}
	}
	s.answerExhausted(ctx, x, &attempts, last, unavailable)
}

// stickyTarget reports whether deployment d, remembered for a cached prefix, should go first:
// it still serves m and is healthy (an unhealthy one is not worth the cache discount).
func (s *Server) stickyTarget(m *catalog.Model, d int) bool {
	deps := s.cat.Deployments()
	return d >= 0 && d < len(deps) && deps[d].Model == m && s.healthReader.Healthy(d)
}

// candidateModels resolves "model" and "models" into ms, without repeats, and checks the key
// may use each: an unknown model is a 404 and a forbidden one a 403, both naming the model, so
// that a fallback list never fails late for a reason known up front.
func (s *Server) candidateModels(req *chatRequest, key *apikey.Key, ms *[maxFallbackModels + 1]*catalog.Model) (int, *apiError) {
	n := 0
	add := func(id []byte) *apiError {
		m := s.cat.Lookup(id)
		if m == nil {
			return unknownModel(id)
		}
		if !key.AllowsModel(m.ID) {
			return modelNotAllowed(m.ID)
		}
		for _, seen := range ms[:n] {
			if seen == m {
				return nil
			}
		}
		ms[n] = m
		n++
		return nil
	}
	if e := add(req.model); e != nil {
		return 0, e
	}
	for _, id := range req.models[:req.nModels] {
		if e := add(id); e != nil {
			return 0, e
		}
	}
	return n, nil
}

// route turns the request's provider preferences into a balancer.Route whose lists share
// names' backing array (the caller's, on its stack).
func (s *Server) route(req *chatRequest, names []string) balancer.Route {
	names = resolveNames(s.cat, req.order[:req.nOrder], names)
	order := names[:req.nOrder:req.nOrder]
	names = resolveNames(s.cat, req.only[:req.nOnly], names)
	only := names[req.nOrder : req.nOrder+req.nOnly : req.nOrder+req.nOnly]
	names = resolveNames(s.cat, req.ignore[:req.nIgnore], names)
	ignore := names[req.nOrder+req.nOnly:]
	return balancer.Route{Order: order, Only: only, Ignore: ignore, NoFallbacks: req.noFallbacks, Sort: req.sort}
}

// exchange is one request's journey to a deployment and back.
type exchange struct {
	rt    *route
	dep   *catalog.Deployment
	model *catalog.Model
	// reservation is the budget admission set aside; account settles it to the true cost.
	reservation budget.Reservation
	// stickyKey names the request's cacheable prefix for sticky routing, when sticky is set.
	stickyKey uint64
	sticky    bool
	// cred is the organization's own provider key the current attempt uses (nil: the
	// platform's); byokFellBack says an own key failed or could not be used and the platform's
	// key served instead; byokFeePercent prices a BYOK request.
	cred           *byok.Credential
	byokFellBack   bool
	byokFeePercent int
	rec            accounting.Record
	usage          catalog.Usage
	// upstreamTTFB is when the provider's headers arrived; providerFailed says the provider,
	// not the client, is to blame for a failure. Both feed health statistics.
	upstreamTTFB   time.Duration
	providerFailed bool
	observed       bool // this attempt's outcome has gone to the health tracker
}

// exchangePool recycles exchanges. An exchange's address flows into interfaces (adapters,
// the recent-records ring), so a local one would be moved to the heap on every request.
var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

// acquireExchange returns an exchange for one request. The chat handler owns it until it
// returns; everything that outlives the handler (a stream's relay, the accounting queue, the
// recent-records ring) holds a copy, never the pointer.
func acquireExchange() *exchange { return exchangePool.Get().(*exchange) }

// releaseExchange clears x, so that it keeps nothing alive, and returns it to the pool.
func releaseExchange(x *exchange) {
	*x = exchange{}
	exchangePool.Put(x)
}

// attempt points x at a deployment for the next try.
func (x *exchange) attempt(rt *route, dep *catalog.Deployment) {
	x.rt, x.dep = rt, dep
	x.rec.Provider, x.rec.UpstreamModel = dep.Provider, dep.UpstreamModel
	x.rec.UpstreamID, x.rec.FinishReason, x.rec.NativeFinishReason = accounting.UpstreamID{}, accounting.FinishNone, accounting.NativeFinishReason{}
	x.upstreamTTFB, x.providerFailed, x.observed = 0, false, false
	x.cred, x.usage = nil, catalog.Usage{}
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
	up.prepare(ureq, x.rt, false)
	up.setCredential(ureq, x.cred)
	var e *upstreamError
	if body.B, e = up.appendBody(body.B, req, ctx.PostBody(), x.rt, x.dep.UpstreamModel); e != nil {
		return e
	}
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
		retryAfter := uresp.Header.Peek(fasthttp.HeaderRetryAfter)
		if up.adapter != nil {
			retryAfter = translatedRetryAfter(up.adapter, retryAfter, uresp.Body())
			status = translatedStatus(up.adapter, status, uresp.Body())
		}
		return upstreamStatusError(up.id, status, uresp.Body(), retryAfter)
	}
	if up.adapter != nil {
		// The request has been sent: its pooled buffer takes the translated answer, which
		// then replaces the native one (a copy; translated routes may afford it).
		var native providers.Native // escapes to the heap: translated routes may allocate
		out, err := up.adapter.TranslateResponse(body.B[:0], uresp.Body(), x.model.ID, &x.usage, &native)
		if err != nil {
			return upstreamMalformed(up.id)
		}
		x.rec.UpstreamID.SetString(native.ID)
		x.rec.NativeFinishReason.SetString(native.FinishReason)
		body.B = out
		uresp.SetBody(out)
	}
	out, ok := addCostToResponse(uresp.SwapBody(nil), x)
	if !ok {
		uresp.SwapBody(out)
		return upstreamMalformed(up.id)
	}
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	x.setResponseHeaders(ctx)
	x.setTimingHeaders(ctx, time.Now(), true)
	// Hand the body buffer over instead of copying it; the server's spare buffer goes back to
	// the upstream response so both pools stay balanced.
	uresp.SwapBody(ctx.Response.SwapBody(out))
	x.logResponse(ctx.Response.Body())
	s.account(x, fasthttp.StatusOK)
	return nil
}

// setResponseHeaders names the usage record and what served the request.
func (x *exchange) setResponseHeaders(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetBytesKV(headerGenerationID, x.rec.GenerationID.Bytes())
	ctx.Response.Header.SetBytesKV(headerProvider, x.rt.providerID)
	x.setBYOKHeaders(ctx)
}

var (
	headerGenerationID = []byte("X-Generation-Id")
	headerProvider     = []byte("X-ARouter-Provider")
	headerLatency      = []byte("X-ARouter-Latency-Ms")
	headerTTFB         = []byte("X-ARouter-TTFB-Ms")
)

// setTimingHeaders reports the gateway's timing in milliseconds: the time to the first byte of
// the answer (for a stream, its first event) and, when the answer is whole (not a stream),
// the total time. The record keeps both, and GET /v1/generation serves them.
func (x *exchange) setTimingHeaders(ctx *fasthttp.RequestCtx, now time.Time, whole bool) {
	var buf [24]byte
	ms := strconv.AppendFloat(buf[:0], float64(now.Sub(x.rec.Time).Microseconds())/1000, 'f', 3, 64)
	ctx.Response.Header.SetBytesKV(headerTTFB, ms)
	if whole {
		ctx.Response.Header.SetBytesKV(headerLatency, ms)
	}
}

// addCostToResponse reads usage from a chat.completion body and writes "cost" into it, and
// makes "model" name the public model that served the request. ok is false when the body is
// not a JSON object. A body without usage is passed on without a cost.
func addCostToResponse(b []byte, x *exchange) ([]byte, bool) {
	it, ok := newObjectIter(b)
	if !ok {
		return b, false
	}
	usageVS, usageVE, modelVS, modelVE := -1, -1, -1, -1
	translated := x.rt.translated()
	for {
		key, _, vs, ve, ok := it.next()
		if !ok {
			break
		}
		switch string(key) {
		case "usage":
			if b[vs] == '{' {
				usageVS, usageVE = vs, ve
			}
		case "model":
			modelVS, modelVE = vs, ve
		case "id":
			if !translated { // the adapter reported the native id
				x.noteUpstreamID(b[vs:ve])
			}
		case "choices":
			if reason, native, ok := choiceFinish(b[vs:ve]); ok {
				x.noteFinish(reason, native, translated)
			}
		}
	}
	if it.failed() {
		return b, false
	}
	// Edit the later member first, so the earlier one's offsets stay valid.
	if modelVS > usageVS {
		b = x.rt.setServedModel(b, modelVS, modelVE)
	}
	if usageVS >= 0 {
		b = addCost(b, usageVS, usageVE, x)
	}
	if modelVS >= 0 && modelVS < usageVS {
		b = x.rt.setServedModel(b, modelVS, modelVE)
	}
	return b, true
}

// setServedModel replaces the value at b[vs:ve] (the provider's model name) with the public
// model id clients asked for, unless it already is.
func (rt *route) setServedModel(b []byte, vs, ve int) []byte {
	if bytes.Equal(b[vs:ve], rt.quotedPublic) {
		return b
	}
	return splice(b, vs, ve, rt.quotedPublic)
}

// addCost reads the usage object at b[vs:ve], prices it, and writes the cost into the object:
// replacing a "cost" the provider sent (an upstream gateway's) or appending one.
func addCost(b []byte, vs, ve int, x *exchange) []byte {
	if !readUsage(b[vs:ve], &x.usage) {
		return b
	}
	u := &x.usage
	x.rec.Cost = x.model.Prices.Cost(u)
	x.rec.CacheDiscount = 0
	if u.Cached != 0 || u.CacheWrite != 0 {
		// What caching saved against pricing every prompt token at the full prompt price;
		// negative when cache writes cost more than the reads saved.
		full := x.model.Prices.Cost(&catalog.Usage{Prompt: u.Prompt, Completion: u.Completion})
		x.rec.CacheDiscount = full - x.rec.Cost
	}
	x.priceBYOK(x.byokFeePercent)
	var costBuf, discBuf [24]byte
	cost := money.AppendUSD(costBuf[:0], x.rec.Cost)
	var disc []byte
	if x.rec.CacheDiscount != 0 {
		disc = money.AppendUSD(discBuf[:0], x.rec.CacheDiscount)
	}
	// Replace the values of members a provider (an upstream gateway) sent, from the end of
	// the object backwards so earlier offsets stay valid; append the missing ones.
	costVS, costVE, discVS, discVE := -1, -1, -1, -1
	it, _ := newObjectIter(b[vs:ve])
	members := 0
	for {
		key, _, cs, ce, ok := it.next()
		if !ok {
			break
		}
		members++
		switch string(key) {
		case "cost":
			costVS, costVE = vs+cs, vs+ce
		case "cache_discount":
			discVS, discVE = vs+cs, vs+ce
		}
	}
	var tail [128]byte
	add := tail[:0]
	if costVS < 0 {
		add = append(append(add, `,"cost":`...), cost...)
	}
	if discVS < 0 && disc != nil {
		add = append(append(add, `,"cache_discount":`...), disc...)
	}
	if x.rec.BYOK {
		// cost is the gateway's fee; the provider bills byok_cost on the organization's key.
		add = append(add, `,"is_byok":true,"byok_cost":`...)
		add = money.AppendUSD(add, x.rec.BYOKCost)
	}
	if len(add) > 0 {
		if members == 0 {
			add = add[1:] // no comma in an empty object
		}
		b = splice(b, ve-1, ve-1, add)
	}
	if discVS >= 0 && disc == nil {
		disc = []byte{'0'}
	}
	if discVS > costVS {
		b = splice(b, discVS, discVE, disc)
	}
	if costVS >= 0 {
		b = splice(b, costVS, costVE, cost)
	}
	if discVS >= 0 && discVS < costVS {
		b = splice(b, discVS, discVE, disc)
	}
	return b
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

// answerExhausted answers a request for which no deployment is left. A single failed attempt
// answers as that provider's error (a 502, a 504, the provider's 429), which says the most;
// after several, or when nothing could be tried, the answer is a 503 naming every deployment
// and why it was not used. If every attempt was rate limited, it stays a 429.
func (s *Server) answerExhausted(ctx *fasthttp.RequestCtx, x *exchange, attempts *balancer.Attempts, last *upstreamError, unavailable error) {
	if g, ok := unavailable.(*gaveUpError); ok {
		unavailable = g.with(attempts)
	}
	if last != nil && (attempts.Len() == 1 || allRateLimited(attempts)) {
		s.answerFailure(ctx, x, last)
		return
	}
	if last == nil {
		// Nothing was forwarded: there is no provider outcome to record.
		s.budget.Settle(x.reservation, budget.Charge{}, time.Now())
		noProvider(unavailable).write(ctx)
		return
	}
	s.answerFailure(ctx, x, &upstreamError{api: noProvider(unavailable), code: "no_provider", providerFault: last.providerFault})
}

func allRateLimited(a *balancer.Attempts) bool {
	for _, at := range a.List() {
		if e, ok := at.Err.(*apiError); !ok || e.status != 429 {
			return false
		}
	}
	return true
}

// answerFailure answers a request whose last attempt failed, and records it. The breaker has
// already been told.
func (s *Server) answerFailure(ctx *fasthttp.RequestCtx, x *exchange, e *upstreamError) {
	x.providerFailed = e.providerFault && !e.ownKeyOnly(x.cred != nil)
	e.api.write(ctx)
	x.setResponseHeaders(ctx)
	x.rec.ErrorCode = e.code
	x.rec.FinishReason = accounting.FinishError
	x.logResponse(ctx.Response.Body())
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
	s.budget.Settle(x.reservation, budget.Charge{Cost: r.Cost, BYOK: r.BYOKCost}, now)
	if x.sticky && status == fasthttp.StatusOK && (x.usage.Cached > 0 || x.usage.CacheWrite > 0) {
		s.sticky.remember(x.stickyKey, x.dep.Index)
	}
	countUsage(&x.usage, r.Cost)
	chatDuration.Update(r.Latency.Seconds())
	if !r.Cancelled {
		s.observe(x, now)
	}
	if s.opts.Recent != nil {
		s.opts.Recent.Add(r)
	}
	if !s.records.Enqueue(r) {
		accountingDrops.Inc()
	}
}
