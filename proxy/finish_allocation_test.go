//go:build !race

package proxy

import (
	"testing"

	"github.com/arouter/arouter/accounting"
)

// TestRecordingTheAnswerAllocatesNothing: taking the provider's id and finish reason from a
// stream's chunks and from a whole answer costs no allocation.
func TestRecordingTheAnswerAllocatesNothing(t *testing.T) {
	r := &sseRelay{x: *testExchange()}
	events := []byte(idStream)
	r.consume(events)
	body := []byte(`{"id":"chatcmpl-1","choices":[{"index":0,"message":{"content":"hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`)
	buf := make([]byte, 0, 2*len(body))
	allocs := testing.AllocsPerRun(2000, func() {
		r.out = r.out[:0]
		r.x.rec.UpstreamID, r.x.rec.FinishReason = accounting.UpstreamID{}, 0
		r.consume(events)
		x := r.x
		x.rec.UpstreamID, x.rec.FinishReason = accounting.UpstreamID{}, 0
		buf, _ = addCostToResponse(append(buf[:0], body...), &x)
	})
	if allocs != 0 {
		t.Fatalf("recording the answer allocates %.2f times, want 0", allocs)
	}
	if r.x.rec.UpstreamID.String() != "chatcmpl-1" || r.x.rec.FinishReason.String() != "stop" {
		t.Errorf("record: %q %q", r.x.rec.UpstreamID, r.x.rec.FinishReason)
	}
}
