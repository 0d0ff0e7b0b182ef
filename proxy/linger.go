package proxy

import (
	"io"
	"net"
	"sync/atomic"
	"time"
)

// How long, and for how many bytes, a connection closed on an unread request is drained.
// net/http waits the same half second (its rstAvoidanceDelay).
const (
	lingerTimeout  = 500 * time.Millisecond
	lingerMaxBytes = 64 << 20
)

// lingerListener hands the server lingerConns.
//
// Why: when the gateway refuses a request it has not read whole (a body over the size limit,
// headers too large, a malformed request), fasthttp writes the error and closes the socket
// with the rest of the request still unread. Closing a TCP socket with unread data sends a
// reset, and a reset that reaches the client before it has read the answer destroys it: the
// client sees "connection reset by peer" instead of our 413 or 431. Such a connection is
// instead half-closed (the answer and a FIN go out) and what the client still sends is read
// and dropped for a moment, which gives it the time to read the answer, as net/http does.
type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c}, nil
}

// lingerConn is a connection that drains before closing once markUnread was called on it.
// Every other close is the plain one.
type lingerConn struct {
	net.Conn
	unread atomic.Bool
}

// markUnread makes conn (when the listener made it) linger when it is closed: the request
// on it was answered without being read whole.
func markUnread(conn net.Conn) {
	if c, ok := conn.(*lingerConn); ok {
		c.unread.Store(true)
	}
}

// Close closes the connection, in the background after draining it when it was marked.
func (c *lingerConn) Close() error {
	if c.unread.CompareAndSwap(true, false) {
		go c.drainAndClose()
		return nil
	}
	return c.Conn.Close()
}

func (c *lingerConn) drainAndClose() {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, c.Conn, lingerMaxBytes)
	_ = c.Conn.Close()
}
