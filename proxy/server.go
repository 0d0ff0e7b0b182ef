// Package proxy is the gateway's HTTP front: the fasthttp server, the OpenAI-compatible
// endpoints, forwarding to providers, SSE relay, usage extraction and the error shape.
//
// Everything it depends on is declared here as a small interface (KeyLookup, RecordSink,
// ReadyChecker), so storage and caching stay replaceable and tests can use real parts.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/balancer"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/health"
	"github.com/arouter/arouter/money"
)

// KeyLookup resolves a token hash to a key record; errors wrap apikey.ErrNotFound for unknown
// tokens. cachekeys.Cache implements it.
type KeyLookup interface {
	Lookup(ctx context.Context, h apikey.Hash, now time.Time) (*apikey.Key, error)
}

// RecordSink accepts usage records without blocking. accounting.Writer implements it.
type RecordSink interface {
	Enqueue(r *accounting.Record) bool
}

// RecordGate is implemented by a RecordSink that can run out of room for records
// (accounting.Writer under accounting.spool_full: refuse). While Admit reports false, chat
// requests are answered 503 before they reach a provider: the gateway could not bill them.
type RecordGate interface {
	Admit() bool
}

// RecentRecords keeps finished records readable before they are stored (GET /v1/generation).
// accounting.Recent implements it; Add must not block for long or allocate.
type RecentRecords interface {
	Add(r *accounting.Record)
}

// HealthObserver records each provider outcome per deployment. health.Tracker implements it.
type HealthObserver interface {
	Observe(deployment int, o health.Outcome, now time.Time)
}

// Admitter holds each key's and context's budget: Reserve admits a request (or refuses it
// with the reason), Settle charges its true cost. budget.Ledger implements it.
type Admitter interface {
	Reserve(k *apikey.Key, estimate money.Nanos, now time.Time) (budget.Reservation, budget.Refusal)
	Settle(r budget.Reservation, c budget.Charge, now time.Time)
}

// BYOKLookup finds an organization's own credential for a provider. byok.Cache implements it.
type BYOKLookup interface {
	Lookup(orgID int64, provider string) (*byok.Credential, bool)
}

// ManagementAPI serves the paths it Handles on the same listener. admin.API implements it.
type ManagementAPI interface {
	Handles(path []byte) bool
	Handle(ctx *fasthttp.RequestCtx)
}

// ReadyChecker says whether the store can be reached, for /readyz.
type ReadyChecker interface {
	Ping(ctx context.Context) error
}

// Options wire a Server. Every field but the timeouts is required.
type Options struct {
	Catalog  *catalog.Catalog
	Balancer *balancer.Balancer
	Keys     KeyLookup
	Budget   Admitter
	Records  RecordSink
	Ready    ReadyChecker
	Health   HealthObserver // optional
	// Management serves the Management API; nil leaves its paths unanswered (404).
	Management ManagementAPI
	// Recent, if set, sees every finished record.
	Recent RecentRecords
	// BYOK finds organizations' own provider keys; nil serves everyone on the platform's keys.
	BYOK BYOKLookup
	// BYOKFeePercent of a BYOK request's list price is charged to the organization's credits
	// (the request itself is paid to the provider on its own key); 0 or less charges nothing.
	BYOKFeePercent int
	Providers      []ProviderOptions
	Logger         *zap.Logger
	// Metrics receives per-provider metrics; process-wide ones go to the default set.
	Metrics *metrics.Set

	MaxRequestBody    int           // bytes, default 4 MiB
	ReadTimeout       time.Duration // reading one request, default 30s
	WriteTimeout      time.Duration // one write to a client, default 30s
	IdleTimeout       time.Duration // keep-alive between requests, default 120s
	MaxConns          int           // concurrent client connections, default 20000
	KeepAliveInterval time.Duration // SSE comment during upstream silence, default 15s
	// DefaultMaxTokens is the completion size admission reserves credit for when a request
	// does not set max_tokens, default 4096.
	DefaultMaxTokens int
	// MaxAttempts bounds the deployments one request tries, default 5; FailoverTimeout stops
	// starting new attempts once this long has passed since the request arrived, default 2m.
	MaxAttempts     int
	FailoverTimeout time.Duration
	// StickyTTL is how long a deployment that cached a prompt prefix is preferred for it,
	// default 5m; negative turns sticky routing off. StickySize bounds the prefixes
	// remembered, default 100000.
	StickyTTL  time.Duration
	StickySize int
}

