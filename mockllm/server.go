package mockllm

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Stats counts what the server has seen since it was created. Tests use it
// to assert what the gateway did upstream (retries, cancellations).
type Stats struct {
	Requests        int64 `json:"requests"`         // completion requests, valid or not
	Streams         int64 `json:"streams"`          // streaming responses started
	ActiveStreams   int64 `json:"active_streams"`   // streaming responses in progress now
	ClientCancelled int64 `json:"client_cancelled"` // streams abandoned because the client hung up
}

// Server is a mock LLM provider. Create it with New or Start; it is safe for
// concurrent use.
type Server struct {
	behavior atomic.Pointer[Behavior]
	fs       *fasthttp.Server
	salt     uint64        // makes response IDs differ between servers
	idSeq    atomic.Uint64 // makes response IDs differ between responses

	requests, streams, active, cancelled atomic.Int64

	pcache promptCache // Anthropic prompt-cache prefixes seen

	// done is closed by Shutdown; every wait in the server selects on it so
	// that nothing the mock holds open (latency, event delays, stalls,
	// hangs) outlives the server.
	done     chan struct{}
	shutOnce sync.Once

	mu       sync.Mutex
	closed   bool                  // set by Shutdown; no new hijacks or listeners after
	lns      []net.Listener        // listeners passed to Serve, closed by Shutdown
	hijacked map[net.Conn]struct{} // connections held by hang/disconnect
	hijacks  sync.WaitGroup        // running hijack handlers
}

// New returns a server with behaviour b. Call Serve, or use Start instead.
func New(b Behavior) *Server {
	s := &Server{
		salt:     uint64(time.Now().UnixNano()),
		done:     make(chan struct{}),
		hijacked: make(map[net.Conn]struct{}),
	}
	s.behavior.Store(&b)
	s.fs = &fasthttp.Server{
		Handler: s.handle,
		// Benchmarks hold ~9,000 slow streams open at once; each one occupies
		// a worker for its whole life, so the worker limit must be far above
		// that while the per-connection buffers stay small.
		Concurrency:     100_000,
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		// No ReadTimeout/WriteTimeout: they would cut long or stalled
		// streams, which are exactly what the mock is for. IdleTimeout only
		// reaps idle keep-alive connections.
		IdleTimeout:           2 * time.Minute,
		MaxRequestBodySize:    64 << 20, // prompts with inline images get big
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		CloseOnShutdown:       true,
	}
	return s
}

// Handler returns the request handler, for embedding the mock in another
// fasthttp server or calling it in-memory (fasthttputil.InmemoryListener).
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// Serve serves connections from ln until Shutdown. It blocks.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return errors.New("mockllm: server is shut down")
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	return s.fs.Serve(ln)
}

// Shutdown stops accepting connections, ends everything the mock is holding
// open (streams, stalls, hangs, latency waits) and waits for in-flight
// handlers to return. It is safe to call more than once.
func (s *Server) Shutdown() error {
	s.shutOnce.Do(func() { close(s.done) })
	s.mu.Lock()
	s.closed = true
	for c := range s.hijacked {
		c.SetDeadline(time.Now()) // unblocks the hang reader and any write
	}
	lns := s.lns
	s.lns = nil
	s.mu.Unlock()

	err := s.fs.Shutdown()
	// Serve may have registered a listener after fasthttp's Shutdown looked;
	// closing it again is harmless.
	for _, ln := range lns {
		ln.Close()
	}
	s.hijacks.Wait()
	return err
}

// SetBehavior atomically replaces the behaviour; requests already being
// served keep the one they started with.
func (s *Server) SetBehavior(b Behavior) { s.behavior.Store(&b) }

// Behavior returns the current behaviour.
func (s *Server) Behavior() Behavior { return *s.behavior.Load() }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests:        s.requests.Load(),
		Streams:         s.streams.Load(),
		ActiveStreams:   s.active.Load(),
		ClientCancelled: s.cancelled.Load(),
	}
}

