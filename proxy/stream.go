package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/balancer"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/providers"
)

// forwardStream sends a streaming request upstream and, once the provider's first event is in,
// hands the client an sseRelay as the response body. fasthttp then pulls events through
// sseRelay.Read and writes each as soon as it arrives. A failure before the first event writes
// nothing and is returned, so the caller may try another deployment.
func (s *Server) forwardStream(ctx *fasthttp.RequestCtx, req *chatRequest, x *exchange) *upstreamError {
	up := x.rt.up
	ureq := fasthttp.AcquireRequest()
	body := bytebufferpool.Get()
	up.prepare(ureq, x.rt, true)
	up.setCredential(ureq, x.cred)
	var e *upstreamError
	if body.B, e = up.appendBody(body.B, req, ctx.PostBody(), x.rt, x.dep.UpstreamModel); e != nil {
		fasthttp.ReleaseRequest(ureq)
		bytebufferpool.Put(body)
		return e
	}
	ureq.SetBodyRaw(body.B)

	uresp := fasthttp.AcquireResponse()
	uresp.StreamBody = true
	upStart := time.Now()
	// No total deadline: the stream connection bounds the wait for the headers by the first
	// byte timeout and every later silence by the idle timeout (see idleConn).
	err := up.streamClient.Do(ureq, uresp)
	up.metrics.requests.Inc()
	up.metrics.duration.UpdateDuration(upStart)
	x.upstreamTTFB = time.Since(x.rec.Time)
	fasthttp.ReleaseRequest(ureq)
	bytebufferpool.Put(body)
	if err != nil {
		fasthttp.ReleaseResponse(uresp)
		return upstreamTransportError(up.id, err)
	}
	if status := uresp.StatusCode(); status != fasthttp.StatusOK {
		errBody, _ := io.ReadAll(io.LimitReader(uresp.BodyStream(), 64<<10))
		retryAfter := append([]byte(nil), uresp.Header.Peek(fasthttp.HeaderRetryAfter)...)
		_ = uresp.CloseBodyStream()
		fasthttp.ReleaseResponse(uresp)
		if up.adapter != nil {
			retryAfter = translatedRetryAfter(up.adapter, retryAfter, errBody)
			status = translatedStatus(up.adapter, status, errBody)
		}
		return upstreamStatusError(up.id, status, errBody, retryAfter)
	}
	upstreamBody, ok := uresp.BodyStream().(fasthttp.ReadCloserWithError)
	if !ok { // fasthttp streams every body when StreamBody is set; never bet the process on it
		_ = uresp.CloseBodyStream()
		fasthttp.ReleaseResponse(uresp)
		return upstreamMalformed(up.id)
	}
	r := relayPool.Get().(*sseRelay)
	r.s, r.x = s, *x
	r.wantsUsage = req.wantsUsage
	r.promptBytes = len(ctx.PostBody())
	r.uresp = uresp
	r.body = upstreamBody
	r.conn = ctx.Conn()
	r.keepAliveEvery = s.opts.KeepAliveInterval
	r.writeTimeout = s.opts.WriteTimeout
	if up.adapter != nil {
		r.translator = up.adapter.NewStream(x.model.ID, x.rec.GenerationID.String(), x.rec.Time.Unix())
	}
	go r.pump()
	// Nothing is committed to the client until the provider's first event: a stream that
	// fails or stays silent before it can still go to another deployment.
	if e := r.awaitFirstEvent(upStart.Add(up.firstByteTimeout)); e != nil {
		r.abort()
		return e
	}
	// The first event arrived: returning nil is the provider's success as far as its breaker
	// is concerned.
	streamsInFlight.Inc()

	ctx.Response.Header.SetContentType("text/event-stream")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no") // ask nginx in front of us not to buffer
	r.x.setResponseHeaders(ctx)
	r.x.setTimingHeaders(ctx, time.Now(), false)
	// Take the write deadline from the server: it would be a total one. Read sets a fresh
	// per-write deadline before every chunk instead.
	_ = ctx.SetWriteDeadline(time.Now().Add(r.writeTimeout))
	ctx.SetBodyStream(r, -1)
	r.keepAlive.Reset(r.keepAliveEvery)
	return nil
}

