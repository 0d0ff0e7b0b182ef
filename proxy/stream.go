package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
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
	// Take the write deadline from the server: it would be a total one. Every write of the
	// relay sets a fresh per-write deadline instead.
	_ = ctx.SetWriteDeadline(time.Now().Add(r.writeTimeout))
	ctx.SetBodyStream(r, -1)
	return nil
}

// awaitFirstEvent relays upstream bytes into out until the first data event is ready, the
// stream fails, or deadline passes. Comments (a provider's own keep-alives) do not count. A
// failure after the first event is left for WriteTo to report as the stream's final event.
func (r *sseRelay) awaitFirstEvent(deadline time.Time) *upstreamError {
	r.mu.Lock()
	r.phase = phaseFirstEvent
	r.arm(time.Until(deadline)) // onTimer closes the upstream body at the deadline
	r.mu.Unlock()
	var err error
	for !r.gotData && err == nil {
		err = r.readUpstream()
	}
	r.mu.Lock()
	r.phase = phaseIdle
	r.disarm()
	late := r.firstEventLate
	r.mu.Unlock()
	switch {
	case late:
		// Even if the event squeezed in, the deadline closed the upstream body.
		return upstreamFirstByteTimeout(r.x.rec.Provider)
	case err == nil:
		return nil
	case r.gotData:
		r.upstreamEnded(err) // the first event came with the end: WriteTo sends both
		return nil
	case errors.Is(err, errEventTooLarge):
		return upstreamMalformed(r.x.rec.Provider)
	case r.streamErr != nil:
		// The provider's first word was an error event (say, overloaded) or a broken one.
		msg, code := translatedStreamError(r.x.rec.Provider, r.streamErr)
		upstreamErrStream.Inc()
		return &upstreamError{api: newAPIError(502, msg, map[string]string{"provider": r.x.rec.Provider}), code: code, providerFault: true}
	default:
		upstreamErrStream.Inc()
		return &upstreamError{
			api: newAPIError(502, "provider "+r.x.rec.Provider+" ended the stream before its first event",
				map[string]string{"provider": r.x.rec.Provider}),
			code:          "stream_interrupted",
			providerFault: true,
		}
	}
}

// abort releases a relay that was never handed to the client.
func (r *sseRelay) abort() {
	pooled := r.stopTimer()
	_ = r.body.CloseWithError(errAbandoned)
	fasthttp.ReleaseResponse(r.uresp)
	r.release(pooled)
}

var (
	errAbandoned     = errors.New("stream abandoned before its first event")
	errFirstEventDue = errors.New("no first event before the first byte timeout")
)

// sseRelay is the response body of one streamed request. fasthttp owns it from SetBodyStream
// until it calls CloseWithError, which releases everything: the upstream response and the
// relay itself (back to relayPool).
//
// fasthttp writes it through WriteTo, on the connection's own goroutine: WriteTo reads the
// provider's stream, cuts it into SSE events, bills the usage event, and writes what each read
// completed as one flushed chunk, so every event reaches the client the moment it is whole.
// There is no goroutine of its own: during a silence the relay's timer writes a keep-alive
// comment between events (under mu, which every write holds), and at the first-event deadline
// it closes the upstream body, which ends the blocked read. An open stream therefore costs one
// goroutine, as in a bare proxy.
type sseRelay struct {
	s              *Server
	x              exchange
	uresp          *fasthttp.Response
	body           fasthttp.ReadCloserWithError
	conn           net.Conn
	keepAliveEvery time.Duration
	writeTimeout   time.Duration

	// mu guards the timer's bookkeeping and every write to the client, which the timer
	// callback also makes (keep-alives). Nothing holds it across an upstream read.
	mu             sync.Mutex
	timer          *time.Timer // runs onTimer; made once per pooled relay
	timerPending   int         // armings whose onTimer has not run yet
	phase          relayPhase
	w              io.Writer // fasthttp's chunk writer, during WriteTo
	lastWrite      time.Time
	firstEventLate bool  // the first-event deadline closed the upstream body
	clientErr      error // a keep-alive could not be written: the client is gone

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
	// OpenAI passthrough. tbuf holds its output.
	translator providers.Stream
	tbuf       []byte
	// streamErr stops the stream: the translator's error, or errMalformedEvent for a data
	// event that is not a JSON object. Nothing after it is relayed.
	streamErr error

	in        []byte // received bytes not yet forming a whole event; reads land in its spare capacity
	out       []byte // bytes ready for the client
	sentFirst bool
	sawDone   bool
	finished  bool // nothing more will be added to out
	errorCode string
	recorded  bool // the usage record is spooled (see send)
}

