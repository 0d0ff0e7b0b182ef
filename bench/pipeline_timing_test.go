package bench

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkPipeline sends small completions, one at a time, through each proxy in process (see
// inprocess_test.go). allocs/op counts the whole process, client and mock included, which are
// the same for both: the difference between the two lines is what the gateway allocates per
// request. The suite runs this for the pipeline_allocs_over_bare figure and its profiles.
func BenchmarkPipeline(b *testing.B) {
	mock := startMock(b)
	for _, p := range []*inproc{startBare(b, mock), startARouter(b, mock)} {
		b.Run(p.name, func(b *testing.B) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for range 200 { // fill pools, caches and connections
				p.do(b, req, resp)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p.do(b, req, resp)
			}
		})
	}
}

// BenchmarkPipelineParallel is BenchmarkPipeline with 8 clients per CPU sharing the process, as
// a loaded gateway runs.
func BenchmarkPipelineParallel(b *testing.B) {
	mock := startMock(b)
	for _, p := range []*inproc{startBare(b, mock), startARouter(b, mock)} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				for pb.Next() {
					p.do(b, req, resp)
				}
			})
		})
	}
}

// BenchmarkPipelineStream sends streamed completions (the mock's 75-token answer, its events
// back to back), one at a time, through each proxy in process, and reads each stream to its
// end. ttfb-ns is the median time from sending the request to the first byte of the body (the
// suite measures the same across processes); ns/op is the whole stream.
func BenchmarkPipelineStream(b *testing.B) {
	mock := startMock(b)
	for _, p := range []*inproc{startBare(b, mock), startARouter(b, mock)} {
		b.Run(p.name, func(b *testing.B) {
			// The same in-memory listener, with the body left to read as it comes.
			c := &fasthttp.HostClient{Addr: p.client.Addr, Dial: p.client.Dial, StreamResponseBody: true}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			var ttfb []time.Duration
			var whole []byte // the first stream's body, checked before timing
			stream := func() {
				start := time.Now()
				p.prepare(req, pipelineStreamBody)
				if err := c.Do(req, resp); err != nil {
					b.Fatal(err)
				}
				if resp.StatusCode() != 200 {
					b.Fatalf("%s: status %d", p.name, resp.StatusCode())
				}
				body := resp.BodyStream()
				var buf [4096]byte
				n, err := body.Read(buf[:])
				if n == 0 {
					b.Fatalf("%s: no first byte: %v", p.name, err)
				}
				ttfb = append(ttfb, time.Since(start))
				if whole == nil {
					whole = append([]byte{}, buf[:n]...)
				}
				for err == nil {
					if n, err = body.Read(buf[:]); len(ttfb) == 1 {
						whole = append(whole, buf[:n]...)
					}
				}
				if err != io.EOF {
					b.Fatal(err)
				}
				if err := resp.CloseBodyStream(); err != nil {
					b.Fatal(err)
				}
			}
			for range 100 { // fill pools, caches and connections
				stream()
			}
			// A target that streamed an error, or nothing, must not pass for a fast one.
			for _, want := range []string{`"finish_reason":"stop"`, "data: [DONE]"} {
				if !bytes.Contains(whole, []byte(want)) {
					b.Fatalf("%s: the stream has no %s:\n%s", p.name, want, whole)
				}
			}
			ttfb = ttfb[:0]
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				stream()
			}
			slices.Sort(ttfb)
			b.ReportMetric(float64(ttfb[len(ttfb)/2].Nanoseconds()), "ttfb-ns")
		})
	}
}