// awaitFirstEvent relays upstream chunks into out until the first data event is ready, the
// stream fails, or deadline passes. Comments (a provider's own keep-alives) do not count. A
// failure after the first event is left for Read to report as the stream's final event.
func (r *sseRelay) awaitFirstEvent(deadline time.Time) *upstreamError {
	r.keepAlive.Reset(time.Until(deadline))
	for !r.gotData {
		select {
		case c := <-r.chunks:
			r.consume((*c.buf)[:c.n])
			chunkPool.Put(c.buf)
			if c.err = r.checkStop(c.err); c.err == nil {
				continue
			}
			r.pumpExited = true
			if !r.gotData {
				if errors.Is(c.err, errEventTooLarge) {
					return upstreamMalformed(r.x.rec.Provider)
				}
				if r.translateErr != nil {
					// The provider's first word was an error event (say, overloaded).
					msg, code := translatedStreamError(r.x.rec.Provider, r.translateErr)
					upstreamErrStream.Inc()
					return &upstreamError{api: newAPIError(502, msg, map[string]string{"provider": r.x.rec.Provider}), code: code, providerFault: true}
				}
				upstreamErrStream.Inc()
				return &upstreamError{
					api: newAPIError(502, "provider "+r.x.rec.Provider+" ended the stream before its first event",
						map[string]string{"provider": r.x.rec.Provider}),
					code:          "stream_interrupted",
					providerFault: true,
				}
			}
			r.upstreamEnded(c.err)
		case <-r.keepAlive.C:
			return upstreamFirstByteTimeout(r.x.rec.Provider)
		}
	}
	r.keepAlive.Stop()
	return nil
}

// abort releases a relay that was never handed to the client.
func (r *sseRelay) abort() {
	_ = r.body.CloseWithError(errAbandoned)
	r.drainPump()
	r.keepAlive.Stop()
	fasthttp.ReleaseResponse(r.uresp)
	r.reset()
	relayPool.Put(r)
}

var errAbandoned = errors.New("stream abandoned before its first event")

// sseRelay is the response body of one streamed request. fasthttp owns it from SetBodyStream
// until it calls CloseWithError, which releases everything: the upstream response, the pump
// goroutine, the relay itself (back to relayPool).
//
// A pump goroutine reads the provider's stream into chunks; Read, on fasthttp's goroutine, cuts
// chunks into SSE events, bills the usage event, and hands events out one Read at a time, so
// every event is flushed to the client the moment it is complete.
type sseRelay struct {
	s              *Server
	x              exchange
	uresp          *fasthttp.Response
	body           fasthttp.ReadCloserWithError
	conn           net.Conn
	keepAliveEvery time.Duration
	writeTimeout   time.Duration

	chunks     chan upstreamChunk
	pumpExited bool // the final chunk (with its error) was received
	keepAlive  *time.Timer

	// wantsUsage: the client asked for OpenAI's usage-only final chunk. Otherwise that chunk
	// ("choices": []) would crash the common `chunk.choices[0]` loop, so its usage is moved into
	// the finish chunk held in pending, which clients parse as an ordinary chunk.
	wantsUsage bool
	pending    []byte // a held finish event, or empty
	scratch    []byte // for pricing a usage object before grafting it
	evbuf      []byte // an event rewritten to name the served model
	gotData    bool   // a data event (not only comments) has been relayed
	// promptBytes and choiceEvents estimate the usage of a stream the client cancelled
	// before the provider's usage chunk came (see billPartial).
	promptBytes  int
	choiceEvents int64

	// translator turns a native (Anthropic, Gemini) stream into OpenAI frames; nil on the
	// OpenAI passthrough. tbuf holds its output; translateErr stops the stream.
	translator   providers.Stream
	tbuf         []byte
	translateErr error

	in        []byte // received bytes not yet forming a whole event
	out       []byte // bytes ready for the client
	outPos    int
	sentFirst bool
	sawDone   bool
	finished  bool // nothing more will be added to out
	errorCode string
	recorded  bool // the usage record is spooled (see Read)
}

