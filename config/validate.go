package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/arouter/arouter/money"
)

// problems collects every validation failure so they can be reported together, one per line,
// as "source: field.path: what is wrong; what would be right".
type problems struct {
	source string
	list   []error
	skip   map[string]bool // fields already reported (e.g. failed expansion); not validated again
}

func (p *problems) add(path, format string, args ...any) {
	p.list = append(p.list, errors.New(p.source+": "+path+": "+fmt.Sprintf(format, args...)))
}

func (p *problems) skipPath(path string) {
	if p.skip == nil {
		p.skip = map[string]bool{}
	}
	p.skip[path] = true
}

func (p *problems) err() error { return errors.Join(p.list...) }

var (
	providerIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	modelIDRE    = regexp.MustCompile(`^[a-z0-9._:-]+/[a-z0-9._:-]+$`)
)

var logLevels = []string{"debug", "info", "warn", "error"}

// validate checks a defaulted configuration.
func validate(c *Config, pres []pricePresence, p *problems) {
	validateListen(c.Listen, p)
	if !slices.Contains(logLevels, c.LogLevel) {
		p.add("log_level", "unknown level %q (use one of: %s)", c.LogLevel, strings.Join(logLevels, ", "))
	}

	s := c.Server
	switch {
	case s.MaxRequestBody < 0:
		p.add("server.max_request_body", "must not be negative (got %d); use 0 for the default %s", int64(s.MaxRequestBody), defaultMaxRequestBody)
	case s.MaxRequestBody < KiB || s.MaxRequestBody > GiB:
		p.add("server.max_request_body", "%s is outside the allowed range %s..%s", s.MaxRequestBody, KiB, GiB)
	}
	durations(p, "server.", []namedDur{
		{"read_timeout", s.ReadTimeout, defaultReadTimeout},
		{"write_timeout", s.WriteTimeout, defaultWriteTimeout},
		{"idle_timeout", s.IdleTimeout, defaultIdleTimeout},
		{"shutdown_timeout", s.ShutdownTimeout, defaultShutdown},
	})
	nonNegative(p, "server.max_conns", s.MaxConns, defaultMaxConns)

	nonNegative(p, "keys.cache_size", c.Keys.CacheSize, defaultKeyCacheSize)
	durations(p, "keys.", []namedDur{
		{"refresh_after", c.Keys.RefreshAfter, defaultRefreshAfter},
		{"negative_ttl", c.Keys.NegativeTTL, defaultNegativeTTL},
	})

	validateStores(c, p)

	a := c.Accounting
	nonNegative(p, "accounting.batch_size", a.BatchSize, defaultBatchSize)
	switch {
	case a.SpoolMaxBytes < 0:
		p.add("accounting.spool_max_bytes", "must not be negative (got %d); use 0 for the default %s", int64(a.SpoolMaxBytes), defaultSpoolMaxBytes)
	case a.SpoolMaxBytes < minSpoolMaxBytes:
		p.add("accounting.spool_max_bytes", "%s is too small: use at least %s; the spool holds usage records while the store is unreachable", a.SpoolMaxBytes, minSpoolMaxBytes)
	}
	if a.SpoolFull != SpoolFullRefuse && a.SpoolFull != SpoolFullDropNew {
		p.add("accounting.spool_full", "unknown policy %q (use %s to answer new requests 503 while the spool is full, or %s to serve them and drop their usage records)",
			a.SpoolFull, SpoolFullRefuse, SpoolFullDropNew)
	}
	durations(p, "accounting.", []namedDur{{"flush_interval", a.FlushInterval, defaultFlushInterval}})
	durations(p, "streaming.", []namedDur{{"keepalive_interval", c.Streaming.KeepAliveInterval, defaultKeepAlive}})

	nonNegative(p, "limits.default_max_tokens", c.Limits.DefaultMaxTokens, defaultMaxTokens)
	if c.Limits.DefaultMaxTokens > 10_000_000 {
		p.add("limits.default_max_tokens", "%d is implausibly large; use the longest completion your models produce, e.g. 4096", c.Limits.DefaultMaxTokens)
	}
	if a, err := mail.ParseAddress(c.Bootstrap.AdminEmail); err != nil || a.Address != c.Bootstrap.AdminEmail {
		p.add("bootstrap.admin_email", "%q is not an email address such as admin@example.com", c.Bootstrap.AdminEmail)
	}
	if v := money.Nanos(*c.Bootstrap.InitialCredits); v < 0 || v > 1_000_000*money.PerUSD {
		p.add("bootstrap.initial_credits", "%s USD is outside 0..1000000", v)
	}

	switch r := *c.Retention.UsageRecords; {
	case r < 0:
		p.add("retention.usage_records", "must not be negative (got %s); use 0s to keep records forever", r)
	case r != 0 && r < minUsageRetention:
		p.add("retention.usage_records", "%s is too short: use at least %s (GET /v1/generation reads the records), or 0s to keep them forever; the default is %s (90 days)",
			r, minUsageRetention, defaultUsageRetention)
	}
	if f := *c.BYOK.FeePercent; f < -1 || f > 100 {
		p.add("byok.fee_percent", "%d is outside 0..100 (0 for no fee)", f)
	}
	r := c.Routing
	nonNegative(p, "routing.max_attempts", r.MaxAttempts, defaultMaxAttempts)
	if r.MaxAttempts > 16 {
		p.add("routing.max_attempts", "%d is more than 16; a request tries at most 16 deployments", r.MaxAttempts)
	}
	nonNegative(p, "routing.breaker.consecutive_failures", r.Breaker.ConsecutiveFailures, defaultConsecutive)
	nonNegative(p, "routing.breaker.min_requests", r.Breaker.MinRequests, 10)
	nonNegative(p, "routing.breaker.half_open_requests", r.Breaker.HalfOpenRequests, 1)
	if r.Breaker.FailureRatio < 0 || r.Breaker.FailureRatio > 1 {
		p.add("routing.breaker.failure_ratio", "%v is not a fraction; use e.g. 0.5, or 0 to open breakers on consecutive failures only", r.Breaker.FailureRatio)
	}
	if r.Health.MaxErrorRate < 0 || r.Health.MaxErrorRate > 1 {
		p.add("routing.health.max_error_rate", "%v is not a fraction; use e.g. 0.5", r.Health.MaxErrorRate)
	}
	nonNegative(p, "routing.health.min_requests", r.Health.MinRequests, 10)
	nonNegative(p, "routing.sticky.size", r.Sticky.Size, 100_000)
	nonNegative(p, "routing.health.probe_failures", r.Health.ProbeFailures, 3)
	durations(p, "routing.", []namedDur{
		{"failover_timeout", r.FailoverTimeout, defaultFailoverTimeout},
		{"breaker.interval", r.Breaker.Interval, time.Minute},
		{"breaker.open_for", r.Breaker.OpenFor, defaultOpenFor},
		{"max_cooldown", r.MaxCoolDown, defaultMaxCoolDown},
		{"probes.interval", r.Probes.Interval, defaultProbeInterval},
		{"probes.timeout", r.Probes.Timeout, defaultProbeTimeout},
		{"sticky.ttl", r.Sticky.TTL, 5 * time.Minute},
	})

	validateProviders(c.Providers, p)
	validateModels(c, pres, p)
}

