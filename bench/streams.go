package bench

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// StreamLoop runs event streams back to back on a fixed number of connections and measures
// what a streaming client sees: the time to the first byte of the answer, and the gap between
// consecutive events, which a proxy that buffers would bunch up.
type StreamLoop struct {
	Addr        string
	Request     []byte // a request with "stream": true
	Concurrency int
	Streams     int           // stop after this many streams in all
	Duration    time.Duration // or after this long (0: no time limit)
	// Stagger spreads the connections' first streams evenly over this long, so that streams
	// start one by one as in steady state rather than all at once (which would measure a burst).
	Stagger time.Duration
}

// StreamResult is what a StreamLoop measured.
type StreamResult struct {
	Streams  int64   // completed with 200
	Errors   int64   // failed streams
	FirstErr string  // the first failure
	TTFB     Samples // request written → first byte of the response
	// FirstEvent is request written → first event carrying data.
	FirstEvent Samples
	Gaps       Samples // between consecutive data events of a stream
	Duration   Samples // request written → end of the stream
	// MinEvents and MaxEvents are the fewest and most data events in one stream: equal to the
	// upstream's when the proxy relays every event.
	MinEvents, MaxEvents int
}

// Run drives the streams until the count, the time or ctx ends them.
func (l StreamLoop) Run(ctx context.Context) StreamResult {
	var (
		errs   errorLog
		issued atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		res    = StreamResult{MinEvents: -1}
	)
	var deadline time.Time
	if l.Duration > 0 {
		deadline = time.Now().Add(l.Duration)
	}
	conc := max(l.Concurrency, 1)
	for i := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Stagger > 0 {
				select {
				case <-time.After(l.Stagger * time.Duration(i) / time.Duration(conc)):
				case <-ctx.Done():
				}
			}
			var mine StreamResult
			mine.MinEvents = -1
			var c *clientConn
			sse := &sseScanner{events: make([]time.Time, 0, 256)}
			defer func() {
				if c != nil {
					c.close()
				}
				mu.Lock()
				res.merge(&mine)
				mu.Unlock()
			}()
			for ctx.Err() == nil && issued.Add(1) <= int64(l.Streams) && (deadline.IsZero() || time.Now().Before(deadline)) {
				if c == nil {
					var err error
					if c, err = dialConn(l.Addr, clientBufSize); err != nil {
						errs.add(err)
						time.Sleep(20 * time.Millisecond)
						continue
					}
				}
				sse.reset()
				t0 := time.Now()
				r, ttfb, err := c.stream(l.Request, sse)
				end := time.Now()
				switch {
				case err != nil:
					errs.add(err)
				case r.status != 200:
					errs.add(statusError(r.status))
				case len(sse.events) == 0:
					errs.add(errors.New("stream without events"))
				default:
					mine.Streams++
					mine.TTFB.Add(ttfb.Sub(t0))
					mine.FirstEvent.Add(sse.events[0].Sub(t0))
					mine.Duration.Add(end.Sub(t0))
					for i := 1; i < len(sse.events); i++ {
						mine.Gaps.Add(sse.events[i].Sub(sse.events[i-1]))
					}
					mine.countEvents(len(sse.events))
				}
				if err != nil || r.close {
					c.close()
					c = nil
				}
			}
		}()
	}
	wg.Wait()
	res.Errors, res.FirstErr = errs.count(), errs.firstErr()
	if res.MinEvents < 0 {
		res.MinEvents = 0
	}
	return res
}

func (r *StreamResult) countEvents(n int) {
	if r.MinEvents < 0 || n < r.MinEvents {
		r.MinEvents = n
	}
	r.MaxEvents = max(r.MaxEvents, n)
}

func (r *StreamResult) merge(o *StreamResult) {
	r.Streams += o.Streams
	r.TTFB.Merge(&o.TTFB)
	r.FirstEvent.Merge(&o.FirstEvent)
	r.Gaps.Merge(&o.Gaps)
	r.Duration.Merge(&o.Duration)
	if o.Streams > 0 {
		r.countEvents(o.MinEvents)
		r.countEvents(o.MaxEvents)
	}
}

