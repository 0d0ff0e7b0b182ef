package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// The load generator speaks HTTP/1.1 over raw keep-alive connections: a request is one
// pre-rendered byte slice written in one call, and a response is parsed just far enough to know
// where it ends (and, for event streams, when each event arrived). That costs a fraction of what
// any of the servers under test spend per request, so the client is never the bottleneck, and it
// allocates nothing per request.

// BuildRequest renders a complete POST request for host with a bearer token (omitted when empty).
func BuildRequest(host, path, token string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\n", path, host)
	if token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", token)
	}
	fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return b.Bytes()
}

// clientConn is one keep-alive connection, used by one goroutine at a time.
type clientConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialConn(addr string, bufSize int) (*clientConn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &clientConn{c: c, br: bufio.NewReaderSize(c, bufSize)}, nil
}

func (c *clientConn) close() { _ = c.c.Close() }

// response is what reading one response found.
type response struct {
	status  int
	bodyLen int
	close   bool // the server closes the connection after it
}

var (
	errStatusLine = errors.New("malformed status line")
	errChunk      = errors.New("malformed chunked encoding")
)

// readResponse reads one whole response. If sse is not nil every body byte goes through it,
// with the time it was read.
func (c *clientConn) readResponse(sse *sseScanner) (response, error) {
	var r response
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return r, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return r, errStatusLine
	}
	r.status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return r, errStatusLine
	}
	r.close = line[7] == '0' // HTTP/1.0 closes unless told otherwise; good enough for a client
	contentLength, chunked := -1, false
	for {
		line, err = c.br.ReadSlice('\n')
		if err != nil {
			return r, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if contentLength, err = strconv.Atoi(string(value)); err != nil || contentLength < 0 {
				return r, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			r.close = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case r.status < 200 || r.status == 204 || r.status == 304:
	case chunked:
		for {
			line, err = c.br.ReadSlice('\n')
			if err != nil {
				return r, err
			}
			size, err := parseChunkSize(line)
			if err != nil {
				return r, err
			}
			if size == 0 {
				for { // trailers, then the final empty line
					line, err = c.br.ReadSlice('\n')
					if err != nil {
						return r, err
					}
					if len(bytes.TrimRight(line, "\r\n")) == 0 {
						break
					}
				}
				break
			}
			if err := c.readBody(size, sse); err != nil {
				return r, err
			}
			r.bodyLen += size
			if line, err = c.br.ReadSlice('\n'); err != nil {
				return r, err
			} else if len(bytes.TrimRight(line, "\r\n")) != 0 {
				return r, errChunk
			}
		}
	case contentLength >= 0:
		if err := c.readBody(contentLength, sse); err != nil {
			return r, err
		}
		r.bodyLen = contentLength
	default: // the body ends with the connection
		r.close = true
		for {
			n, err := c.readSome(sse)
			r.bodyLen += n
			if err == io.EOF {
				break
			} else if err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

// readBody consumes n body bytes.
func (c *clientConn) readBody(n int, sse *sseScanner) error {
	if sse == nil {
		_, err := c.br.Discard(n)
		return err
	}
	for n > 0 {
		if _, err := c.br.Peek(1); err != nil {
			return err
		}
		k := min(n, c.br.Buffered())
		p, _ := c.br.Peek(k)
		sse.feed(p, time.Now())
		_, _ = c.br.Discard(k)
		n -= k
	}
	return nil
}

// readSome consumes whatever is buffered or arrives next.
func (c *clientConn) readSome(sse *sseScanner) (int, error) {
	if _, err := c.br.Peek(1); err != nil {
		return 0, err
	}
	k := c.br.Buffered()
	if sse != nil {
		p, _ := c.br.Peek(k)
		sse.feed(p, time.Now())
	}
	_, _ = c.br.Discard(k)
	return k, nil
}

// parseChunkSize reads the hexadecimal size at the start of a chunk line ("1a3;ext\r\n").
func parseChunkSize(line []byte) (int, error) {
	line = bytes.TrimRight(line, "\r\n")
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || len(line) > 8 {
		return 0, errChunk
	}
	n, err := strconv.ParseUint(string(line), 16, 32)
	if err != nil {
		return 0, errChunk
	}
	return int(n), nil
}

// sseScanner finds the ends of server-sent events in a body fed to it piece by piece, and notes
// when each event that carries data arrived. Comments (": keep-alive") are not events.
type sseScanner struct {
	events  []time.Time // arrival of each event with a data line
	atStart bool        // the next byte begins a line
	match   int         // bytes of "data:" matched at the start of the current line; -1: no match
	hasData bool        // the current event has a data line
	onFirst func()      // if set, called when the first data event has arrived
}

func (s *sseScanner) reset() {
	s.events = s.events[:0]
	s.atStart, s.match, s.hasData = true, 0, false
}

const dataField = "data:"

func (s *sseScanner) feed(p []byte, now time.Time) {
	for i := 0; i < len(p); {
		b := p[i]
		if s.atStart {
			if b == '\n' { // an empty line ends the event
				if s.hasData {
					s.events = append(s.events, now)
					s.hasData = false
					if len(s.events) == 1 && s.onFirst != nil {
						s.onFirst()
					}
				}
				i++
				continue
			}
			if b == '\r' {
				i++
				continue
			}
			s.atStart, s.match = false, 0
		}
		if s.match >= 0 && s.match < len(dataField) {
			switch {
			case b == '\n':
				s.atStart = true
			case b == dataField[s.match]:
				s.match++
				if s.match == len(dataField) {
					s.hasData = true
				}
			default:
				s.match = -1
			}
			i++
			continue
		}
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return
		}
		i += j + 1
		s.atStart = true
	}
}