// relayPhase says what the relay's timer does when it fires.
type relayPhase uint8

const (
	phaseIdle       relayPhase = iota // nothing: the relay is between phases or done
	phaseFirstEvent                   // the first-event deadline passed: close the upstream body
	phaseStreaming                    // WriteTo runs: write a keep-alive if the client heard nothing for keepAliveEvery
)

// relayReadSize is the least room a read from the provider gets. The upstream connection's
// reader already buffers, and events are a few hundred bytes, so a small read loses nothing;
// the relay holds this much for as long as a stream is idle, which makes it part of every open
// stream's memory.
const relayReadSize = 1 << 10

// maxEventSize bounds one SSE event from a provider. Real events are a few hundred bytes; tool
// call arguments can make them tens of kilobytes.
const maxEventSize = 1 << 20

var (
	errEventTooLarge  = errors.New("provider sent an SSE event larger than 1 MiB or no event boundary")
	errMalformedEvent = errors.New("provider sent a data event that is not a JSON object")
)

var keepAliveComment = []byte(": keep-alive\n\n")

var relayPool = sync.Pool{New: func() any {
	r := &sseRelay{}
	r.timer = time.AfterFunc(time.Hour, r.onTimer)
	r.timer.Stop()
	return r
}}

// arm schedules onTimer after d. r.mu must be held.
func (r *sseRelay) arm(d time.Duration) {
	if !r.timer.Reset(d) { // not replacing a scheduled run: one more is coming
		r.timerPending++
	}
}

// disarm cancels a scheduled onTimer. One that already fired still runs, and finds the phase
// changed. r.mu must be held.
func (r *sseRelay) disarm() {
	if r.timer.Stop() {
		r.timerPending--
	}
}

// stopTimer ends the relay's timed work and reports whether the relay may go back to the pool:
// not while an onTimer that already fired is still to run, as it would find the next stream.
func (r *sseRelay) stopTimer() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phase, r.w = phaseIdle, nil
	r.disarm()
	return r.timerPending == 0
}

// onTimer runs on the timer's goroutine: at the first-event deadline, and every keepAliveEvery
// while WriteTo runs.
func (r *sseRelay) onTimer() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timerPending--
	switch r.phase {
	case phaseFirstEvent:
		r.firstEventLate = true
		// Unblocks the read in awaitFirstEvent, which waits for nothing else.
		_ = r.body.CloseWithError(errFirstEventDue)
	case phaseStreaming:
		if wait := r.keepAliveEvery - time.Since(r.lastWrite); wait > 0 {
			r.arm(wait)
			return
		}
		// Comments keep proxies and clients from timing out during long silences (a model
		// thinking), and a write is the only way to notice a client that has gone.
		if err := r.writeLocked(keepAliveComment); err != nil {
			r.clientErr = err
			_ = r.body.CloseWithError(balancer.ErrClientGone) // WriteTo's read returns
			return
		}
		r.arm(r.keepAliveEvery)
	}
}

// writeLocked writes b to the client as one chunk, flushed. r.mu must be held.
func (r *sseRelay) writeLocked(b []byte) error {
	// A per-write deadline: a client that stops reading is cut, a slow stream is not.
	_ = r.conn.SetWriteDeadline(time.Now().Add(r.writeTimeout))
	_, err := r.w.Write(b)
	r.lastWrite = time.Now()
	return err
}

// SupportsBodyWriteTo tells fasthttp to write the relay with WriteTo rather than copying it
// through Read and a buffer of its own.
func (r *sseRelay) SupportsBodyWriteTo() bool { return true }

