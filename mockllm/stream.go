package mockllm

import (
	"bufio"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// eventSink delivers one complete server-sent event to the client at once.
// Events are never batched: a gateway's streaming path is only tested if each
// token leaves the mock when it is produced.
type eventSink interface {
	send(p []byte) error
}

// flushSink writes into fasthttp's body stream writer and flushes per event.
type flushSink struct{ w *bufio.Writer }

func (f flushSink) send(p []byte) error {
	if _, err := f.w.Write(p); err != nil {
		return err
	}
	return f.w.Flush()
}

// connSink writes chunked-encoded events straight onto a hijacked connection.
// It exists for the "disconnect" fault: fasthttp always ends a streamed body
// cleanly, and closing its connection from the stream writer could race with
// events it has not yet written, so disconnect streams own the socket.
type connSink struct {
	c   net.Conn
	buf []byte
}

func (s *connSink) send(p []byte) error {
	if len(p) == 0 {
		return nil // an empty chunk would end the body; the head is already written
	}
	s.buf = strconv.AppendInt(s.buf[:0], int64(len(p)), 16)
	s.buf = append(s.buf, "\r\n"...)
	s.buf = append(s.buf, p...)
	s.buf = append(s.buf, "\r\n"...)
	_, err := s.c.Write(s.buf)
	return err
}

// sseHeader is the response head of a hijacked event stream.
const sseHeader = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n" +
	"Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"

// eventWriter is handed to a wire encoder, which appends one event to buf and
// calls flush, once per event.
type eventWriter struct {
	sink eventSink
	buf  []byte
}

func (ew *eventWriter) flush() error {
	err := ew.sink.send(ew.buf)
	ew.buf = ew.buf[:0]
	return err
}

// streamEncoder renders one wire format's event sequence. The driver
// (runStream) owns timing, faults and accounting, so a new provider mode only
// has to say what its events look like.
type streamEncoder interface {
	waiting(ew *eventWriter) error             // what the provider sends while it has no event yet (may be nothing)
	start(ew *eventWriter) error               // events before the first token
	content(ew *eventWriter, tok string) error // one token
	finish(ew *eventWriter) error              // finish, usage and terminator events
	malformed(ew *eventWriter) error           // a syntactically broken event, then the terminator
	streamError(ew *eventWriter) error         // the provider's in-stream error event; the stream then ends
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// runStream drives one streamed completion: start events, one content event
// per token with EventDelay before each, then the finish events — or, at
// FaultAfter tokens, the configured stream fault. A failed write means the
// client hung up: it is counted and generation stops at once.
func (s *Server) runStream(sink eventSink, enc streamEncoder, text *completionText, b *Behavior) {
	s.streams.Add(1)
	s.active.Add(1)
	defer s.active.Add(-1)

	bp := bufPool.Get().(*[]byte)
	ew := eventWriter{sink: sink, buf: (*bp)[:0]}
	defer func() { *bp = ew.buf[:0]; bufPool.Put(bp) }()

	faultAt := -1
	switch b.Fault {
	case FaultStall, FaultDisconnect, FaultMalformed, FaultStreamError:
		faultAt = min(b.FaultAfter, text.n)
	}
	var timer *time.Timer
	delay := time.Duration(b.EventDelay)
	if delay > 0 {
		timer = time.NewTimer(delay)
		defer timer.Stop()
	}

	if !s.processing(&ew, enc, time.Duration(b.Processing)) {
		return
	}
	if err := enc.start(&ew); err != nil {
		s.clientGone()
		return
	}
	for i := 0; ; i++ {
		if i == faultAt {
			switch b.Fault {
			case FaultStall:
				s.sleep(nil, maxHold)
			case FaultMalformed:
				if err := enc.malformed(&ew); err != nil {
					s.clientGone()
				}
			case FaultStreamError:
				if err := enc.streamError(&ew); err != nil {
					s.clientGone()
				}
			}
			// FaultDisconnect: returning closes the hijacked connection.
			return
		}
		tok, ok := text.next()
		if !ok {
			break
		}
		if !s.sleep(timer, delay) {
			return
		}
		if err := enc.content(&ew, tok); err != nil {
			s.clientGone()
			return
		}
	}
	if err := enc.finish(&ew); err != nil {
		s.clientGone()
	}
}

// processingKeepAlive is how often a processing stream repeats the mode's waiting event.
const processingKeepAlive = 100 * time.Millisecond

// processing holds a stream between its headers and its first event for d, as a provider
// does while the model is queued: the headers go out at once, then the mode's waiting event
// every processingKeepAlive. It reports whether the stream should go on.
func (s *Server) processing(ew *eventWriter, enc streamEncoder, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		if err := enc.waiting(ew); err != nil {
			s.clientGone()
			return false
		}
		step := min(d, processingKeepAlive)
		if !s.sleep(t, step) {
			return false
		}
		if d -= step; d <= 0 {
			return true
		}
	}
}

// clientGone records a stream abandoned by its client. Writes failing
// because the server itself is shutting down are not the client's doing.
func (s *Server) clientGone() {
	if !s.shuttingDown() {
		s.cancelled.Add(1)
	}
}

// hijack takes the connection over from fasthttp after the handler returns,
// without any response, and runs fn on it; the connection is closed when fn
// returns. Used by the faults fasthttp cannot express: answering never
// (hang) and dropping the connection mid-response (disconnect). Hijacked
// connections are tracked so Shutdown can end them.
func (s *Server) hijack(ctx *fasthttp.RequestCtx, fn func(net.Conn)) {
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		// Set before registering, so Shutdown's deadline always wins.
		c.SetDeadline(time.Now().Add(maxHold))
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.hijacked[c] = struct{}{}
		s.hijacks.Add(1)
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.hijacked, c)
			s.mu.Unlock()
			s.hijacks.Done()
		}()
		fn(c)
	})
}

// hold keeps a hijacked connection open without answering until the client
// closes it, the server shuts down, or maxHold passes. Reading is how the
// client's departure is noticed; anything it sends is discarded.
func hold(c net.Conn) {
	var buf [512]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			return
		}
	}
}
