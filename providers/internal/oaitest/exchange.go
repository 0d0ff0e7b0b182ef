package oaitest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/providers"
)

// Send translates openAIBody with a and posts it to the provider at root the way the gateway
// would: a's path, a's auth headers, the translated body. A streaming response's body is left
// unread (resp.BodyStream()). The caller releases resp. A translation error fails the test.
func Send(t testing.TB, c *fasthttp.Client, a providers.Adapter, root, key, upstreamModel, openAIBody string, stream bool) *fasthttp.Response {
	t.Helper()
	native, err := a.TranslateRequest(nil, []byte(openAIBody), upstreamModel)
	if err != nil {
		t.Fatalf("TranslateRequest: %v\n%s", err, openAIBody)
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(root + a.Path(upstreamModel, stream))
	a.SetAuth(&req.Header, key)
	req.SetBodyRaw(native)
	resp := fasthttp.AcquireResponse()
	resp.StreamBody = stream
	if err := c.Do(req, resp); err != nil {
		fasthttp.ReleaseResponse(resp)
		t.Fatalf("POST %s: %v", req.URI(), err)
	}
	return resp
}

// Complete runs a non-streaming exchange. On 200 it returns the translated OpenAI body and the
// usage; otherwise the status and the provider's error message and type.
func Complete(t testing.TB, c *fasthttp.Client, a providers.Adapter, root, key, model, upstreamModel, openAIBody string) (
	status int, body []byte, u catalog.Usage, errMsg, errType string) {
	t.Helper()
	resp := Send(t, c, a, root, key, upstreamModel, openAIBody, false)
	defer fasthttp.ReleaseResponse(resp)
	status = resp.StatusCode()
	if status != fasthttp.StatusOK {
		errMsg, errType = a.ErrorMessage(resp.Body())
		return status, append([]byte(nil), resp.Body()...), u, errMsg, errType
	}
	out, err := a.TranslateResponse(nil, resp.Body(), model, &u, nil)
	if err != nil {
		return status, append([]byte(nil), resp.Body()...), u, err.Error(), "translate"
	}
	return status, out, u, "", ""
}

// Relay reads a provider event stream as it arrives, one event at a time, and feeds each to s,
// the way the gateway's relay does. It returns the frames written and the first translation
// error, or the body's read error (nil at a clean end).
func Relay(t testing.TB, body io.Reader, s providers.Stream) ([]byte, error) {
	t.Helper()
	r := bufio.NewReader(body)
	var out, ev []byte
	for {
		line, err := r.ReadBytes('\n')
		ev = append(ev, line...)
		if len(bytes.TrimRight(line, "\r\n")) == 0 && len(line) > 0 && len(bytes.TrimSpace(ev)) > 0 {
			name, data := providers.SplitEvent(ev)
			var terr error
			if out, terr = s.Event(out, name, data); terr != nil {
				return out, terr
			}
			CheckFrames(t, out)
			ev = ev[:0]
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
				if len(bytes.TrimSpace(ev)) > 0 {
					err = io.ErrUnexpectedEOF
				}
			}
			return out, err
		}
	}
}