func validateListen(listen string, p *problems) {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		p.add("listen", `%q is not host:port (e.g. "127.0.0.1:8080", or ":8080" for all interfaces)`, listen)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("listen", "port %q in %q is not a number from 0 to 65535", port, listen)
	}
}

func validateProviders(list []Provider, p *problems) {
	if len(list) == 0 {
		p.add("providers", "at least one provider is required, e.g. {id: mock, kind: mock}")
		return
	}
	seen := map[string]int{}
	for i, pr := range list {
		at := fmt.Sprintf("providers[%d].", i)
		switch {
		case pr.ID == "":
			p.add(at+"id", `required; a short name such as "openai" (lowercase letters, digits, _ and -)`)
		case !providerIDRE.MatchString(pr.ID):
			p.add(at+"id", "invalid id %q; use lowercase letters, digits, _ and -, starting with a letter or digit", pr.ID)
		default:
			if j, dup := seen[pr.ID]; dup {
				p.add(at+"id", "duplicate id %q (also used by providers[%d]); provider ids must be unique", pr.ID, j)
			} else {
				seen[pr.ID] = i
			}
		}

		switch pr.Kind {
		case KindOpenAI, KindAnthropic, KindGemini:
			example := map[string]string{KindOpenAI: "https://api.openai.com/v1", KindAnthropic: "https://api.anthropic.com",
				KindGemini: "https://generativelanguage.googleapis.com"}[pr.Kind]
			if !p.skip[at+"base_url"] {
				if pr.BaseURL == "" {
					p.add(at+"base_url", `required for kind %q; the API root, e.g. %s`, pr.Kind, example)
				} else if msg := checkBaseURL(pr.BaseURL); msg != "" {
					p.add(at+"base_url", "%q %s; use an absolute http(s) URL such as %s", pr.BaseURL, msg, example)
				}
			}
			if pr.Mock != nil {
				p.add(at+"mock", `only allowed for kind "mock"; remove it or set kind: mock`)
			}
		case KindMock:
			if pr.BaseURL != "" && !p.skip[at+"base_url"] {
				p.add(at+"base_url", `must be empty for kind "mock" (the mock is served in-process)`)
			}
		case "":
			p.add(at+"kind", `required; "openai" for any OpenAI-compatible server, "anthropic", "gemini", or "mock" for the built-in mock`)
		default:
			p.add(at+"kind", "unknown kind %q (supported kinds: %s, %s, %s, %s)", pr.Kind, KindAnthropic, KindGemini, KindMock, KindOpenAI)
		}

		nonNegative(p, at+"max_conns", pr.MaxConns, defaultProviderMaxConns)
		durations(p, at, []namedDur{
			{"connect_timeout", pr.ConnectTimeout, defaultConnectTimeout},
			{"idle_timeout", pr.IdleTimeout, defaultProviderIdle},
			{"request_timeout", pr.RequestTimeout, defaultRequestTimeout},
		})
		if m := pr.Mock; m != nil {
			durations(p, at+"mock.", []namedDur{
				{"latency", m.Latency, 0},
				{"event_delay", m.EventDelay, defaultMockEventDelay},
			})
			nonNegative(p, at+"mock.tokens", m.Tokens, defaultMockTokens)
			switch m.Wire {
			case "", KindOpenAI, KindAnthropic, KindGemini:
			default:
				p.add(at+"mock.wire", "unknown wire format %q; use openai (the default), anthropic or gemini", m.Wire)
			}
		}
	}
}

