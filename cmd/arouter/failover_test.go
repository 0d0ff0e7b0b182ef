package main

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/arouter/arouter/config"
	"github.com/arouter/arouter/health"
	"github.com/arouter/arouter/mockllm"
)

const failoverYAML = `
listen: 127.0.0.1:0
store: {sqlite: "%s/arouter.db"}
accounting: {flush_interval: 10ms}
providers:
  - {id: primary, kind: openai, base_url: "%s", probe: false}
  - {id: backup, kind: openai, base_url: "%s", probe: false}
models:
  - id: openai/gpt-4o-mini
    pricing: {prompt: "0.15", completion: "0.60"}
    deployments: [{provider: primary, model: gpt-4o-mini}, {provider: backup, model: gpt-4o-mini}]
`

// TestFailoverToTheNextDeployment: a provider failure before anything reached the client is
// retried on the model's next deployment; a request error is not.
func TestFailoverToTheNextDeployment(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name            string
		primary, backup mockllm.Behavior
		stream          bool
		status          int
		provider        string // the record's provider
		backupCalls     int64
	}{
		{name: "5xx", primary: mockllm.Behavior{Fault: "status", FaultStatus: 500}, status: 200, provider: "backup", backupCalls: 1},
		{name: "5xx, stream", primary: mockllm.Behavior{Fault: "status", FaultStatus: 503}, stream: true, status: 200, provider: "backup", backupCalls: 1},
		{name: "rate limited", primary: mockllm.Behavior{Fault: "rate_limit"}, status: 200, provider: "backup", backupCalls: 1},
		{name: "connection dropped", primary: mockllm.Behavior{Fault: "disconnect"}, status: 200, provider: "backup", backupCalls: 1},
		{name: "request error is not retried", primary: mockllm.Behavior{Fault: "status", FaultStatus: 400}, status: 400, provider: "primary"},
		{name: "both down", primary: mockllm.Behavior{Fault: "status"}, backup: mockllm.Behavior{Fault: "status"}, status: 503, provider: "backup", backupCalls: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			primary, primaryURL, err := mockllm.Start("127.0.0.1:0", c.primary)
			if err != nil {
				t.Fatal(err)
			}
			defer primary.Shutdown()
			backup, backupURL, err := mockllm.Start("127.0.0.1:0", c.backup)
			if err != nil {
				t.Fatal(err)
			}
			defer backup.Shutdown()
			dir := t.TempDir()
			cfg, err := config.Parse([]byte(fmt.Sprintf(failoverYAML, dir, primaryURL, backupURL)), "failover.yaml")
			if err != nil {
				t.Fatal(err)
			}
			tg := &testGateway{t: t, dir: dir, cfg: cfg, log: zap.NewNop()}
			tg.open()
			t.Cleanup(tg.stop)
			tg.key = tg.newKey("failover", false)

			body := chatBody
			if c.stream {
				body = streamBody
			}
			resp := tg.post(body)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if c.status == 200 && (!strings.Contains(string(b), `"cost":`) || (c.stream && !strings.HasSuffix(string(b), "data: [DONE]\n\n"))) {
				t.Fatalf("answer from the backup is incomplete: %s", b)
			}
			if n := backup.Stats().Requests; n != c.backupCalls {
				t.Fatalf("backup called %d times, want %d", n, c.backupCalls)
			}
			if n := primary.Stats().Requests; n != 1 {
				t.Fatalf("primary called %d times, want 1", n)
			}
			// Each attempt counts once in its deployment's health. Neither the client's mistake
			// nor a rate limit (a deployment at capacity, not a broken one) is an error.
			w := tg.g.health.Window(0, health.Span5m, time.Now())
			if wantErr := int64(map[bool]int{true: 1}[c.status != 400 && c.primary.Fault != "rate_limit"]); w.Requests != 1 || w.Errors != wantErr {
				t.Fatalf("primary health %+v, want 1 request, %d errors", w, wantErr)
			}
			if rec := tg.records(resp.Header.Get("X-Generation-Id"))[0]; rec.Provider != c.provider || rec.Status != c.status {
				t.Fatalf("record provider %q status %d, want %q %d", rec.Provider, rec.Status, c.provider, c.status)
			}
		})
	}
}