// Server serves the OpenAI-compatible API.
type Server struct {
	opts    Options
	log     *zap.Logger
	cat     *catalog.Catalog
	bal     *balancer.Balancer
	keys    KeyLookup
	budget  Admitter
	records RecordSink
	gate    RecordGate // nil when records cannot refuse
	ready   ReadyChecker
	health  HealthObserver
	// healthReader serves the endpoints listing; a no-op when Health is not a HealthReader.
	healthReader HealthReader
	sticky       *stickyRoutes // nil when sticky routing is off
	routes       []route       // indexed by deployment index
	modelsJSON   []byte
	modelJSON    map[string][]byte // GET /v1/models/{id}, by model id
	srv          *fasthttp.Server
}

// route is what forwarding to one deployment needs, resolved at start-up.
type route struct {
	up           *upstream
	quotedModel  []byte // the provider's model name as a JSON string
	quotedPublic []byte // the public model id as a JSON string, for responses
	providerID   []byte // for the X-ARouter-Provider header
	uris         translatedURIs
}

// New builds a server; it does not listen yet.
func New(o Options) (*Server, error) {
	if o.Catalog == nil || o.Balancer == nil || o.Keys == nil || o.Budget == nil || o.Records == nil || o.Ready == nil {
		return nil, errors.New("proxy: Catalog, Balancer, Keys, Budget, Records and Ready are required")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	setDefault(&o.MaxRequestBody, 4<<20)
	setDefault(&o.ReadTimeout, 30*time.Second)
	setDefault(&o.WriteTimeout, 30*time.Second)
	setDefault(&o.IdleTimeout, 120*time.Second)
	setDefault(&o.MaxConns, 20000)
	setDefault(&o.KeepAliveInterval, 15*time.Second)
	setDefault(&o.DefaultMaxTokens, 4096)
	setDefault(&o.MaxAttempts, 5)
	if o.BYOKFeePercent < 0 {
		o.BYOKFeePercent = 0
	}
	setDefault(&o.StickySize, 100_000)
	if o.StickyTTL == 0 {
		o.StickyTTL = 5 * time.Minute
	}
	setDefault(&o.FailoverTimeout, 2*time.Minute)

	if o.Health == nil {
		o.Health = noHealth{}
	}
	hr, ok := o.Health.(HealthReader)
	if !ok {
		hr = noHealth{}
	}
	s := &Server{opts: o, log: o.Logger, cat: o.Catalog, bal: o.Balancer, keys: o.Keys, budget: o.Budget, records: o.Records, ready: o.Ready, health: o.Health, healthReader: hr}
	s.gate, _ = o.Records.(RecordGate)
	ups := map[string]*upstream{}
	for _, p := range o.Providers {
		up, err := newUpstream(p, o.Metrics)
		if err != nil {
			return nil, err
		}
		ups[p.ID] = up
	}
	for _, d := range o.Catalog.Deployments() {
		up, ok := ups[d.Provider]
		if !ok {
			return nil, fmt.Errorf("proxy: model %s uses provider %q, which is not configured", d.Model.ID, d.Provider)
		}
		rt := route{up: up, quotedModel: quoteJSON(d.UpstreamModel),
			quotedPublic: quoteJSON(d.Model.ID), providerID: []byte(d.Provider)}
		if up.adapter != nil {
			rt.uris = translatedURIs{
				plain:  []byte(up.baseURL + up.adapter.Path(d.UpstreamModel, false)),
				stream: []byte(up.baseURL + up.adapter.Path(d.UpstreamModel, true)),
			}
		}
		s.routes = append(s.routes, rt)
	}
	s.modelsJSON, s.modelJSON = renderModels(o.Catalog)
	if o.StickyTTL > 0 {
		var err error
		if s.sticky, err = newStickyRoutes(o.StickySize, o.StickyTTL); err != nil {
			return nil, err
		}
	}
	s.srv = &fasthttp.Server{
		Handler:                       s.handle,
		ErrorHandler:                  s.handleTransportError,
		Name:                          "arouter",
		Concurrency:                   o.MaxConns,
		MaxRequestBodySize:            o.MaxRequestBody,
		ReadTimeout:                   o.ReadTimeout,
		WriteTimeout:                  o.WriteTimeout,
		IdleTimeout:                   o.IdleTimeout,
		ReadBufferSize:                8 << 10, // also the limit on request header size
		WriteBufferSize:               4 << 10,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
		// Give the read buffer back once a request is read, and the write buffer once its
		// answer is written: an open stream then holds only the write buffer, and an idle
		// keep-alive connection neither.
		ReduceMemoryUsage: true,
		Logger:            fasthttpLogger{o.Logger},
	}
	return s, nil
}

// fasthttpLogger routes fasthttp's own messages (mostly clients that broke a connection) to zap
// at debug level, instead of the standard logger on stderr.
type fasthttpLogger struct{ log *zap.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	if ce := l.log.Check(zap.DebugLevel, "http server"); ce != nil {
		ce.Write(zap.String("detail", fmt.Sprintf(format, args...)))
	}
}

type noHealth struct{}

func (noHealth) Observe(int, health.Outcome, time.Time) {}

func (noHealth) Window(int, health.Span, time.Time) health.Window {
	return health.Window{Availability: 1}
}

func (noHealth) Healthy(int) bool { return true }

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(lingerListener{ln}) }

