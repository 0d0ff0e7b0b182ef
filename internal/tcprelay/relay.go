// Package tcprelay is a TCP relay that tests put between the gateway and a server (PostgreSQL,
// Redis) to cut the connection and restore it, without touching the machine's own server.
package tcprelay

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Relay forwards every connection made to Addr to the target. Safe for concurrent use.
type Relay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	cut    bool
	wg     sync.WaitGroup
}

// Start listens on a free loopback port and relays to target until the test ends.
func Start(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.close)
	return r
}

// Addr is the host:port to connect to instead of the target.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Cut closes every relayed connection and refuses new ones (they are closed as soon as they
// are accepted) until Restore: to a client, the server is gone.
func (r *Relay) Cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = true
	for c := range r.conns {
		c.Close()
	}
}

// Restore relays new connections again.
func (r *Relay) Restore() {
	r.mu.Lock()
	r.cut = false
	r.mu.Unlock()
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		cut := r.cut
		r.mu.Unlock()
		if cut {
			c.Close()
			continue
		}
		r.wg.Add(1)
		go r.relay(c)
	}
}

func (r *Relay) relay(c net.Conn) {
	defer r.wg.Done()
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		c.Close()
		return
	}
	if !r.track(c, up) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src) //nolint:errcheck // either side closing ends the relay
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
	r.mu.Lock()
	delete(r.conns, c)
	delete(r.conns, up)
	r.mu.Unlock()
}

// track registers both ends, unless the relay was cut while dialling.
func (r *Relay) track(c, up net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cut {
		c.Close()
		up.Close()
		return false
	}
	r.conns[c], r.conns[up] = struct{}{}, struct{}{}
	return true
}

func (r *Relay) close() {
	r.ln.Close()
	r.Cut()
	r.wg.Wait()
}
