package bench

import (
	"testing"

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
