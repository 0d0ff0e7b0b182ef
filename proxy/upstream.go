package proxy

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// ProviderOptions describe one OpenAI-compatible provider to forward to.
type ProviderOptions struct {
	ID             string
	BaseURL        string // e.g. https://api.openai.com/v1
	APIKey         string // sent as Authorization: Bearer; empty sends none
	MaxConns       int
	ConnectTimeout time.Duration
	// IdleTimeout cuts a request when the provider sends nothing for this long, before the
	// headers or between stream events. It is not a total deadline, so long streams live on.
	IdleTimeout time.Duration
	// FirstByteTimeout bounds how long a stream may take to send its headers and first event;
	// past it the request goes to the next deployment. Default 60s.
	FirstByteTimeout time.Duration
	// RequestTimeout bounds a whole non-streaming request.
	RequestTimeout time.Duration
	// Adapter, if set, translates to the provider's native API (BaseURL is then its root,
	// e.g. https://api.anthropic.com); nil forwards OpenAI chat completions unchanged.
	Adapter Adapter
}

// upstream is one provider: a fasthttp HostClient with its own connection pool and the
// pre-built pieces of every request to it.
type upstream struct {
	id     string
	client *fasthttp.HostClient
	// streamClient serves streams. Its connections arm a first-byte deadline when a request is
	// written, which a non-streamed request (whose headers come after the whole generation)
	// must not have, hence a pool of its own.
	streamClient     *fasthttp.HostClient
	firstByteTimeout time.Duration
	chatURI          []byte
	authorization    []byte // "Bearer …" or nil
	requestTimeout   time.Duration
	metrics          upstreamMetrics
	// adapter translates to a native API (nil: OpenAI passthrough); apiKey is for its
	// SetAuth; baseURL is the configured root that translated paths are appended to.
	adapter Adapter
	apiKey  string
	baseURL string
}

