package bench

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkChatCompletion sends small non-streaming completions over loopback to each target in
// the same run. Compare ns/op and allocs/op of passthrough and arouter: the difference is the
// gateway's cost (allocations are counted across the whole process: client, proxy and mock).
func BenchmarkChatCompletion(b *testing.B) {
	tg := startTargets(b)
	for _, target := range []struct{ name, addr string }{
		{"direct", tg.mockAddr}, {"passthrough", tg.passAddr}, {"arouter", tg.arouterAddr},
	} {
		b.Run(target.name, func(b *testing.B) {
			c := &fasthttp.HostClient{Addr: target.addr, MaxConns: 512}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				for pb.Next() {
					call(b, c, tg.token, req, resp)
				}
			})
		})
	}
}
