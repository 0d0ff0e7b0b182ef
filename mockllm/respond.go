package mockllm

import (
	"bufio"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// The steps every wire mode shares once a request is authenticated and valid: faults that
// hold or drop the connection, the time to first byte, and delivery of a stream. Only error
// bodies and events differ between providers, and those come from the mode.

// admit applies hang, non-streaming stall and disconnect, waits Latency, then lets the mode
// answer its own faults (status, rate_limit) through fault. It reports whether the handler
// should go on to answer; unavailable writes the mode's 503 when the server shuts down
// during the wait.
func (s *Server) admit(ctx *fasthttp.RequestCtx, b *Behavior, stream bool, unavailable func(), fault func() bool) bool {
	// hang never answers at all, so it skips Latency.
	if b.Fault == FaultHang || (b.Fault == FaultStall && !stream) {
		s.hijack(ctx, hold)
		return false
	}
	if !s.sleep(nil, time.Duration(b.Latency)) {
		ctx.SetConnectionClose()
		unavailable()
		return false
	}
	if b.Fault == FaultDisconnect && !stream {
		s.hijack(ctx, func(net.Conn) {}) // close without a response
		return false
	}
	return !fault()
}

// streamTo answers 200 with enc's events for text. The disconnect fault owns the connection
// so it can drop it mid-stream; see connSink.
func (s *Server) streamTo(ctx *fasthttp.RequestCtx, contentType string, enc streamEncoder, text *completionText, b *Behavior) {
	if b.Fault == FaultDisconnect {
		head := strings.Replace(sseHeader, "text/event-stream", contentType, 1)
		s.hijack(ctx, func(c net.Conn) {
			if _, err := c.Write([]byte(head)); err != nil {
				s.clientGone()
				return
			}
			s.runStream(&connSink{c: c}, enc, text, b)
		})
		return
	}
	ctx.SetContentType(contentType)
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-cache")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		s.runStream(flushSink{w}, enc, text, b)
	})
}

// retryAfter is Behavior.RetryAfter with its default.
func (b *Behavior) retryAfter() int {
	if b.RetryAfter == 0 {
		return 1
	}
	return b.RetryAfter
}

// faultStatus is Behavior.FaultStatus with its default.
func (b *Behavior) faultStatus() int {
	if b.FaultStatus == 0 {
		return fasthttp.StatusInternalServerError
	}
	return b.FaultStatus
}
