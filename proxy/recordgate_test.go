package proxy

import (
	"context"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

type fullSpool struct{ admits bool }

func (f fullSpool) Admit() bool { return f.admits }

// While the accounting spool is full (policy refuse), chat requests are refused with 503 before
// they reach a provider; authentication still comes first.
func TestFullAccountingSpoolRefusesRequests(t *testing.T) {
	t.Parallel()
	h := newHotPath(t)
	h.s.gate = fullSpool{}
	h.ctx.Request.SetBody(h.body)
	h.s.chat(h.ctx)
	if got := h.ctx.Response.StatusCode(); got != 503 || !strings.Contains(string(h.ctx.Response.Body()), "accounting spool") {
		t.Fatalf("full spool: %d %s", got, h.ctx.Response.Body())
	}
	h.ctx.Request.Header.Set("Authorization", "Bearer sk-ar-v1-wrong")
	h.s.chat(h.ctx)
	if got := h.ctx.Response.StatusCode(); got != 401 {
		t.Fatalf("bad key with a full spool: %d, want 401", got)
	}
}

type pingOK struct{}

func (pingOK) Ping(context.Context) error { return nil }

// A gateway refusing requests because its spool is full says so on /readyz, so that a load
// balancer sends them to another replica.
func TestReadinessReportsAFullSpool(t *testing.T) {
	t.Parallel()
	s := &Server{ready: pingOK{}, gate: fullSpool{admits: true}, log: zap.NewNop()}
	for _, tc := range []struct {
		admits bool
		status int
		body   string
	}{{true, 200, `"ready"`}, {false, 503, "accounting spool full"}} {
		s.gate = fullSpool{admits: tc.admits}
		ctx := &fasthttp.RequestCtx{}
		s.readyz(ctx)
		if got := ctx.Response.StatusCode(); got != tc.status || !strings.Contains(string(ctx.Response.Body()), tc.body) {
			t.Fatalf("spool admits %v: %d %s", tc.admits, got, ctx.Response.Body())
		}
	}
}
