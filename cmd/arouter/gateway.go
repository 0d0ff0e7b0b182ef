package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/admin"
	"github.com/arouter/arouter/balancer"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/cachekeys"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/cluster"
	"github.com/arouter/arouter/config"
	"github.com/arouter/arouter/health"
	"github.com/arouter/arouter/mockllm"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/providers/anthropic"
	"github.com/arouter/arouter/providers/gemini"
	"github.com/arouter/arouter/proxy"
	"github.com/arouter/arouter/retention"
)

// gateway is one assembled ARouter: store, key cache, accounting, providers and the server,
// listening but not yet serving. `arouter serve` runs one; end-to-end tests run several.
type gateway struct {
	cfg    *config.Config
	log    *zap.Logger
	store  store
	ledger *budget.Ledger
	admin  *admin.API
	// adminToken is the instance admin's management token when this start minted it (the
	// first start without AROUTER_ADMIN_KEY); serve prints it once.
	adminToken string
	keys       *cachekeys.Cache
	records    *accounting.Writer
	server     *proxy.Server
	health     *health.Tracker
	prober     *health.Prober
	recent     *accounting.Recent // finished records, readable before they are stored
	mocks      []*mockllm.Server
	ln         net.Listener
	metrics    *metrics.Set

	// sealer seals and opens BYOK credentials; nil without AROUTER_MASTER_KEY. byokCache holds
	// the organizations' opened credentials for the request path.
	sealer    *byok.Sealer
	byokCache *byok.Cache
	retention *retention.Pruner // deletes old usage records; nil when they are kept forever
	credits   *creditReloader   // brings in credits granted by other processes

	// With redis.url: the connection, the budgets replicas share, and the bus that tells
	// them about key and credential changes. All nil otherwise.
	redis   *redis.Client
	budgets *cluster.Budgets
	bus     *cluster.Bus
}

// openGateway builds every part from cfg and binds the listen address. On error everything
// already opened is closed again.
func openGateway(cfg *config.Config, log *zap.Logger) (*gateway, error) {
	return openGatewayEnv(cfg, log, os.LookupEnv)
}