type upstreamChunk struct {
	buf *[]byte
	n   int
	err error
}

// relayChunkSize is the pump's read size. The upstream connection's reader already buffers, and
// events are a few hundred bytes, so a small chunk loses nothing; the pump holds one for as long
// as a stream is idle, which makes it part of every open stream's memory.
const relayChunkSize = 1 << 10

// maxEventSize bounds one SSE event from a provider. Real events are a few hundred bytes; tool
// call arguments can make them tens of kilobytes.
const maxEventSize = 1 << 20

var errEventTooLarge = errors.New("provider sent an SSE event larger than 1 MiB or no event boundary")

var (
	relayPool = sync.Pool{New: func() any {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return &sseRelay{chunks: make(chan upstreamChunk, 2), keepAlive: t}
	}}
	chunkPool = sync.Pool{New: func() any { b := make([]byte, relayChunkSize); return &b }}
)

// pump reads the provider's stream until it ends or fails. Its last chunk always carries an
// error (io.EOF at a clean end), and it sends nothing after that.
func (r *sseRelay) pump() {
	for {
		bp := chunkPool.Get().(*[]byte)
		n, err := r.body.Read(*bp)
		if err == nil && n == 0 {
			chunkPool.Put(bp)
			continue
		}
		r.chunks <- upstreamChunk{buf: bp, n: n, err: err}
		if err != nil {
			return
		}
	}
}

// Read gives fasthttp the next bytes for the client, blocking until an event is complete, a
// keep-alive is due, or the stream ends.
func (r *sseRelay) Read(p []byte) (int, error) {
	for {
		if r.outPos < len(r.out) {
			n := copy(p, r.out[r.outPos:])
			r.outPos += n
			r.x.logStream(p[:n])
			if !r.sentFirst {
				r.sentFirst = true
				r.x.rec.TTFB = time.Since(r.x.rec.Time)
				streamTTFB.Update(r.x.rec.TTFB.Seconds())
			}
			if r.sawDone && !r.recorded && r.outPos == len(r.out) && r.errorCode == "" {
				// These bytes end with [DONE], after which the client has its whole answer:
				// spool the record before fasthttp writes them, as a plain request's record is
				// spooled before its answer is sent, so that a gateway killed right after loses
				// no completed request.
				r.record(false)
			}
			// A per-write deadline: a client that stops reading is cut, a slow stream is not.
			_ = r.conn.SetWriteDeadline(time.Now().Add(r.writeTimeout))
			return n, nil
		}
		r.out, r.outPos = r.out[:0], 0
		if r.finished {
			return 0, io.EOF
		}
		select {
		case c := <-r.chunks:
			r.keepAlive.Reset(r.keepAliveEvery)
			r.consume((*c.buf)[:c.n])
			chunkPool.Put(c.buf)
			c.err = r.checkStop(c.err)
			if c.err != nil {
				r.pumpExited = true
				r.upstreamEnded(c.err)
			}
		case <-r.keepAlive.C:
			// Comments keep proxies and clients from timing out during long silences (a model
			// thinking), and a write is the only way to notice a client that has gone.
			r.out = append(r.out, ": keep-alive\n\n"...)
			r.keepAlive.Reset(r.keepAliveEvery)
		}
	}
}

// checkStop returns the error that ends the stream after a chunk was consumed: the pump's
// own, or one the relay decides on (an event too large, a translator error), in which case it
// closes the upstream body and waits for the pump.
func (r *sseRelay) checkStop(err error) error {
	if err != nil {
		return err
	}
	switch {
	case len(r.in) > maxEventSize:
		// A provider that never ends an event would grow r.in without bound.
		err = errEventTooLarge
	case r.translateErr != nil:
		err = r.translateErr
	default:
		return nil
	}
	_ = r.body.CloseWithError(err)
	r.drainPump()
	return err
}

// consume appends received bytes and moves every complete event to out.
func (r *sseRelay) consume(data []byte) {
	r.in = append(r.in, data...)
	start := 0
	for {
		end := eventEnd(r.in[start:])
		if end < 0 {
			break
		}
		r.relayEvent(r.in[start : start+end])
		start += end
	}
	r.in = r.in[:copy(r.in, r.in[start:])]
}