// Read is there because SetBodyStream takes an io.Reader. fasthttp writes a body that supports
// WriteTo with WriteTo, chunked or not; pulling events through Read would leave nobody to write
// keep-alives, so it refuses rather than serve a stream that can time out.
func (r *sseRelay) Read([]byte) (int, error) { return 0, errReadRelay }

var errReadRelay = errors.New("proxy: sseRelay is written with WriteTo, not read")

// WriteTo writes the stream to w, fasthttp's chunked body writer, until the stream ends or the
// client goes. Each Write is one chunk, which fasthttp flushes.
func (r *sseRelay) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	r.w, r.phase, r.lastWrite = w, phaseStreaming, time.Now()
	r.arm(r.keepAliveEvery)
	r.mu.Unlock()
	// fasthttp writes the body's end once this returns: no keep-alive may come after.
	defer func() {
		r.mu.Lock()
		r.phase, r.w = phaseIdle, nil
		r.disarm()
		r.mu.Unlock()
	}()
	var written int64
	for {
		if len(r.out) > 0 {
			if err := r.send(); err != nil {
				return written, err
			}
			written += int64(len(r.out))
			r.out = r.out[:0]
		}
		if r.finished {
			return written, nil
		}
		if err := r.readUpstream(); err != nil {
			r.mu.Lock()
			gone := r.clientErr
			r.mu.Unlock()
			if gone != nil {
				return written, gone
			}
			r.upstreamEnded(err)
		}
	}
}

// send writes out to the client.
func (r *sseRelay) send() error {
	r.x.logStream(r.out) // what the client is sent, logged before the record that stores it
	if r.sawDone && !r.recorded && r.errorCode == "" {
		// These bytes end with [DONE], after which the client has its whole answer: spool the
		// record before writing them, as a plain request's record is spooled before its answer
		// is sent, so that a gateway killed right after loses no completed request.
		r.record(false)
	}
	r.mu.Lock()
	err := r.writeLocked(r.out)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if !r.sentFirst {
		r.sentFirst = true
		r.x.rec.TTFB = time.Since(r.x.rec.Time)
		streamTTFB.Update(r.x.rec.TTFB.Seconds())
	}
	return nil
}

// readUpstream reads what the provider sent next into in's spare room and moves every event it
// completes to out. The error ends the stream: the provider's (io.EOF at a clean end), or the
// relay's own for a stream it refuses to read further.
func (r *sseRelay) readUpstream() error {
	if cap(r.in)-len(r.in) < relayReadSize {
		r.in = slices.Grow(r.in, relayReadSize)
	}
	n, err := r.body.Read(r.in[len(r.in):cap(r.in)])
	r.in = r.in[:len(r.in)+n]
	r.relayEvents()
	return r.checkStop(err)
}

// checkStop returns the error that ends the stream after a read was consumed: the read's own,
// or one the relay decides on (an event too large, a translator error), in which case it closes
// the upstream body.
func (r *sseRelay) checkStop(err error) error {
	if err != nil {
		return err
	}
	switch {
	case len(r.in) > maxEventSize:
		// A provider that never ends an event would grow r.in without bound.
		err = errEventTooLarge
	case r.streamErr != nil:
		err = r.streamErr
	default:
		return nil
	}
	_ = r.body.CloseWithError(err)
	return err
}

// consume appends received bytes and moves every complete event to out.
func (r *sseRelay) consume(data []byte) {
	r.in = append(r.in, data...)
	r.relayEvents()
}

