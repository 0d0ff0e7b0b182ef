//go:build !race

package proxy

import (
	"testing"

	"github.com/arouter/arouter/apikey"
)

// Prompt logging costs the hot path nothing while it is off, which it is by default.
func TestPromptLogOffAllocatesNothing(t *testing.T) {
	var x exchange
	key := &apikey.Key{}
	body := []byte(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	allocs := testing.AllocsPerRun(1000, func() {
		x.logRequest(key, body)
		x.logResponse(body)
		x.logStream(body)
	})
	if allocs != 0 || x.rec.Bodies != nil {
		t.Fatalf("prompt logging off allocates %.2f times per request", allocs)
	}
}