// eventEnd returns the length of the first complete event in b, terminator included, or -1.
// Events end with a blank line: "\n\n" or "\r\n\r\n".
func eventEnd(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if b[i+1] == '\n' {
			return i + 2
		}
		if b[i+1] == '\r' && i+2 < len(b) && b[i+2] == '\n' {
			return i + 3
		}
	}
	return -1
}

var (
	dataPrefix = []byte("data:")
	doneData   = []byte("[DONE]")
)

// relayEvent relays one upstream event: translated first on a translated route.
func (r *sseRelay) relayEvent(ev []byte) {
	if r.translator != nil {
		r.translateEvent(ev)
		return
	}
	r.relayOpenAIEvent(ev)
}

// relayOpenAIEvent copies one OpenAI event to out. The usage event gets its cost; everything
// else passes byte for byte, except that for clients that did not ask for the usage chunk its
// usage moves into the finish chunk before it.
func (r *sseRelay) relayOpenAIEvent(ev []byte) {
	ev = r.withServedModel(ev)
	payload, ps := eventData(ev)
	if payload == nil {
		r.flushPending()
		r.out = append(r.out, ev...)
		return
	}
	r.gotData = true
	if bytes.Equal(payload, doneData) {
		r.flushPending()
		r.sawDone = true
		r.out = append(r.out, ev...)
		return
	}
	var usageVS, usageVE int
	choicesEmpty, finished := false, false
	if it, ok := newObjectIter(payload); ok {
		for {
			key, _, vs, ve, ok := it.next()
			if !ok {
				break
			}
			switch string(key) {
			case "id":
				if r.translator == nil { // a translated chunk carries the gateway's id
					r.x.noteUpstreamID(payload[vs:ve])
				}
			case "usage":
				if payload[vs] == '{' {
					usageVS, usageVE = vs, ve
				}
			case "choices":
				choicesEmpty = isEmptyArray(payload[vs:ve])
				var reason, native []byte
				if reason, native, finished = choiceFinish(payload[vs:ve]); finished {
					r.x.noteFinish(reason, native, r.translator != nil)
				}
				if !choicesEmpty {
					r.choiceEvents++
				}
			case "error":
				if payload[vs] == '{' {
					r.errorCode = "upstream_stream_error"
				}
			}
		}
	}
	switch {
	case usageVE > 0 && choicesEmpty && !r.wantsUsage && len(r.pending) > 0:
		// Price the usage, then graft it onto the held finish chunk in place of its "usage".
		cost := append(r.scratch[:0], payload[usageVS:usageVE]...)
		cost = addCost(cost, 0, len(cost), &r.x)
		r.out = appendWithUsage(r.out, r.pending, cost)
		r.scratch, r.pending = cost[:0], r.pending[:0]
	case usageVE > 0 && choicesEmpty && !r.wantsUsage:
		// Nothing to attach it to: bill it and drop it rather than send an empty-choices chunk.
		tmp := append(r.scratch[:0], payload[usageVS:usageVE]...)
		r.scratch = addCost(tmp, 0, len(tmp), &r.x)[:0]
	case usageVE > 0:
		r.flushPending()
		r.out = append(r.out, ev[:ps]...)
		base := len(r.out)
		r.out = append(r.out, payload...)
		r.out = addCost(r.out, base+usageVS, base+usageVE, &r.x)
		r.out = append(r.out, ev[ps+len(payload):]...)
	case finished && !r.wantsUsage:
		r.flushPending()
		r.pending = append(r.pending, ev...)
	default:
		r.flushPending()
		r.out = append(r.out, ev...)
	}
}

