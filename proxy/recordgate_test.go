package proxy

import (
	"strings"
	"testing"
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