// openGatewayEnv is openGateway reading the master keys (AROUTER_MASTER_KEY, _OLD) through
// lookupEnv, so that tests can give each gateway its own.
func openGatewayEnv(cfg *config.Config, log *zap.Logger, lookupEnv func(string) (string, bool)) (g *gateway, err error) {
	g = &gateway{cfg: cfg, log: log, metrics: metrics.NewSet()}
	opened := g // the error returns below set g to nil
	defer func() {
		if err != nil {
			opened.close()
		}
	}()
	if g.store, err = openStore(cfg); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if err := g.openRecords(ctx); err != nil {
		return nil, err
	}
	now := time.Now()
	if _, g.adminToken, err = admin.Bootstrap(ctx, g.store, bootstrapOptions(cfg), now); err != nil {
		return nil, err
	}
	spend, err := g.store.LoadSpend(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("restore spend counters: %w", err)
	}
	if err := g.openLedger(ctx, spend); err != nil {
		return nil, err
	}
	cat, err := catalog.New(catalogSpecs(cfg))
	if err != nil {
		return nil, err
	}
	providers, err := g.providers()
	if err != nil {
		return nil, err
	}
	g.keys, err = cachekeys.New(g.store, cachekeys.Options{
		Size:         cfg.Keys.CacheSize,
		RefreshAfter: cfg.Keys.RefreshAfter,
		NegativeTTL:  cfg.Keys.NegativeTTL,
		OnRefreshError: func(err error) {
			log.Warn("background key refresh failed; serving cached keys", zap.Error(err))
		},
	})
	if err != nil {
		return nil, err
	}
	names := make([]string, len(cat.Deployments()))
	for i, d := range cat.Deployments() {
		names[i] = d.Name()
	}
	rt := cfg.Routing
	g.health = health.NewTracker(names, health.Options{
		Metrics:       g.metrics,
		MaxErrorRate:  rt.Health.MaxErrorRate,
		MinRequests:   int64(rt.Health.MinRequests),
		ProbeFailures: int64(rt.Health.ProbeFailures),
	})
	balOpts := balancer.Options{
		ConsecutiveFailures: uint32(rt.Breaker.ConsecutiveFailures),
		FailureRatio:        rt.Breaker.FailureRatio,
		MinRequests:         uint32(rt.Breaker.MinRequests),
		Interval:            rt.Breaker.Interval,
		OpenFor:             rt.Breaker.OpenFor,
		HalfOpenRequests:    uint32(rt.Breaker.HalfOpenRequests),
		MaxCoolDown:         rt.MaxCoolDown,
		Health:              g.health,
		Metrics:             g.metrics,
		Logger:              log,
	}
	if err := balOpts.Validate(); err != nil {
		return nil, err
	}
	if g.sealer, err = byok.SealerFromEnv(lookupEnv); err != nil {
		return nil, err
	}
	if g.byokCache, err = openBYOKCache(g.store, g.sealer, log); err != nil {
		return nil, err
	}
	g.recent = accounting.NewRecent(0)
	// Changes made through this replica's API reach the others' caches through Redis.
	var invalidate admin.KeyInvalidator = g.keys
	var reloadBYOK admin.BYOKReloader = g.byokCache
	if g.redis != nil {
		g.bus = cluster.NewBus(ctx, g.redis, cfg.Redis.Prefix, g.keys, g.byokCache, cfg.Redis.Timeout, log)
		invalidate, reloadBYOK = g.bus.Keys(), g.bus.BYOK(g.byokCache)
	}
	g.admin = admin.New(admin.Options{Store: g.store, Ledger: g.ledger, Keys: g.keys, Cache: invalidate, Catalog: cat,
		Providers: providerIDs(cfg), Sealer: g.sealer, BYOK: reloadBYOK, Logger: log,
		Recent: g.recent, Generations: g.store})
	g.server, err = proxy.New(proxy.Options{
		Catalog:           cat,
		Balancer:          balancer.New(cat, balOpts),
		Health:            g.health,
		Keys:              g.keys,
		Budget:            g.ledger,
		Recent:            g.recent,
		Management:        managementRoutes(g.admin),
		DefaultMaxTokens:  cfg.Limits.DefaultMaxTokens,
		MaxAttempts:       cfg.Routing.MaxAttempts,
		FailoverTimeout:   cfg.Routing.FailoverTimeout,
		StickyTTL:         stickyTTL(&cfg.Routing.Sticky),
		StickySize:        cfg.Routing.Sticky.Size,
		BYOK:              g.byokCache,
		BYOKFeePercent:    max(*cfg.BYOK.FeePercent, 0),
		Records:           g.records,
		Ready:             g.store,
		Providers:         providers,
		Logger:            log,
		Metrics:           g.metrics,
		MaxRequestBody:    int(cfg.Server.MaxRequestBody),
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxConns:          cfg.Server.MaxConns,
		KeepAliveInterval: cfg.Streaming.KeepAliveInterval,
	})
	if err != nil {
		return nil, err
	}
	if g.prober, err = g.startProber(cat, providers); err != nil {
		return nil, err
	}
	g.credits = startCreditReloader(g.store, g.ledger, cfg.Keys.RefreshAfter, log)
	if age := cfg.Retention.UsageRecords; age != nil && *age > 0 {
		g.retention = retention.New(g.store, retention.Options{MaxAge: *age, Logger: log})
		g.retention.Start()
	}
	if g.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another process using it? change `listen` in the configuration)", cfg.Listen, err)
	}
	metrics.RegisterSet(g.metrics)
	return g, nil
}