// withServedModel returns ev with its payload's "model" naming the public model that served the
// request instead of the provider's name for it. The rewrite goes to r.evbuf, never over ev,
// which points into r.in.
func (r *sseRelay) withServedModel(ev []byte) []byte {
	payload, ps := eventData(ev)
	if payload == nil {
		return ev
	}
	it, ok := newObjectIter(payload)
	if !ok {
		return ev
	}
	for {
		key, _, vs, ve, ok := it.next()
		if !ok {
			return ev
		}
		if string(key) == "model" {
			want := r.x.rt.quotedPublic
			if bytes.Equal(payload[vs:ve], want) {
				return ev
			}
			b := append(r.evbuf[:0], ev[:ps+vs]...)
			b = append(b, want...)
			b = append(b, ev[ps+ve:]...)
			r.evbuf = b
			return b
		}
	}
}

func isEmptyArray(v []byte) bool {
	return len(v) >= 2 && v[0] == '[' && len(bytes.TrimSpace(v[1:len(v)-1])) == 0
}

// flushPending sends a held finish event as it is.
func (r *sseRelay) flushPending() {
	if len(r.pending) > 0 {
		r.out = append(r.out, r.pending...)
		r.pending = r.pending[:0]
	}
}

// appendWithUsage appends event ev (a single "data:" line) with its "usage" member set to usage:
// replacing the value it has (OpenAI sends "usage":null on every chunk) or adding the member.
func appendWithUsage(out, ev, usage []byte) []byte {
	payload, ps := eventData(ev)
	if payload == nil {
		return append(out, ev...)
	}
	out = append(out, ev[:ps]...)
	it, _ := newObjectIter(payload)
	for {
		key, _, vs, ve, ok := it.next()
		if !ok {
			break
		}
		if string(key) == "usage" {
			out = append(out, payload[:vs]...)
			out = append(out, usage...)
			out = append(out, payload[ve:]...)
			return append(out, ev[ps+len(payload):]...)
		}
	}
	end := bytes.LastIndexByte(payload, '}')
	out = append(out, payload[:end]...)
	out = append(out, `,"usage":`...)
	out = append(out, usage...)
	out = append(out, payload[end:]...)
	return append(out, ev[ps+len(payload):]...)
}

// eventData returns the payload of an event's single "data:" line and its offset in ev, or nil
// for comments and multi-line events (which pass through untouched).
func eventData(ev []byte) ([]byte, int) {
	if !bytes.HasPrefix(ev, dataPrefix) {
		return nil, 0
	}
	i := len(dataPrefix)
	if i < len(ev) && ev[i] == ' ' {
		i++
	}
	end := bytes.IndexByte(ev[i:], '\n')
	if end < 0 {
		return nil, 0
	}
	line := ev[i : i+end]
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, i
}

// upstreamEnded handles the pump's last chunk: a clean end after [DONE], or a failure the client
// is told about in a final error event.
func (r *sseRelay) upstreamEnded(err error) {
	r.finished = true
	if t := r.translator; t != nil && r.translateErr == nil && errors.Is(err, io.EOF) && t.Finished() {
		r.appendTranslatedEnd() // usage chunk and [DONE], which also flushes a held finish chunk
		return
	}
	r.flushPending()
	if errors.Is(err, io.EOF) && r.sawDone {
		return
	}
	var ne net.Error
	msg, code := "provider "+r.x.rec.Provider+" ended the stream before it was complete", "stream_interrupted"
	switch {
	case r.translateErr != nil:
		msg, code = translatedStreamError(r.x.rec.Provider, r.translateErr)
	case errors.Is(err, errEventTooLarge):
		msg, code = "provider "+r.x.rec.Provider+" sent a malformed stream", "upstream_malformed"
	case errors.As(err, &ne) && ne.Timeout():
		msg, code = "provider "+r.x.rec.Provider+" sent nothing for too long; stream cut", "upstream_idle_timeout"
	}
	if r.translator != nil {
		r.billPartial() // what the provider reported before it failed
	}
	upstreamErrStream.Inc()
	streamsInterrupted.Inc()
	r.errorCode = code
	r.x.providerFailed = true
	r.out = r.appendErrorEvent(r.out, 502, msg)
}