func newUpstream(p ProviderOptions, set *metrics.Set) (*upstream, error) {
	u, err := url.Parse(strings.TrimRight(p.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("provider %s: base URL %q must be an absolute http(s) URL", p.ID, p.BaseURL)
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	if p.MaxConns <= 0 {
		p.MaxConns = 1024
	}
	if p.ConnectTimeout <= 0 {
		p.ConnectTimeout = 5 * time.Second
	}
	if p.IdleTimeout <= 0 {
		p.IdleTimeout = 120 * time.Second
	}
	if p.RequestTimeout <= 0 {
		p.RequestTimeout = 10 * time.Minute
	}
	if p.FirstByteTimeout <= 0 {
		p.FirstByteTimeout = 60 * time.Second
	}
	newClient := func(firstByte time.Duration) *fasthttp.HostClient {
		dialer := &idleDialer{connect: p.ConnectTimeout, idle: p.IdleTimeout, firstByte: firstByte}
		return &fasthttp.HostClient{
			Addr:                          addr,
			Name:                          "arouter",
			IsTLS:                         u.Scheme == "https",
			Dial:                          dialer.dial,
			MaxConns:                      p.MaxConns,
			MaxConnWaitTimeout:            p.ConnectTimeout,
			MaxIdleConnDuration:           60 * time.Second,
			ReadBufferSize:                16 << 10, // response headers; providers send many
			WriteBufferSize:               16 << 10,
			MaxResponseBodySize:           64 << 20,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: false,
			// POSTs are not idempotent; the gateway decides about retries, not the client.
			RetryIfErr: func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		}
	}
	up := &upstream{
		id:               p.ID,
		client:           newClient(0),
		streamClient:     newClient(p.FirstByteTimeout),
		firstByteTimeout: p.FirstByteTimeout,
		chatURI:          []byte(u.String() + "/chat/completions"),
		adapter:          p.Adapter,
		apiKey:           p.APIKey,
		baseURL:          u.String(),
		requestTimeout:   p.RequestTimeout,
		metrics:          newUpstreamMetrics(set, p.ID),
	}
	if p.APIKey != "" {
		up.authorization = []byte("Bearer " + p.APIKey)
	}
	return up, nil
}

// prepare sets everything on req but the body, for a request to the deployment rt.
func (up *upstream) prepare(req *fasthttp.Request, rt *route, stream bool) {
	req.Header.SetMethodBytes(methodPost)
	req.Header.SetContentTypeBytes(contentTypeJSON)
	if stream {
		req.Header.SetBytesV("Accept", acceptSSE)
	} else {
		req.Header.SetBytesV("Accept", contentTypeJSON)
	}
	if up.adapter != nil {
		uri := rt.uris.plain
		if stream {
			uri = rt.uris.stream
		}
		req.SetRequestURIBytes(uri)
		up.adapter.SetAuth(&req.Header, up.apiKey)
		return
	}
	req.SetRequestURIBytes(up.chatURI)
	if up.authorization != nil {
		req.Header.SetBytesV("Authorization", up.authorization)
	}
}

// appendBody appends the body to send for req: the client's, rewritten in place for an
// OpenAI-compatible provider, or translated to the provider's native API.
func (up *upstream) appendBody(dst []byte, req *chatRequest, body []byte, rt *route, upstreamModel string) ([]byte, *upstreamError) {
	if up.adapter == nil {
		return req.appendUpstreamBody(dst, body, rt.quotedModel), nil
	}
	out, err := up.adapter.TranslateRequest(dst, body, upstreamModel)
	if err != nil {
		return dst, translateRequestError(up.id, err)
	}
	return out, nil
}

var (
	methodPost = []byte("POST")
	acceptSSE  = []byte("text/event-stream")
)

// idleDialer makes connections whose every Read carries a fresh deadline of now+idle. fasthttp
// only knows total deadlines, which would cut a healthy long stream; a per-read deadline cuts
// only silence. A deadline fasthttp sets itself (a request's total timeout) still wins when it
// is earlier.
type idleDialer struct {
	connect   time.Duration
	idle      time.Duration
	firstByte time.Duration // 0: no first-byte deadline
}

func (d *idleDialer) dial(addr string) (net.Conn, error) {
	c, err := fasthttp.DialTimeout(addr, d.connect)
	if err != nil {
		return nil, err
	}
	return &idleConn{Conn: c, idle: d.idle, firstByte: d.firstByte}, nil
}

// idleConn is used by one request at a time (fasthttp's pool hands it out exclusively), so its
// fields need no lock.
type idleConn struct {
	net.Conn
	idle      time.Duration
	outer     time.Time // the deadline fasthttp asked for; zero for none
	firstByte time.Duration
	// firstByteBy is armed by writing a request and disarmed by the first byte of its
	// response: until then reads also end at it.
	firstByteBy time.Time
	// set is the read deadline the connection has now. Resetting it costs a runtime timer
	// update, so an idle deadline is set with slack (idle/16) and left alone while it still
	// covers the whole idle time: a silent provider is cut after between idle and 17/16 idle.
	set time.Time
}

// idleSlack is the fraction of the idle timeout by which a deadline may run late.
const idleSlack = 16

func (c *idleConn) Write(p []byte) (int, error) {
	if c.firstByte > 0 {
		c.firstByteBy = time.Now().Add(c.firstByte)
	}
	return c.Conn.Write(p)
}

func (c *idleConn) Read(p []byte) (int, error) {
	d, exact := time.Now().Add(c.idle), false
	if !c.outer.IsZero() && c.outer.Before(d) {
		d, exact = c.outer, true
	}
	if !c.firstByteBy.IsZero() && c.firstByteBy.Before(d) {
		d, exact = c.firstByteBy, true
	}
	switch slack := c.idle / idleSlack; {
	case exact:
		if !d.Equal(c.set) {
			if err := c.setRead(d); err != nil {
				return 0, err
			}
		}
	case c.set.Before(d) || c.set.After(d.Add(slack)):
		if err := c.setRead(d.Add(slack)); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.firstByteBy = time.Time{}
	}
	return n, err
}

func (c *idleConn) setRead(t time.Time) error {
	c.set = t
	return c.Conn.SetReadDeadline(t)
}

func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.outer = t
	return c.setRead(t)
}

func (c *idleConn) SetDeadline(t time.Time) error {
	c.outer, c.set = t, t
	return c.Conn.SetDeadline(t)
}
