package proxy

import (
	"bytes"
	"testing"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
)

// With LogPrompts off nothing is kept; with it on the request is copied (the caller's buffer is
// fasthttp's, reused after the handler returns), a whole answer replaces any earlier one, a
// stream accumulates, and both are capped with their full sizes counted.
func TestPromptLogCapture(t *testing.T) {
	t.Parallel()
	var x exchange
	x.logRequest(&apikey.Key{}, []byte(`{"model":"m"}`))
	x.logResponse([]byte("answer"))
	x.logStream([]byte("data: {}\n\n"))
	if x.rec.Bodies != nil {
		t.Fatalf("logging off kept %+v", x.rec.Bodies)
	}

	on := &apikey.Key{LogPrompts: true}
	req := []byte(`{"model":"m","messages":[]}`)
	x.logRequest(on, req)
	req[2] = 'X' // fasthttp reuses the buffer
	x.logResponse([]byte("first attempt"))
	x.logResponse([]byte(`{"choices":[]}`))
	b := x.rec.Bodies
	if string(b.Request) != `{"model":"m","messages":[]}` || b.RequestSize != int64(len(req)) || string(b.Response) != `{"choices":[]}` ||
		b.ResponseSize != 14 || b.RequestTruncated() || b.ResponseTruncated() {
		t.Fatalf("whole answer: %+v", b)
	}

	var s exchange
	big := bytes.Repeat([]byte("x"), accounting.MaxBodyBytes+10)
	s.logRequest(on, big)
	chunk := bytes.Repeat([]byte("y"), 300<<10)
	for range 4 {
		s.logStream(chunk)
	}
	b = s.rec.Bodies
	if len(b.Request) != accounting.MaxBodyBytes || !b.RequestTruncated() || b.RequestSize != int64(len(big)) {
		t.Errorf("request of %d bytes: kept %d, size %d", len(big), len(b.Request), b.RequestSize)
	}
	if len(b.Response) != accounting.MaxBodyBytes || !b.ResponseTruncated() || b.ResponseSize != 4*300<<10 {
		t.Errorf("stream of %d bytes: kept %d, size %d", 4*300<<10, len(b.Response), b.ResponseSize)
	}
}