// openLedger builds the budget ledger from the store's counters. With redis.url set, the
// counters live in Redis for every replica: the first replica to start seeds them from the
// store, and this ledger keeps its copy.
func (g *gateway) openLedger(ctx context.Context, spend budget.Snapshot) (err error) {
	opts := budget.Options{RequireCredits: *g.cfg.Limits.RequireCredits}
	if r := g.cfg.Redis; r.URL != "" {
		failOpen := r.OnFailure == config.RedisFailOpen
		ro := cluster.Options{URL: r.URL, Prefix: r.Prefix, Timeout: r.Timeout}
		if g.redis, err = cluster.Open(ctx, ro); err != nil {
			if !failOpen {
				return fmt.Errorf("%w (redis.on_failure: fail_closed needs redis to start)", err)
			}
			// fail_open: start on the store's counters; Redis is seeded by the first
			// admission that finds it reachable and empty.
			g.log.Error("starting without redis: admitting on this replica's own counters until it answers (redis.on_failure: fail_open)", zap.Error(err))
			if g.redis, err = cluster.NewClient(ro); err != nil {
				return err
			}
		}
		g.budgets = cluster.NewBudgets(g.redis, cluster.BudgetOptions{
			Prefix: r.Prefix, Timeout: r.Timeout, ReservationTTL: r.ReservationTTL,
			RequireCredits: opts.RequireCredits, FailOpen: r.OnFailure == config.RedisFailOpen,
			Store: g.store, Logger: g.log,
		})
		cluster.RegisterGauges(g.metrics, g.budgets)
		seeded, err := g.budgets.Seed(ctx, spend)
		switch {
		case err != nil && !failOpen:
			return err
		case err != nil:
			g.log.Warn("redis not seeded yet; the first admission that reaches it will seed it", zap.Error(err))
		default:
			g.log.Info("budgets shared through redis", zap.String("redis", cluster.Redact(r.URL)), zap.Bool("seeded_from_store", seeded),
				zap.String("on_failure", r.OnFailure))
		}
		opts.Remote, opts.FailOpen = g.budgets, failOpen
	}
	g.ledger = budget.New(opts)
	g.ledger.Restore(spend)
	return nil
}

// replayWait bounds how long start-up waits for the records a killed predecessor left in the
// spool; past it the gateway starts anyway and stores them as soon as the store takes them.
const replayWait = 30 * time.Second

// openRecords opens the usage-record spool and waits for the records of earlier processes in
// it to be stored, so that the spend counters restored next include them.
func (g *gateway) openRecords(ctx context.Context) (err error) {
	a := g.cfg.Accounting
	if a.QueueSize != 0 {
		g.log.Warn("accounting.queue_size is no longer used: records wait in the spool, bounded by accounting.spool_max_bytes")
	}
	g.records, err = accounting.OpenWriter(g.store, accounting.Options{
		BatchSize:     a.BatchSize,
		FlushInterval: a.FlushInterval,
		SpoolDir:      a.SpoolDir,
		SpoolMaxBytes: int64(a.SpoolMaxBytes),
		WhenFull:      accounting.FullPolicy(a.SpoolFull),
		Logger:        g.log,
	})
	if err != nil {
		return err
	}
	accounting.RegisterGauges(g.metrics, g.records)
	wait, cancel := context.WithTimeout(ctx, replayWait)
	defer cancel()
	if err := g.records.WaitReplayed(wait); err != nil {
		g.log.Error("starting before a killed predecessor's usage records are stored; spend limits do not count them until they are", zap.Error(err))
	}
	return nil
}

// providers turns configured providers into forwarding options, starting the built-in mock for
// providers of kind mock so that a fresh checkout serves requests with no account anywhere.
func (g *gateway) providers() ([]proxy.ProviderOptions, error) {
	var out []proxy.ProviderOptions
	for _, p := range g.cfg.Providers {
		base := p.BaseURL
		if p.Kind == config.KindMock {
			m, url, err := mockllm.Start("127.0.0.1:0", mockllm.Behavior{
				Latency:    mockllm.Duration(p.Mock.Latency),
				EventDelay: mockllm.Duration(p.Mock.EventDelay),
				Tokens:     p.Mock.Tokens,
			})
			if err != nil {
				return nil, fmt.Errorf("start built-in mock provider %s: %w", p.ID, err)
			}
			g.mocks = append(g.mocks, m)
			base = url
			if p.Mock.Wire != "" && p.Mock.Wire != config.KindOpenAI {
				base = strings.TrimSuffix(url, "/v1") // native APIs are addressed from the root
			}
		}
		out = append(out, proxy.ProviderOptions{
			ID:               p.ID,
			BaseURL:          base,
			APIKey:           p.APIKey,
			MaxConns:         p.MaxConns,
			ConnectTimeout:   p.ConnectTimeout,
			IdleTimeout:      p.IdleTimeout,
			RequestTimeout:   p.RequestTimeout,
			FirstByteTimeout: p.FirstByteTimeout,
			Adapter:          adapterFor(&p),
		})
	}
	return out, nil
}

// stickyTTL is the proxy's setting: the TTL, or negative when sticky routing is off.
func stickyTTL(s *config.Sticky) time.Duration {
	if !*s.Enabled {
		return -1
	}
	return s.TTL
}

