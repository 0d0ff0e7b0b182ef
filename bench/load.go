package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// RunResult is what one load run against one target measured.
type RunResult struct {
	Requests int64         // answered with 200
	Errors   int64         // transport errors and other statuses
	FirstErr string        // the first error, for the report
	Elapsed  time.Duration // from the first send to the last answer
	// Latency is, in closed loop, each request's time from send to last byte; in open loop, its
	// time from the scheduled send time, which counts the wait of requests queued behind a slow
	// one (coordinated omission).
	Latency Samples
	// Service is the open-loop time from the actual send to the last byte.
	Service Samples
	// Late is how long after its scheduled time the client sent each open-loop request: the
	// client's own error, reported so that it can be told apart from the servers'.
	Late Samples
}

// Throughput is answered requests per second.
func (r *RunResult) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// errorLog counts errors and keeps the first one.
type errorLog struct {
	mu    sync.Mutex
	n     int64
	first string
}

func (e *errorLog) add(err error) {
	e.mu.Lock()
	if e.n == 0 {
		e.first = err.Error()
	}
	e.n++
	e.mu.Unlock()
}

func (e *errorLog) count() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func (e *errorLog) firstErr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.first
}

func statusError(status int) error { return fmt.Errorf("status %d", status) }

const clientBufSize = 16 << 10

// ClosedLoop is a fixed number of clients, each sending its next request as soon as the last
// one is answered: the target's maximum throughput, and its latency at that load.
type ClosedLoop struct {
	Addr        string
	Request     []byte
	Concurrency int
	Duration    time.Duration // stop sending after this
	MaxRequests int64         // and after this many (0: no limit)
}

// Run drives the load until Duration, MaxRequests or ctx ends it.
func (l ClosedLoop) Run(ctx context.Context) RunResult {
	var (
		errs   errorLog
		issued atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		res    RunResult
	)
	start := time.Now()
	deadline := start.Add(l.Duration)
	for range max(l.Concurrency, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat Samples
			var ok int64
			var c *clientConn
			defer func() {
				if c != nil {
					c.close()
				}
				mu.Lock()
				res.Latency.Merge(&lat)
				res.Requests += ok
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) || l.MaxRequests > 0 && issued.Add(1) > l.MaxRequests {
					return
				}
				if c == nil {
					var err error
					if c, err = dialConn(l.Addr, clientBufSize); err != nil {
						errs.add(err)
						time.Sleep(20 * time.Millisecond)
						continue
					}
					t0 = time.Now()
				}
				r, err := c.roundTrip(l.Request, nil)
				switch {
				case err != nil:
					errs.add(err)
				case r.status != 200:
					errs.add(statusError(r.status))
				default:
					lat.Add(time.Since(t0))
					ok++
				}
				if err != nil || r.close {
					c.close()
					c = nil
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Errors, res.FirstErr = errs.count(), errs.firstErr()
	return res
}

// roundTrip writes one request and reads its response.
func (c *clientConn) roundTrip(req []byte, sse *sseScanner) (response, error) {
	if _, err := c.c.Write(req); err != nil {
		return response{}, err
	}
	return c.readResponse(sse)
}

// OpenLoop sends requests at a fixed rate whatever the answers do, over a pool of keep-alive
// connections. A request whose turn comes while every connection is busy waits for one, and that
// wait counts in its latency, which is measured from its scheduled time.
type OpenLoop struct {
	Addr        string
	Request     []byte
	Rate        float64 // requests per second
	Duration    time.Duration
	MaxRequests int64 // 0: Rate × Duration
	Conns       int   // connection pool size (default 64)
}

// openConn is one pooled connection and the times of the request in flight on it. The pacer
// writes the times before it writes the request; the connection's reader loads them after the
// response, so atomics order them. The reader replaces a broken connection under mu, which
// shutdown takes to close whatever connection is current.
type openConn struct {
	mu          sync.Mutex
	cc          *clientConn
	closed      bool
	sched, sent atomic.Int64 // unix ns
}

func (o *openConn) conn() *clientConn {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cc
}

// redial replaces a broken connection; false once shut down.
func (o *openConn) redial(addr string, errs *errorLog) bool {
	o.cc.close()
	for {
		c, err := dialConn(addr, clientBufSize)
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			if err == nil {
				c.close()
			}
			return false
		}
		if err == nil {
			o.cc = c
			o.mu.Unlock()
			return true
		}
		o.mu.Unlock()
		errs.add(err)
		time.Sleep(20 * time.Millisecond)
	}
}

func (o *openConn) shutdown() {
	o.mu.Lock()
	o.closed = true
	o.cc.close()
	o.mu.Unlock()
}

// Run drives the load until the schedule, MaxRequests or ctx ends it.
func (l OpenLoop) Run(ctx context.Context) RunResult {
	n := int64(l.Rate * l.Duration.Seconds())
	if l.MaxRequests > 0 {
		n = min(n, l.MaxRequests)
	}
	conns := max(l.Conns, 1)
	if l.Conns <= 0 {
		conns = 64
	}
	var (
		errs errorLog
		res  RunResult
		mu   sync.Mutex
		wg   sync.WaitGroup
		all  []*openConn
	)
	// idle holds every connection not carrying a request; it never holds more than conns, so
	// returning one never blocks.
	idle := make(chan *openConn, conns)
	for range conns {
		c, err := dialConn(l.Addr, clientBufSize)
		if err != nil {
			errs.add(err)
			break
		}
		oc := &openConn{cc: c}
		all = append(all, oc)
		idle <- oc
		wg.Add(1)
		go func() { // the connection's reader
			defer wg.Done()
			var lat, svc Samples
			var ok int64
			defer func() {
				mu.Lock()
				res.Latency.Merge(&lat)
				res.Service.Merge(&svc)
				res.Requests += ok
				mu.Unlock()
			}()
			for {
				cc := oc.conn()
				r, err := cc.readResponse(nil)
				done := time.Now().UnixNano()
				oc.mu.Lock()
				closed := oc.closed
				oc.mu.Unlock()
				if closed {
					return
				}
				switch {
				case err != nil:
					errs.add(err)
				case r.status != 200:
					errs.add(statusError(r.status))
				default:
					lat.Add(time.Duration(done - oc.sched.Load()))
					svc.Add(time.Duration(done - oc.sent.Load()))
					ok++
				}
				if (err != nil || r.close) && !oc.redial(l.Addr, &errs) {
					return
				}
				idle <- oc
			}
		}()
	}
	if len(all) < conns {
		n = 0 // cannot connect: report the error, send nothing
	}

	interval := float64(time.Second) / l.Rate
	var p pacer
	p.start()
	start := time.Now()
	for i := int64(0); i < n && ctx.Err() == nil; i++ {
		sched := start.Add(time.Duration(float64(i) * interval))
		p.wait(sched)
		oc := <-idle
		now := time.Now()
		res.Late.Add(now.Sub(sched))
		oc.sched.Store(sched.UnixNano())
		oc.sent.Store(now.UnixNano())
		if _, err := oc.cc.c.Write(l.Request); err != nil {
			oc.cc.close() // its reader sees the error, counts it and reconnects
		}
	}
	p.stop()
	// Wait (bounded) for the answers still in flight, then close everything.
	drain := time.After(10 * time.Second)
wait:
	for range all {
		select {
		case <-idle:
		case <-drain:
			break wait
		}
	}
	res.Elapsed = time.Since(start)
	for _, oc := range all {
		oc.shutdown()
	}
	wg.Wait()
	res.Errors, res.FirstErr = errs.count(), errs.firstErr()
	return res
}