// checkBaseURL returns what is wrong with a base URL, or "".
func checkBaseURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a valid URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with http:// or https://"
	case u.Host == "":
		return "has no host"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "must not have a query or fragment (request paths are appended to it)"
	}
	return ""
}

func validateModels(c *Config, pres []pricePresence, p *problems) {
	if len(c.Models) == 0 {
		p.add("models", "at least one model is required")
		return
	}
	providerIDs := make([]string, 0, len(c.Providers))
	for _, pr := range c.Providers {
		if pr.ID != "" && !slices.Contains(providerIDs, pr.ID) {
			providerIDs = append(providerIDs, pr.ID)
		}
	}
	sort.Strings(providerIDs)
	defined := "defined providers: " + strings.Join(providerIDs, ", ")
	if len(providerIDs) == 0 {
		defined = "no providers are defined"
	}

	seen := map[string]int{}
	for i, m := range c.Models {
		at := fmt.Sprintf("models[%d].", i)
		switch {
		case m.ID == "":
			p.add(at+"id", `required; "author/slug", e.g. "openai/gpt-4o-mini"`)
		case !modelIDRE.MatchString(m.ID):
			p.add(at+"id", `invalid id %q; use "author/slug" with lowercase letters, digits, . _ - : and exactly one /, e.g. "openai/gpt-4o-mini"`, m.ID)
		default:
			if j, dup := seen[m.ID]; dup {
				p.add(at+"id", "duplicate id %q (also used by models[%d]); model ids must be unique", m.ID, j)
			} else {
				seen[m.ID] = i
			}
		}
		if m.ContextLength < 0 {
			p.add(at+"context_length", "must not be negative (got %d); omit it if unknown", m.ContextLength)
		}
		switch m.Policy {
		case "", "priority", "weighted", "latency", "price":
		default:
			p.add(at+"policy", "unknown policy %q; use priority (the default), weighted, latency or price", m.Policy)
		}
		if len(m.Deployments) > 64 {
			p.add(at+"deployments", "%d deployments; a model may have at most 64", len(m.Deployments))
		}
		usedProviders := map[string]int{}

		var pp pricePresence
		if i < len(pres) {
			pp = pres[i]
		}
		validatePricing(at+"pricing", m.Pricing, pp, p)

		if len(m.Deployments) == 0 {
			p.add(at+"deployments", "at least one deployment is required, e.g. [{provider: %s, model: gpt-4o-mini}]", firstOr(providerIDs, "openai"))
		}
		for j, d := range m.Deployments {
			dat := fmt.Sprintf("%sdeployments[%d].", at, j)
			switch {
			case d.Provider == "":
				p.add(dat+"provider", "required (%s)", defined)
			case !slices.Contains(providerIDs, d.Provider):
				p.add(dat+"provider", "unknown provider %q (%s)", d.Provider, defined)
			}
			if d.Model == "" {
				p.add(dat+"model", `required; the provider's own name for the model, e.g. "gpt-4o-mini"`)
			}
			if k, dup := usedProviders[d.Provider]; dup && d.Provider != "" {
				p.add(dat+"provider", "provider %q already serves this model in deployments[%d]; list each provider once", d.Provider, k)
			} else {
				usedProviders[d.Provider] = j
			}
			switch {
			case d.Weight < 0 || d.Weight > 1_000_000:
				p.add(dat+"weight", "%d is outside 1..1000000", d.Weight)
			case d.Weight != 0 && m.Policy != "weighted":
				p.add(dat+"weight", `only used with policy: weighted; set the model's policy or remove the weight`)
			}
		}
	}
}

