package proxy

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/arouter/arouter/budget"
)

// Microbenchmarks of each hot-path step, on the fixture in hotpath_test.go; allocation_test.go
// holds the allocation checks over the same steps.

func BenchmarkAuthCacheHit(b *testing.B) {
	h := newHotPath(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, e := h.s.authenticate(h.ctx, time.Now()); e != nil {
			b.Fatal(e)
		}
	}
}

func BenchmarkAdmit(b *testing.B) {
	h := newHotPath(b)
	k, _ := h.s.authenticate(h.ctx, time.Now())
	var req chatRequest
	if e := req.parse(h.body); e != nil {
		b.Fatal(e)
	}
	m := h.s.cat.Lookup(req.model)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if !k.AllowsModel(m.ID) {
			b.Fatal("not allowed")
		}
		res, refusal := h.s.budget.Reserve(k, h.s.estimate(m, &req, len(h.body)), now)
		if refusal.Reason != budget.Admitted {
			b.Fatal("refused")
		}
		h.s.budget.Settle(res, budget.Charge{Cost: 1000}, now)
	}
}

func BenchmarkParseRequest(b *testing.B) {
	h := newHotPath(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(h.body)))
	for b.Loop() {
		var req chatRequest
		if e := req.parse(h.body); e != nil {
			b.Fatal(e)
		}
	}
}

func BenchmarkRewriteBody(b *testing.B) {
	h := newHotPath(b)
	var req chatRequest
	if e := req.parse(h.body); e != nil {
		b.Fatal(e)
	}
	q := quoteJSON("gpt-4o-mini")
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = req.appendUpstreamBody(buf[:0], h.body, q)
	}
}

// BenchmarkUsageAndCost reads usage from an answer and writes the cost into it: a one-line
// answer, and one of 75 tokens in two paragraphs (what the benchmark suite's mock sends).
func BenchmarkUsageAndCost(b *testing.B) {
	h := newHotPath(b)
	m := h.s.cat.Lookup([]byte("openai/gpt-4o-mini"))
	const short = "A prince avenges his father and everyone dies."
	long := strings.Repeat("For days window every small on latency and upstream stream measure river model. ", 3) +
		`\n\n` + strings.Repeat("Model river stream upstream latency on small every window days for. ", 3)
	for _, c := range []struct {
		name string
		resp []byte
	}{
		{"short", h.resp},
		{"75_tokens", bytes.Replace(h.resp, []byte(short), []byte(long), 1)},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, 2048)
			b.ReportAllocs()
			for b.Loop() {
				x := exchange{model: m, rt: &h.s.routes[0]}
				buf = append(buf[:0], c.resp...)
				buf, _ = addCostToResponse(buf, &x)
			}
		})
	}
}

func BenchmarkHotPathSteps(b *testing.B) {
	h := newHotPath(b)
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = h.run(b, buf)
	}
}
