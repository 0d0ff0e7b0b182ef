package bench

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// connWith returns a clientConn that reads the given server bytes.
func connWith(t *testing.T, server string) *clientConn {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	go func() { _, _ = b.Write([]byte(server)); b.Close() }()
	return &clientConn{c: a, br: bufio.NewReaderSize(a, 64)} // a tiny buffer exercises refills
}

func TestReadResponseContentLength(t *testing.T) {
	body := strings.Repeat("x", 300)
	c := connWith(t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 300\r\n\r\n"+body+
		"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
	r, err := c.readResponse(nil)
	if err != nil || r.status != 200 || r.bodyLen != 300 || r.close {
		t.Fatalf("first: %+v %v", r, err)
	}
	r, err = c.readResponse(nil)
	if err != nil || r.status != 429 || r.bodyLen != 2 || !r.close {
		t.Fatalf("second: %+v %v", r, err)
	}
}

func TestReadResponseChunkedWithEvents(t *testing.T) {
	ev := func(s string) string { return "data: " + s + "\n\n" }
	payload := ev(`{"a":1}`) + ": keep-alive\n\n" + ev(`{"b":2}`) + "event: x\r\ndata: y\r\n\r\n" + ev("[DONE]")
	// Split the payload into chunks that cut events, lines and the "data:" prefix apart.
	var chunked strings.Builder
	for rest := payload; rest != ""; {
		n := min(7, len(rest))
		chunked.WriteString(strings.ToUpper(strings.TrimLeft(itoaHex(n), "0")) + ";ext=1\r\n" + rest[:n] + "\r\n")
		rest = rest[n:]
	}
	chunked.WriteString("0\r\nTrailer: x\r\n\r\n")
	c := connWith(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"+chunked.String()+
		"HTTP/1.1 204 No Content\r\n\r\n")
	sse := &sseScanner{}
	sse.reset()
	r, err := c.readResponse(sse)
	if err != nil || r.status != 200 || r.bodyLen != len(payload) {
		t.Fatalf("%+v %v", r, err)
	}
	if len(sse.events) != 4 {
		t.Fatalf("%d data events, want 4 (a comment is not one)", len(sse.events))
	}
	if r, err := c.readResponse(nil); err != nil || r.status != 204 {
		t.Fatalf("after the stream: %+v %v", r, err)
	}
}

func itoaHex(n int) string {
	const digits = "0123456789abcdef"
	s := ""
	for ; n > 0; n /= 16 {
		s = string(digits[n%16]) + s
	}
	return s
}

func TestReadResponseUntilClose(t *testing.T) {
	c := connWith(t, "HTTP/1.0 200 OK\r\n\r\nhello")
	r, err := c.readResponse(nil)
	if err != nil || r.bodyLen != 5 || !r.close {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestReadResponseRejectsGarbage(t *testing.T) {
	for _, s := range []string{"SSH-2.0-OpenSSH\r\n", "HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"} {
		if _, err := connWith(t, s).readResponse(nil); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

func TestSSEScannerFirstEventCallback(t *testing.T) {
	calls := 0
	s := &sseScanner{onFirst: func() { calls++ }}
	s.reset()
	now := time.Now()
	for _, b := range []byte("data: 1\n\ndata: 2\n\n") {
		s.feed([]byte{b}, now)
	}
	if calls != 1 || len(s.events) != 2 {
		t.Fatalf("calls %d events %d", calls, len(s.events))
	}
}

func TestBuildRequest(t *testing.T) {
	got := string(BuildRequest("h:1", "/v1/x", "tok", []byte("{}")))
	want := "POST /v1/x HTTP/1.1\r\nHost: h:1\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	if got != want {
		t.Fatalf("got %q", got)
	}
	if strings.Contains(string(BuildRequest("h", "/", "", nil)), "Authorization") {
		t.Fatal("empty token sent")
	}
}

func TestParseChunkSize(t *testing.T) {
	for in, want := range map[string]int{"1a\r\n": 26, "0\r\n": 0, "FF;x=y\r\n": 255} {
		if got, err := parseChunkSize([]byte(in)); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"\r\n", "g\r\n", "123456789\r\n"} {
		if _, err := parseChunkSize([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