// wire is the API a provider speaks: its kind, or for the mock the wire format it imitates.
func wire(p *config.Provider) string {
	if p.Kind == config.KindMock {
		if p.Mock.Wire == "" {
			return config.KindOpenAI
		}
		return p.Mock.Wire
	}
	return p.Kind
}

// adapterFor returns the translator for providers that do not speak OpenAI's API, nil for
// those that do (the zero-copy passthrough).
func adapterFor(p *config.Provider) proxy.Adapter {
	// The mock takes per-request behaviour overrides in a "mock" field, which translation
	// would otherwise drop; real providers never see it.
	var passthrough []string
	if p.Kind == config.KindMock {
		passthrough = []string{"mock"}
	}
	switch wire(p) {
	case config.KindAnthropic:
		return anthropic.Adapter{Passthrough: passthrough}
	case config.KindGemini:
		return gemini.Adapter{Passthrough: passthrough}
	}
	return nil
}

// bootstrapOptions takes the instance admin's settings from the configuration and the
// environment (AROUTER_ADMIN_KEY).
func bootstrapOptions(cfg *config.Config) admin.BootstrapOptions {
	return admin.BootstrapOptions{
		AdminEmail:     cfg.Bootstrap.AdminEmail,
		AdminKey:       os.Getenv("AROUTER_ADMIN_KEY"),
		InitialCredits: money.Nanos(*cfg.Bootstrap.InitialCredits),
	}
}

func catalogSpecs(cfg *config.Config) []catalog.ModelSpec {
	specs := make([]catalog.ModelSpec, 0, len(cfg.Models))
	for _, m := range cfg.Models {
		policy, _ := catalog.ParsePolicy(m.Policy) // validated with the configuration
		s := catalog.ModelSpec{
			ID: m.ID, Name: m.Name, ContextLength: m.ContextLength, Policy: policy,
			Prices: catalog.Prices{
				Prompt: m.Pricing.Prompt, Completion: m.Pricing.Completion,
				CacheRead: m.Pricing.CacheRead, CacheWrite: m.Pricing.CacheWrite,
			},
		}
		for _, d := range m.Deployments {
			s.Deployments = append(s.Deployments, catalog.DeploymentSpec{Provider: d.Provider, UpstreamModel: d.Model, Weight: d.Weight})
		}
		specs = append(specs, s)
	}
	return specs
}

// serve blocks until shutdown.
func (g *gateway) serve() error { return g.server.Serve(g.ln) }

// shutdown drains in-flight requests and streams (bounded by ctx), then writes every queued
// usage record, then closes the rest. It reports the first failure but always finishes.
func (g *gateway) shutdown(ctx context.Context) error {
	var errs []error
	if err := g.server.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("drain requests: %w", err))
	}
	// The server has stopped: no more records can arrive. Flushing gets its own deadline so that
	// a drain that used the whole budget still leaves time to save billing data.
	flushCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.records.Close(flushCtx); err != nil {
		errs = append(errs, fmt.Errorf("flush usage records: %w", err))
	}
	g.records = nil
	g.close()
	return errors.Join(errs...)
}

// close releases whatever was opened, in reverse order.
func (g *gateway) close() {
	metrics.UnregisterSet(g.metrics, true)
	if g.ln != nil {
		_ = g.ln.Close()
	}
	if g.records != nil {
		// Records not stored by then stay in the spool for the next start.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = g.records.Close(ctx)
		cancel()
	}
	if g.prober != nil {
		g.prober.Stop()
	}
	if g.credits != nil {
		g.credits.Stop()
	}
	if g.retention != nil {
		g.retention.Stop()
	}
	if g.bus != nil { // before the caches it invalidates
		_ = g.bus.Close()
	}
	if g.keys != nil {
		g.keys.Close()
	}
	if g.byokCache != nil {
		g.byokCache.Close()
	}
	if g.budgets != nil {
		g.budgets.Close() // sends what the last requests owe
	}
	if g.redis != nil {
		_ = g.redis.Close()
	}
	for _, m := range g.mocks {
		_ = m.Shutdown()
	}
	if g.store != nil {
		_ = g.store.Close()
	}
}

// addr is the address actually bound (useful with port 0).
func (g *gateway) addr() string { return g.ln.Addr().String() }