// billPartial prices a stream that ended without its usage chunk. A translated stream knows
// what the provider reported so far (Anthropic's message_start carries the prompt's tokens). An
// OpenAI stream reports usage only at its end, so a client that cancels just before it would
// otherwise have had the answer for free: the prompt is estimated at 4 bytes a token and the
// completion at a token per content chunk, which is how OpenAI-compatible servers stream.
func (r *sseRelay) billPartial() {
	if r.x.usage != (catalog.Usage{}) || r.x.model == nil {
		return
	}
	if t := r.translator; t != nil {
		r.x.usage = t.Usage()
	} else if r.gotData {
		r.x.usage = catalog.Usage{Prompt: int64(r.promptBytes+3) / 4, Completion: r.choiceEvents}
	}
	r.x.rec.Cost = r.x.model.Prices.Cost(&r.x.usage)
	r.x.priceBYOK(r.x.byokFeePercent)
}

// appendErrorEvent writes the final SSE event of a failed stream, in the shape OpenAI SDKs
// raise as an API error: a chunk with an error object and finish_reason "error".
func (r *sseRelay) appendErrorEvent(b []byte, status int, msg string) []byte {
	b = append(b, `data: {"id":"`...)
	b = append(b, r.x.rec.GenerationID[:]...)
	b = append(b, `","object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, r.x.rec.Time.Unix(), 10)
	b = append(b, `,"model":`...)
	b = append(b, quoteJSON(r.x.model.ID)...)
	b = append(b, `,"choices":[{"index":0,"delta":{},"finish_reason":"error"}],"error":{"code":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"message":`...)
	b = append(b, quoteJSON(msg)...)
	b = append(b, `,"metadata":{"provider":`...)
	b = append(b, quoteJSON(r.x.rec.Provider)...)
	return append(b, "}}}\n\n"...)
}

// CloseWithError is called by fasthttp exactly once, when it has finished writing the body: err
// is nil after a complete stream, or the write error when the client went away. It stops the
// upstream request, waits for the pump, records the usage unless Read already did, and
// releases everything.
func (r *sseRelay) CloseWithError(err error) error {
	cancelled := err != nil || !r.finished
	if cancelled {
		_ = r.body.CloseWithError(balancer.ErrClientGone) // closes the provider connection
	} else {
		_ = r.body.CloseWithError(nil)
	}
	r.drainPump()
	r.keepAlive.Stop()
	if !r.recorded {
		r.record(cancelled)
	}
	streamsInFlight.Dec()
	fasthttp.ReleaseResponse(r.uresp)
	r.reset()
	relayPool.Put(r)
	return nil
}

// record finishes the usage record and hands it to accounting, once per stream: from Read just
// before the client receives [DONE], or from CloseWithError for a stream that ended otherwise.
func (r *sseRelay) record(cancelled bool) {
	r.recorded = true
	if cancelled {
		r.x.rec.Cancelled = true
		r.billPartial()
		streamsCancelled.Inc()
		if r.errorCode == "" {
			r.errorCode = "client_cancelled"
		}
	}
	r.x.rec.ErrorCode = r.errorCode
	if r.errorCode != "" && r.errorCode != "client_cancelled" {
		// The client's last event was the error event, whose finish_reason is "error". A
		// cancelled stream keeps the provider's finish reason if it came, else has none.
		r.x.rec.FinishReason = accounting.FinishError
	}
	if t := r.translator; t != nil {
		n := t.Native()
		r.x.rec.UpstreamID.SetString(n.ID)
		r.x.rec.NativeFinishReason.SetString(n.FinishReason)
	}
	if !r.sentFirst {
		r.x.rec.TTFB = time.Since(r.x.rec.Time)
	}
	r.s.account(&r.x, fasthttp.StatusOK)
}

// drainPump waits for the pump's last chunk, discarding data; the body must be closed first so
// that the pump's blocked read returns.
func (r *sseRelay) drainPump() {
	for !r.pumpExited {
		c := <-r.chunks
		chunkPool.Put(c.buf)
		r.pumpExited = c.err != nil
	}
}

func (r *sseRelay) reset() {
	*r = sseRelay{chunks: r.chunks, keepAlive: r.keepAlive,
		in: r.in[:0], out: r.out[:0], pending: r.pending[:0], scratch: r.scratch[:0], evbuf: r.evbuf[:0], tbuf: r.tbuf[:0]}
}
