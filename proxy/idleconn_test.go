package proxy

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// countingConn counts read-deadline updates.
type countingConn struct {
	net.Conn
	deadlines int
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.deadlines++
	return c.Conn.SetReadDeadline(t)
}

// TestIdleConnSetsDeadlinesSparingly: a busy stream's reads do not each reset the read
// deadline, yet a silent provider is still cut, and the first-byte deadline is exact.
func TestIdleConnSetsDeadlinesSparingly(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	cc := &countingConn{Conn: client}
	c := &idleConn{Conn: cc, idle: time.Minute, firstByte: 100 * time.Millisecond}

	go func() {
		for range 200 {
			if _, err := server.Write([]byte("data: x\n\n")); err != nil {
				return
			}
		}
	}()
	c.firstByteBy = time.Now().Add(c.firstByte) // as writing a request does
	buf := make([]byte, 64)
	for range 200 {
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	// One exact first-byte deadline, then one idle deadline with slack for every later read.
	if cc.deadlines > 2 {
		t.Fatalf("%d read-deadline updates for 200 reads, want at most 2", cc.deadlines)
	}

	// Silence: the read must end with a timeout, not hang.
	c.idle = 50 * time.Millisecond
	c.set = time.Time{}
	start := time.Now()
	_, err := c.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent provider: err %v", err)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("cut after %v, before the idle timeout", took)
	}
}
