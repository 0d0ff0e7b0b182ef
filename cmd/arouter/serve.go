package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/arouter/arouter/cluster"
	"github.com/arouter/arouter/config"
)

// serveUsage is arouter serve --help: the flag, and the environment the gateway reads.
const serveUsage = `usage: arouter serve [--config FILE]

Runs the gateway: the OpenAI-compatible API, the Management API and the dashboard, on the
configuration's listen address. SIGINT or SIGTERM drain it (server.shutdown_timeout).

  --config FILE   configuration file (env AROUTER_CONFIG; default configs/arouter.yaml);
                  configs/arouter.yaml documents every setting

Environment:
  AROUTER_ADMIN_KEY        the instance admin's management key to store at the first start,
                           instead of printing a new one (sk-ar-mgmt-v1- and 64 hex digits)
  AROUTER_MASTER_KEY       64 hex digits (or base64 of 32 bytes) that encrypt organizations'
                           own provider keys (BYOK); without it BYOK is off
  AROUTER_MASTER_KEY_OLD   the previous master key, while rotating it ("arouter byok rekey")
  ${NAME}                  in a provider's api_key or base_url, or in store.sqlite, the
                           configuration reads the variable NAME
`

func serveCmd(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("arouter serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveUsage) }
	cfgPath := configFlag(fs)
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		fmt.Fprintf(stderr, "arouter serve: unexpected argument %q\n", rest[0])
		return errUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cluster.LogTo(log)

	g, err := openGateway(cfg, log)
	if err != nil {
		return err
	}
	if g.adminToken != "" {
		printAdminToken(stderr, g.adminToken)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- g.serve() }()
	log.Info("arouter listening", zap.String("addr", g.addr()), zap.String("config", *cfgPath),
		zap.String("store", g.store.Path()), zap.Int("models", len(cfg.Models)))

	select {
	case err := <-served:
		_ = g.shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process the default way
	log.Info("shutting down: draining requests and flushing usage records",
		zap.Duration("timeout", cfg.Server.ShutdownTimeout))
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := g.shutdown(drainCtx); err != nil {
		log.Error("shutdown was not clean", zap.Error(err))
		return err
	}
	if err := <-served; err != nil && !errors.Is(err, os.ErrClosed) {
		log.Warn("server stopped with an error", zap.Error(err))
	}
	log.Info("stopped")
	return nil
}

// newLogger writes JSON lines to stderr. Messages are constants and values are typed fields, so
// zap's sampling and log processors can group them; no request or response text is ever logged.
func newLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.EncoderConfig.TimeKey = "time"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return cfg.Build()
}