// Shutdown stops accepting connections and waits for in-flight requests and streams to end,
// or for ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.ShutdownWithContext(ctx)
	if s.sticky != nil {
		s.sticky.close()
	}
	return err
}

// Handler exposes the request handler, for in-process benchmarks.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

var (
	pathChat    = "/v1/chat/completions"
	pathModels  = "/v1/models"
	pathHealthz = "/healthz"
	pathReadyz  = "/readyz"
	pathMetrics = "/metrics"

	errPostOnly = methodNotAllowed("POST")
	errGetOnly  = methodNotAllowed("GET")
)

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch string(path) {
	case pathChat:
		if !ctx.IsPost() {
			errPostOnly.write(ctx)
			return
		}
		s.chat(ctx)
	case pathModels:
		if !ctx.IsGet() {
			errGetOnly.write(ctx)
			return
		}
		ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
		ctx.Response.SetBodyRaw(s.modelsJSON)
	case pathHealthz:
		if !ctx.IsGet() {
			errGetOnly.write(ctx)
			return
		}
		ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
		ctx.Response.SetBodyString(`{"status":"ok"}`)
	case pathReadyz:
		if !ctx.IsGet() {
			errGetOnly.write(ctx)
			return
		}
		s.readyz(ctx)
	case pathMetrics:
		if !ctx.IsGet() {
			errGetOnly.write(ctx)
			return
		}
		ctx.Response.Header.SetContentType("text/plain; version=0.0.4")
		metrics.WritePrometheus(ctx, true)
	default:
		if id, ok := endpointsModel(string(path)); ok {
			if m := s.getModel(ctx, id); m != nil {
				s.endpoints(ctx, m)
			}
			return
		}
		if id, ok := strings.CutPrefix(string(path), pathModels+"/"); ok {
			if m := s.getModel(ctx, id); m != nil {
				s.model(ctx, m)
			}
			return
		}
		if m := s.opts.Management; m != nil && m.Handles(path) {
			m.Handle(ctx)
			return
		}
		errNotFound.write(ctx)
	}
}

func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	if err := s.ready.Ping(c); err != nil {
		s.log.Warn("readiness check failed", zap.Error(err))
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.Response.SetBodyString(`{"status":"unavailable","reason":"store unreachable"}`)
		return
	}
	if s.gate != nil && !s.gate.Admit() {
		// Chat requests are answered 503 until the store has taken the spooled records.
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.Response.SetBodyString(`{"status":"unavailable","reason":"accounting spool full"}`)
		return
	}
	ctx.Response.SetBodyString(`{"status":"ready"}`)
}

// handleTransportError answers requests fasthttp could not read, in the gateway's error shape
// instead of fasthttp's plain text.
func (s *Server) handleTransportError(ctx *fasthttp.RequestCtx, err error) {
	var e *apiError
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		e = errBodyTooLarge
	case errors.As(err, &small) || errors.Is(err, fasthttp.ErrSmallReadBuffer):
		e = errHeadersTooLarge
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			e = errRequestTimeout
		} else {
			e = errBadRequest
		}
	}
	e.write(ctx)
	ctx.SetConnectionClose()
	markUnread(ctx.Conn()) // the rest of the request may be in flight: see lingerListener
}
