package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arouter/arouter/mockllm"
)

// The load generator against the in-process mock: these check what was counted, never how
// fast anything was.

func mockAddr(t *testing.T, b mockllm.Behavior) string {
	t.Helper()
	m, url, err := mockllm.Start("127.0.0.1:0", b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/v1")
}

func TestClosedLoopCountsEveryAnswer(t *testing.T) {
	addr := mockAddr(t, mockllm.Behavior{Tokens: smallTokens})
	res := ClosedLoop{Addr: addr, Request: BuildRequest(addr, "/v1/chat/completions", "", []byte(smallBody)),
		Concurrency: 4, MaxRequests: 400, Duration: time.Minute}.Run(context.Background())
	if res.Requests != 400 || res.Errors != 0 || res.Latency.Len() != 400 || res.Throughput() <= 0 {
		t.Fatalf("%d requests, %d errors (%s), %d samples", res.Requests, res.Errors, res.FirstErr, res.Latency.Len())
	}
}

func TestClosedLoopCountsErrorStatuses(t *testing.T) {
	addr := mockAddr(t, mockllm.Behavior{Fault: mockllm.FaultStatus, FaultStatus: 503})
	res := ClosedLoop{Addr: addr, Request: BuildRequest(addr, "/v1/chat/completions", "", []byte(smallBody)),
		Concurrency: 2, MaxRequests: 10, Duration: time.Minute}.Run(context.Background())
	if res.Requests != 0 || res.Errors != 10 || res.FirstErr != "status 503" {
		t.Fatalf("%+v", res)
	}
}

func TestClosedLoopReportsAnUnreachableTarget(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res := ClosedLoop{Addr: addr, Request: []byte("x"), Concurrency: 1, Duration: time.Minute}.Run(ctx)
	if res.Errors == 0 || res.Requests != 0 {
		t.Fatalf("%+v", res)
	}
}

func freeAddr(t *testing.T) string {
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

func TestOpenLoopSendsTheSchedule(t *testing.T) {
	addr := mockAddr(t, mockllm.Behavior{Tokens: 16})
	res := OpenLoop{Addr: addr, Request: BuildRequest(addr, "/v1/chat/completions", "", []byte(smallBody)),
		Rate: 2000, Duration: 150 * time.Millisecond, Conns: 8}.Run(context.Background())
	if res.Requests != 300 || res.Errors != 0 || res.Latency.Len() != 300 || res.Service.Len() != 300 || res.Late.Len() != 300 {
		t.Fatalf("%d requests, %d errors (%s), samples %d/%d/%d", res.Requests, res.Errors, res.FirstErr,
			res.Latency.Len(), res.Service.Len(), res.Late.Len())
	}
	lat, svc := res.Latency.Summarize(), res.Service.Summarize()
	if lat.Min < svc.Min || lat.Max < svc.Max { // from the schedule can only be longer than from the send
		t.Fatalf("latency %+v shorter than service time %+v", lat, svc)
	}
}

func TestOpenLoopSurvivesClosedConnections(t *testing.T) {
	// Every answer closes its connection: each reader must reconnect and go on.
	addr := mockAddr(t, mockllm.Behavior{Tokens: 4})
	req := []byte(strings.Replace(string(BuildRequest(addr, "/v1/chat/completions", "", []byte(smallBody))),
		"\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1))
	res := OpenLoop{Addr: addr, Request: req, Rate: 1000, Duration: 50 * time.Millisecond, Conns: 4}.Run(context.Background())
	if res.Requests != 50 || res.Errors != 0 {
		t.Fatalf("%d requests, %d errors: %s", res.Requests, res.Errors, res.FirstErr)
	}
}

func TestStreamLoopSeesEveryEvent(t *testing.T) {
	addr := mockAddr(t, mockllm.Behavior{Tokens: 5, EventDelay: mockllm.Duration(time.Millisecond)})
	res := StreamLoop{Addr: addr, Request: BuildRequest(addr, "/v1/chat/completions", "", []byte(streamBody)),
		Concurrency: 3, Streams: 6, Stagger: 5 * time.Millisecond}.Run(context.Background())
	// role, 5 tokens, finish, usage, [DONE]
	if res.Streams != 6 || res.Errors != 0 || res.MinEvents != 9 || res.MaxEvents != 9 {
		t.Fatalf("%+v", res)
	}
	if res.TTFB.Len() != 6 || res.Gaps.Len() != 6*8 || res.FirstEvent.Len() != 6 {
		t.Fatalf("samples: ttfb %d gaps %d", res.TTFB.Len(), res.Gaps.Len())
	}
}

func TestHoldOpensAndClosesStreams(t *testing.T) {
	addr := mockAddr(t, mockllm.Behavior{Tokens: 3, EventDelay: mockllm.Duration(time.Minute)})
	h := StartHold(context.Background(), addr, BuildRequest(addr, "/v1/chat/completions", "", []byte(streamBody)), 50, 10)
	if n := h.WaitOpen(time.Minute); n != 50 {
		t.Fatalf("%d open", n)
	}
	r := h.Close(time.Minute)
	if r.Opened != 50 || r.Failed != 0 || r.FirstErr != "" {
		t.Fatalf("%+v", r)
	}
}

func TestHoldCountsFailures(t *testing.T) {
	addr := mockAddr(t, mockllm.Behavior{Fault: mockllm.FaultStatus, FaultStatus: 503})
	h := StartHold(context.Background(), addr, BuildRequest(addr, "/v1/chat/completions", "", []byte(streamBody)), 5, 5)
	h.WaitOpen(time.Minute)
	if r := h.Close(time.Minute); r.Opened != 0 || r.Failed != 5 || r.FirstErr != "status 503" {
		t.Fatalf("%+v", r)
	}
}