// relayEvents moves every complete event in in to out, keeping the incomplete rest.
func (r *sseRelay) relayEvents() {
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

// relayEvent relays one upstream event: translated first on a translated route. Nothing is
// relayed once the stream is stopped.
func (r *sseRelay) relayEvent(ev []byte) {
	if r.streamErr != nil {
		return
	}
	if r.translator != nil {
		r.translateEvent(ev)
		return
	}
	r.relayOpenAIEvent(ev)
}

// relayOpenAIEvent copies one OpenAI event to out. The usage event gets its cost; everything
// else passes byte for byte, except that for clients that did not ask for the usage chunk its
// usage moves into the finish chunk before it. A data event that is not a JSON object (a
// provider cut off mid-event, say) is not relayed: it stops the stream, which ends with an
// error event the SDKs raise, rather than with a chunk they fail to parse.
func (r *sseRelay) relayOpenAIEvent(ev []byte) {
	ev = r.withServedModel(ev)
	payload, ps := eventData(ev)
	if payload == nil {
		r.flushPending()
		r.out = append(r.out, ev...)
		return
	}
	if len(payload) == 0 {
		return // "data:" with nothing: no SDK could parse it, and nothing is lost without it
	}
	if bytes.Equal(payload, doneData) {
		r.gotData = true
		r.flushPending()
		r.sawDone = true
		r.out = append(r.out, ev...)
		return
	}
	var usageVS, usageVE int
	choicesEmpty, finished := false, false
	it, ok := newObjectIter(payload)
	if ok {
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
	if it.failed() {
		r.streamErr = errMalformedEvent
		return
	}
	r.gotData = true
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
	if t := r.translator; t != nil && r.streamErr == nil && errors.Is(err, io.EOF) && t.Finished() {
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
	case r.streamErr != nil:
		msg, code = translatedStreamError(r.x.rec.Provider, r.streamErr)
	case errors.Is(err, errEventTooLarge):
		msg, code = "provider "+r.x.rec.Provider+" sent a malformed stream", "upstream_malformed"
	case errors.As(err, &ne) && ne.Timeout():
		msg, code = "provider "+r.x.rec.Provider+" sent nothing for too long; stream cut", "upstream_idle_timeout"
	}
	r.billPartial() // what the client received before the provider failed
	upstreamErrStream.Inc()
	streamsInterrupted.Inc()
	r.errorCode = code
	r.x.providerFailed = true
	r.out = r.appendErrorEvent(r.out, 502, msg)
}

// billPartial prices a stream that ended without its usage chunk (the client left, or the
// provider failed), so that a client cannot take an answer for free by leaving just before its
// end. An OpenAI stream reports usage only at its end: the prompt is estimated at 4 bytes a
// token and the completion at a token per content chunk relayed, which is how
// OpenAI-compatible servers stream. A translated stream knows what the provider reported so far
// (Anthropic's message_start carries the prompt's tokens, but an output count of 1 until its
// end): its prompt count stands, and its completion count is raised to the estimate.
func (r *sseRelay) billPartial() {
	if r.x.usage != (catalog.Usage{}) || r.x.model == nil {
		return
	}
	var estimate catalog.Usage
	if r.gotData {
		estimate = catalog.Usage{Prompt: int64(r.promptBytes+3) / 4, Completion: r.choiceEvents}
	}
	r.x.usage = estimate
	if t := r.translator; t != nil {
		reported := t.Usage()
		if reported.Prompt == 0 {
			reported.Prompt = estimate.Prompt
		}
		reported.Completion = max(reported.Completion, estimate.Completion)
		r.x.usage = reported
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
// upstream request, records the usage unless send already did, and releases everything.
func (r *sseRelay) CloseWithError(err error) error {
	pooled := r.stopTimer()
	cancelled := err != nil || !r.finished
	if cancelled {
		_ = r.body.CloseWithError(balancer.ErrClientGone) // closes the provider connection
	} else {
		_ = r.body.CloseWithError(nil)
	}
	if !r.recorded {
		r.record(cancelled)
	}
	streamsInFlight.Dec()
	fasthttp.ReleaseResponse(r.uresp)
	r.release(pooled)
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

// release clears the relay for its next stream and pools it, unless pooled is false (see
// stopTimer): then the garbage collector takes it once its last onTimer has run.
func (r *sseRelay) release(pooled bool) {
	if !pooled {
		return
	}
	*r = sseRelay{timer: r.timer,
		in: r.in[:0], out: r.out[:0], pending: r.pending[:0], scratch: r.scratch[:0], evbuf: r.evbuf[:0], tbuf: r.tbuf[:0]}
	relayPool.Put(r)
}