// Start listens on addr (e.g. "127.0.0.1:0"), serves in a goroutine, and
// returns the server and its OpenAI base URL, e.g.
// "http://127.0.0.1:41234/v1". Anthropic and Gemini clients take the root,
// strings.TrimSuffix(base, "/v1"). For tests, the quick start and benchmarks.
func Start(addr string, b Behavior) (*Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	s := New(b)
	go s.Serve(ln) //nolint:errcheck // returns only on Shutdown
	return s, "http://" + ln.Addr().String() + "/v1", nil
}

// shuttingDown reports whether Shutdown has begun.
func (s *Server) shuttingDown() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// sleep waits for d unless the server shuts down first, and reports whether
// the full wait elapsed. t, if non-nil, is reused to avoid a timer per event.
func (s *Server) sleep(t *time.Timer, d time.Duration) bool {
	if d <= 0 {
		return !s.shuttingDown()
	}
	if t == nil {
		t = time.NewTimer(d)
		defer t.Stop()
	} else {
		t.Reset(d)
	}
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// handle routes a request. Wire-format specifics live in the per-provider
// handlers; this only knows paths and methods.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/v1/chat/completions":
		if allow(ctx, fasthttp.MethodPost) {
			s.openaiChat(ctx)
		}
	case "/v1/messages":
		if allow(ctx, fasthttp.MethodPost) {
			s.anthropicMessages(ctx)
		}
	case "/v1/models":
		if allow(ctx, fasthttp.MethodGet) {
			s.openaiModels(ctx)
		}
	case "/_mock/behavior":
		if allow(ctx, fasthttp.MethodGet, fasthttp.MethodPut) {
			if ctx.IsPut() {
				s.putBehavior(ctx)
			} else {
				writeJSON(ctx, s.Behavior())
			}
		}
	case "/_mock/stats":
		if allow(ctx, fasthttp.MethodGet) {
			writeJSON(ctx, s.Stats())
		}
	default:
		if p := string(ctx.Path()); isGeminiPath(p) {
			s.geminiRoute(ctx, p)
			return
		}
		openaiError(ctx, fasthttp.StatusNotFound,
			"Invalid URL ("+string(ctx.Method())+" "+string(ctx.Path())+")", errInvalidRequest, "", "")
	}
}

// isGeminiPath matches Gemini's /{version}/models/{model}:{method} paths; OpenAI's
// /v1/models list has no colon.
func isGeminiPath(p string) bool {
	return (strings.HasPrefix(p, "/v1beta/models/") || strings.HasPrefix(p, "/v1/models/")) && strings.Contains(p, ":")
}

// allow reports whether the request method is one of methods, answering 405
// with an Allow header otherwise.
func allow(ctx *fasthttp.RequestCtx, methods ...string) bool {
	m := string(ctx.Method())
	for _, a := range methods {
		if m == a {
			return true
		}
	}
	list := strings.Join(methods, ", ")
	ctx.Response.Header.Set(fasthttp.HeaderAllow, list)
	openaiError(ctx, fasthttp.StatusMethodNotAllowed,
		"Method "+m+" is not allowed on "+string(ctx.Path())+" (allowed: "+list+").", errInvalidRequest, "", "")
	return false
}

func (s *Server) putBehavior(ctx *fasthttp.RequestCtx) {
	var b Behavior
	if err := decodeBehavior(ctx.PostBody(), &b); err != nil {
		openaiError(ctx, fasthttp.StatusBadRequest, "Invalid behavior: "+err.Error(), errInvalidRequest, "", "")
		return
	}
	s.SetBehavior(b)
	writeJSON(ctx, b)
}

// writeJSON answers 200 with v encoded by encoding/json; only used by the
// control endpoints, which are not on any hot path.
func writeJSON(ctx *fasthttp.RequestCtx, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		openaiError(ctx, fasthttp.StatusInternalServerError, err.Error(), errServer, "", "")
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}
