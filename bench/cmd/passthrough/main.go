// Command passthrough runs the bare fasthttp proxy (bench/bare) as a process of its own, so that
// the benchmark suite can measure its CPU and memory from /proc exactly as it does ARouter's.
//
//	passthrough --listen 127.0.0.1:9001 --upstream 127.0.0.1:9000
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/arouter/arouter/bench/bare"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	upstream := flag.String("upstream", "", "upstream host:port (required)")
	flag.Parse()
	if *upstream == "" {
		fmt.Fprintln(os.Stderr, "passthrough: --upstream is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "passthrough:", err)
		os.Exit(1)
	}
	p := bare.NewPassthrough(*upstream, nil)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; _ = p.Shutdown() }()
	fmt.Fprintf(os.Stderr, "passthrough on %s -> %s\n", ln.Addr(), *upstream)
	if err := p.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "passthrough:", err)
		os.Exit(1)
	}
}
