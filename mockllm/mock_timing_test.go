package mockllm

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// The benchmarks measure the mock's own cost per request over loopback, so
// gateway benchmarks can tell how much of their budget the upstream eats.

func benchChat(b *testing.B, body string, stream bool) {
	s, base, err := Start("127.0.0.1:0", Behavior{Tokens: 16})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown() }) //nolint:errcheck
	c := &fasthttp.Client{MaxConnsPerHost: 512}
	url := base + "/chat/completions"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod("POST")
		req.SetRequestURI(url)
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
		resp.StreamBody = stream
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("%v %d", err, resp.StatusCode())
			}
			if stream {
				n := 0
				sc := bufio.NewScanner(resp.BodyStream())
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "data: ") {
						n++
					}
				}
				resp.CloseBodyStream() //nolint:errcheck
				if n != 16+3 {
					b.Fatalf("%d events", n)
				}
			}
		}
	})
}

func BenchmarkChatNonStream(b *testing.B) {
	benchChat(b, chatBody("gpt-4o-mini", "benchmark me", ""), false)
}

func BenchmarkChatStream(b *testing.B) {
	benchChat(b, chatBody("gpt-4o-mini", "benchmark me", `"stream":true`), true)
}
