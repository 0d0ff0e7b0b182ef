package config

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/arouter/arouter/money"
)

// Defaults. Zero (or absent) means "use the default" for every duration and count, so a minimal
// file lists only providers and models.
const (
	defaultListen         = "127.0.0.1:8080"
	defaultLogLevel       = "info"
	defaultSQLite         = "./data/arouter.db"
	defaultRedisPrefix    = "arouter:"
	defaultRedisTimeout   = 200 * time.Millisecond
	defaultReservationTTL = 15 * time.Minute
	defaultMaxRequestBody = 4 * MiB
	defaultReadTimeout    = 30 * time.Second
	defaultWriteTimeout   = 30 * time.Second
	defaultIdleTimeout    = 120 * time.Second
	defaultShutdown       = 30 * time.Second
	defaultMaxConns       = 20000

	defaultKeyCacheSize = 100000
	defaultRefreshAfter = time.Second
	defaultNegativeTTL  = 5 * time.Second

	defaultBatchSize     = 500
	defaultFlushInterval = 200 * time.Millisecond
	defaultSpoolMaxBytes = GiB
	minSpoolMaxBytes     = MiB

	defaultKeepAlive = 15 * time.Second

	defaultMaxTokens       = 4096
	defaultFirstByte       = 60 * time.Second
	defaultConsecutive     = 5
	defaultMaxAttempts     = 5
	defaultFailoverTimeout = 2 * time.Minute
	defaultOpenFor         = 30 * time.Second
	defaultMaxCoolDown     = 5 * time.Minute
	defaultProbeInterval   = 30 * time.Second
	defaultProbeTimeout    = 5 * time.Second
	defaultUsageRetention  = 90 * 24 * time.Hour
	defaultBYOKFeePercent  = 5
	minUsageRetention      = 24 * time.Hour
	defaultAdminEmail      = "admin@localhost"
	defaultInitialCredits  = USD(100 * money.PerUSD)

	defaultProviderMaxConns = 1024
	defaultConnectTimeout   = 5 * time.Second
	defaultProviderIdle     = 120 * time.Second
	defaultRequestTimeout   = 10 * time.Minute

	defaultMockEventDelay = 20 * time.Millisecond
	defaultMockTokens     = 16
)

// applyDefaults fills zero values and normalises spellings. Negative values are left alone for
// validate to report.
func applyDefaults(c *Config, pres []pricePresence) {
	str(&c.Listen, defaultListen)
	c.LogLevel = strings.ToLower(strings.TrimSpace(c.LogLevel))
	str(&c.LogLevel, defaultLogLevel)
	str(&c.Store.SQLite, defaultSQLite)
	str(&c.Redis.Prefix, defaultRedisPrefix)
	dur(&c.Redis.Timeout, defaultRedisTimeout)
	c.Redis.OnFailure = strings.ToLower(strings.TrimSpace(c.Redis.OnFailure))
	str(&c.Redis.OnFailure, RedisFailOpen)
	dur(&c.Redis.ReservationTTL, defaultReservationTTL)

	s := &c.Server
	if s.MaxRequestBody == 0 {
		s.MaxRequestBody = defaultMaxRequestBody
	}
	dur(&s.ReadTimeout, defaultReadTimeout)
	dur(&s.WriteTimeout, defaultWriteTimeout)
	dur(&s.IdleTimeout, defaultIdleTimeout)
	dur(&s.ShutdownTimeout, defaultShutdown)
	num(&s.MaxConns, defaultMaxConns)

	num(&c.Keys.CacheSize, defaultKeyCacheSize)
	dur(&c.Keys.RefreshAfter, defaultRefreshAfter)
	dur(&c.Keys.NegativeTTL, defaultNegativeTTL)

	num(&c.Accounting.BatchSize, defaultBatchSize)
	dur(&c.Accounting.FlushInterval, defaultFlushInterval)
	str(&c.Accounting.SpoolDir, filepath.Join(filepath.Dir(c.Store.SQLite), "spool"))
	if c.Accounting.SpoolMaxBytes == 0 {
		c.Accounting.SpoolMaxBytes = defaultSpoolMaxBytes
	}
	str(&c.Accounting.SpoolFull, SpoolFullRefuse)

	dur(&c.Streaming.KeepAliveInterval, defaultKeepAlive)

	if c.Limits.RequireCredits == nil {
		yes := true
		c.Limits.RequireCredits = &yes
	}
	num(&c.Limits.DefaultMaxTokens, defaultMaxTokens)
	if c.BYOK.FeePercent == nil {
		fee := defaultBYOKFeePercent
		c.BYOK.FeePercent = &fee
	}
	num(&c.Routing.MaxAttempts, defaultMaxAttempts)
	dur(&c.Routing.FailoverTimeout, defaultFailoverTimeout)
	num(&c.Routing.Breaker.ConsecutiveFailures, defaultConsecutive)
	dur(&c.Routing.Breaker.OpenFor, defaultOpenFor)
	dur(&c.Routing.MaxCoolDown, defaultMaxCoolDown)
	dur(&c.Routing.Probes.Interval, defaultProbeInterval)
	dur(&c.Routing.Probes.Timeout, defaultProbeTimeout)
	if c.Routing.Sticky.Enabled == nil {
		on := true
		c.Routing.Sticky.Enabled = &on
	}
	dur(&c.Routing.Sticky.TTL, 5*time.Minute)
	num(&c.Routing.Sticky.Size, 100_000)
	if c.Retention.UsageRecords == nil {
		d := defaultUsageRetention
		c.Retention.UsageRecords = &d
	}
	str(&c.Bootstrap.AdminEmail, defaultAdminEmail)
	if c.Bootstrap.InitialCredits == nil {
		def := defaultInitialCredits
		c.Bootstrap.InitialCredits = &def
	}

	for i := range c.Providers {
		p := &c.Providers[i]
		// A base URL is joined with paths like "/chat/completions"; a trailing slash would
		// double it.
		p.BaseURL = strings.TrimRight(p.BaseURL, "/")
		num(&p.MaxConns, defaultProviderMaxConns)
		dur(&p.ConnectTimeout, defaultConnectTimeout)
		dur(&p.IdleTimeout, defaultProviderIdle)
		dur(&p.RequestTimeout, defaultRequestTimeout)
		dur(&p.FirstByteTimeout, defaultFirstByte)
		if p.Probe == nil {
			on := true
			p.Probe = &on
		}
		if p.Kind == KindMock && p.Mock == nil {
			p.Mock = &Mock{}
		}
		if p.Mock != nil {
			dur(&p.Mock.EventDelay, defaultMockEventDelay)
			num(&p.Mock.Tokens, defaultMockTokens)
		}
	}

	for i := range c.Models {
		m := &c.Models[i]
		str(&m.Name, m.ID)
		m.Policy = strings.ToLower(strings.TrimSpace(m.Policy))
		var pp pricePresence
		if i < len(pres) {
			pp = pres[i]
		}
		// Providers that price cache hits separately say so; otherwise a cached token costs
		// what an uncached one does, which never under-bills.
		if !pp.cacheRead {
			m.Pricing.CacheRead = m.Pricing.Prompt
		}
		if !pp.cacheWrite {
			m.Pricing.CacheWrite = m.Pricing.Prompt
		}
	}
}

func str(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func dur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func num(n *int, def int) {
	if *n == 0 {
		*n = def
	}
}
