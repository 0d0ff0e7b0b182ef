// Package bare is the physical limit of ARouter's own stack: a fasthttp reverse proxy that
// forwards bytes to one upstream with no auth, parsing, routing or accounting. Every figure the
// benchmark suite reports is compared with it, measured in the same run.
//
// It is a package of its own, importing nothing but fasthttp, so that the passthrough process
// the suite starts (bench/cmd/passthrough) carries no code that ARouter's does not.
package bare

import (
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Passthrough forwards each request to one upstream and copies the answer back, streaming bodies
// that the upstream streams. It does only what any reverse proxy must, so the gap between it and
// ARouter is exactly the cost of the gateway's features. Its buffer sizes and limits are those of
// ARouter's server and provider clients, so that memory per connection compares like for like.
type Passthrough struct {
	client *fasthttp.HostClient
	server *fasthttp.Server
}

// NewPassthrough forwards to upstreamAddr (host:port) over plain HTTP. dial, if not nil, replaces
// TCP for the upstream connections (in-memory benchmarks).
func NewPassthrough(upstreamAddr string, dial fasthttp.DialFunc) *Passthrough {
	p := &Passthrough{client: &fasthttp.HostClient{
		Addr:                upstreamAddr,
		Dial:                dial,
		MaxConns:            20000,
		MaxConnWaitTimeout:  5 * time.Second,
		MaxIdleConnDuration: time.Minute,
		ReadBufferSize:      16 << 10,
		WriteBufferSize:     16 << 10,
		// POSTs are not idempotent: never resend one, as ARouter does not.
		RetryIfErr: func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
	}}
	p.server = &fasthttp.Server{
		Handler:               p.handle,
		Concurrency:           100000,
		ReadBufferSize:        8 << 10,
		WriteBufferSize:       4 << 10,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		CloseOnShutdown:       true,
	}
	return p
}

// Serve accepts connections on ln until Shutdown.
func (p *Passthrough) Serve(ln net.Listener) error { return p.server.Serve(ln) }

// Shutdown stops the server.
func (p *Passthrough) Shutdown() error { return p.server.Shutdown() }

func (p *Passthrough) handle(ctx *fasthttp.RequestCtx) {
	req := fasthttp.AcquireRequest()
	ctx.Request.CopyTo(req)
	req.SetHost(p.client.Addr)
	resp := fasthttp.AcquireResponse()
	resp.StreamBody = true
	err := p.client.Do(req, resp)
	fasthttp.ReleaseRequest(req)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		ctx.Error("upstream failed", fasthttp.StatusBadGateway)
		return
	}
	resp.Header.CopyTo(&ctx.Response.Header)
	ctx.SetBodyStream(&releasingBody{resp: resp}, -1)
}

// releasingBody streams the upstream body to the client and releases the upstream response when
// fasthttp closes it.
type releasingBody struct{ resp *fasthttp.Response }

func (b *releasingBody) Read(p []byte) (int, error) { return b.resp.BodyStream().Read(p) }

func (b *releasingBody) CloseWithError(err error) error {
	_ = b.resp.BodyStream().(fasthttp.ReadCloserWithError).CloseWithError(err)
	fasthttp.ReleaseResponse(b.resp)
	return nil
}

var _ io.Reader = (*releasingBody)(nil)