func validatePricing(at string, pr Pricing, pp pricePresence, p *problems) {
	if !pp.pricing {
		p.add(at, "required; prices in USD per million tokens, e.g. {prompt: 0.15, completion: 0.60} (0 for free)")
		return
	}
	if !pp.prompt {
		p.add(at+".prompt", "required; USD per million prompt tokens, e.g. 0.15 (0 for free)")
	}
	if !pp.completion {
		p.add(at+".completion", "required; USD per million completion tokens, e.g. 0.60 (0 for free)")
	}
	// Absent cache prices were copied from prompt; reporting them too would repeat its error.
	for _, f := range []struct {
		name  string
		set   bool
		price money.PricePerMillion
	}{{"prompt", pp.prompt, pr.Prompt}, {"completion", pp.completion, pr.Completion},
		{"cache_read", pp.cacheRead, pr.CacheRead}, {"cache_write", pp.cacheWrite, pr.CacheWrite}} {
		if f.set && f.price < 0 {
			p.add(at+"."+f.name, "must not be negative (got %s)", money.Nanos(f.price))
		}
	}
}

type namedDur struct {
	name string
	d    time.Duration
	def  time.Duration
}

func durations(p *problems, prefix string, list []namedDur) {
	for _, f := range list {
		if f.d < 0 {
			p.add(prefix+f.name, "must not be negative (got %s); use 0 for the default %s", f.d, f.def)
		}
	}
}

func nonNegative(p *problems, path string, n, def int) {
	if n < 0 {
		p.add(path, "must not be negative (got %d); use 0 for the default %d", n, def)
	}
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}

// validateStores checks the PostgreSQL and Redis URLs, which replicas share.
func validateStores(c *Config, p *problems) {
	if pg := c.Store.Postgres; pg != "" {
		u, err := url.Parse(pg)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			p.add("store.postgres", "is not a PostgreSQL URL such as postgres://arouter:${PGPASSWORD}@db.internal:5432/arouter")
		}
	}
	r := c.Redis
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			p.add("redis.url", "is not a Redis URL such as redis://127.0.0.1:6379/0 (rediss:// for TLS)")
		}
		if c.Store.Postgres == "" {
			p.add("redis.url", "is set but store.postgres is not: replicas that share counters must share one store; set store.postgres, or remove redis.url to run a single replica on SQLite")
		}
	}
	if r.OnFailure != RedisFailOpen && r.OnFailure != RedisFailClosed {
		p.add("redis.on_failure", "unknown policy %q (use %s to admit requests on this replica's own counters while Redis is unreachable, or %s to answer them 503)",
			r.OnFailure, RedisFailOpen, RedisFailClosed)
	}
	durations(p, "redis.", []namedDur{
		{"timeout", r.Timeout, defaultRedisTimeout},
		{"reservation_ttl", r.ReservationTTL, defaultReservationTTL},
	})
}