// stream writes a request and reads its streamed response, returning when its first byte came.
func (c *clientConn) stream(req []byte, sse *sseScanner) (response, time.Time, error) {
	if _, err := c.c.Write(req); err != nil {
		return response{}, time.Time{}, err
	}
	if _, err := c.br.Peek(1); err != nil {
		return response{}, time.Time{}, err
	}
	ttfb := time.Now()
	r, err := c.readResponse(sse)
	return r, ttfb, err
}

// Hold opens many slow streams at once and keeps them open, to measure what an open stream
// costs a proxy in memory. Start it, wait until every stream has its first event (WaitOpen),
// measure the proxy, then Close the streams.
type Hold struct {
	opened  atomic.Int64
	errs    errorLog
	allOpen chan struct{}
	done    chan struct{}
	n       int

	mu      sync.Mutex
	conns   map[*clientConn]struct{}
	closing bool
}

// HoldResult is how the held streams fared.
type HoldResult struct {
	Streams  int    `json:"streams"`
	Opened   int64  `json:"opened"` // got their first event
	Failed   int64  `json:"failed"` // never opened, or broke before Close
	FirstErr string `json:"first_error,omitempty"`
}

// StartHold opens n streams to addr, dialling at most `parallel` at a time until each has its
// first event. Nothing is retried: a stream that fails counts as failed.
func StartHold(ctx context.Context, addr string, req []byte, n, parallel int) *Hold {
	h := &Hold{allOpen: make(chan struct{}), done: make(chan struct{}), n: n, conns: map[*clientConn]struct{}{}}
	gate := make(chan struct{}, max(parallel, 1))
	var settled atomic.Int64 // opened, or failed before opening
	settle := func() {
		if settled.Add(1) == int64(n) {
			close(h.allOpen)
		}
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gate <- struct{}{}
			released := false
			release := func() {
				if !released {
					released = true
					<-gate
					settle()
				}
			}
			defer release()
			if ctx.Err() != nil {
				h.errs.add(ctx.Err())
				return
			}
			c, err := dialConn(addr, 4<<10)
			if err != nil {
				h.errs.add(err)
				return
			}
			if !h.register(c) {
				return
			}
			sse := &sseScanner{onFirst: func() { h.opened.Add(1); release() }}
			sse.reset()
			r, _, err := c.stream(req, sse)
			if h.unregister(c) {
				return // closed on purpose: whatever happened after is not a failure
			}
			switch {
			case err != nil:
				h.errs.add(err)
			case r.status != 200:
				h.errs.add(statusError(r.status))
			}
		}()
	}
	go func() { wg.Wait(); close(h.done) }()
	return h
}

func (h *Hold) register(c *clientConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		c.close()
		return false
	}
	h.conns[c] = struct{}{}
	return true
}

// unregister closes c and reports whether Close had begun.
func (h *Hold) unregister(c *clientConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
	c.close()
	return h.closing
}

// WaitOpen waits until every stream has opened or failed, or timeout; it reports how many are
// open now.
func (h *Hold) WaitOpen(timeout time.Duration) int64 {
	select {
	case <-h.allOpen:
	case <-time.After(timeout):
	}
	return h.opened.Load()
}

// Close hangs up every stream still open, waits (at most timeout) for their goroutines and
// reports how the streams fared.
func (h *Hold) Close(timeout time.Duration) HoldResult {
	h.mu.Lock()
	h.closing = true
	for c := range h.conns {
		c.close()
	}
	h.mu.Unlock()
	select {
	case <-h.done:
	case <-time.After(timeout):
	}
	r := HoldResult{Streams: h.n, Opened: h.opened.Load(), FirstErr: h.errs.firstErr()}
	r.Failed = max(int64(h.n)-r.Opened, h.errs.count())
	return r
}
