package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os/signal"
	"syscall"

	"github.com/arouter/arouter/mockllm"
)

// mockCmd runs the mock provider alone, for benchmarks and for pointing other tools at it.
func mockCmd(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("arouter mock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve the mock OpenAI API on")
	var b mockllm.Behavior
	b.RegisterFlags(fs)
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		fmt.Fprintf(stderr, "arouter mock: unexpected argument %q\n", rest[0])
		return errUsage
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	srv := mockllm.New(b)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Shutdown() }()
	fmt.Fprintf(stderr, "mock OpenAI provider on http://%s/v1 (behaviour: GET/PUT /_mock/behavior)\n", ln.Addr())
	return srv.Serve(ln)
}
