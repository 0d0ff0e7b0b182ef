// Package config loads the gateway's YAML configuration, expands environment variables in the
// few fields that hold secrets or deployment-specific locations, fills in defaults and validates
// everything before the gateway starts.
//
// A bad configuration must stop start-up with a message an operator can act on without reading
// the source: every problem names the file, the field path (models[2].deployments[0].provider),
// what is wrong and what would be right, and all problems are reported together so that fixing a
// file does not take one restart per mistake.
package config

import (
	"fmt"
	"os"
	"time"

	"github.com/arouter/arouter/money"
)

// Config is the whole gateway configuration. After Parse returns it without error every default
// has been applied and every field is valid, so the rest of the gateway can use it without
// re-checking.
type Config struct {
	Listen     string     `yaml:"listen"`    // host:port to serve on; default "127.0.0.1:8080"
	LogLevel   string     `yaml:"log_level"` // debug|info|warn|error; default info
	Store      Store      `yaml:"store"`
	Redis      Redis      `yaml:"redis"`
	Server     Server     `yaml:"server"`
	Keys       Keys       `yaml:"keys"`
	Accounting Accounting `yaml:"accounting"`
	Streaming  Streaming  `yaml:"streaming"`
	Limits     Limits     `yaml:"limits"`
	Routing    Routing    `yaml:"routing"`
	BYOK       BYOK       `yaml:"byok"`
	Retention  Retention  `yaml:"retention"`
	Bootstrap  Bootstrap  `yaml:"bootstrap"`
	Providers  []Provider `yaml:"providers"` // at least one
	Models     []Model    `yaml:"models"`    // at least one
}

// Store locates the persistent database (API keys, usage records).
type Store struct {
	SQLite string `yaml:"sqlite"` // database file; default "./data/arouter.db"; ${VAR} expanded
	// Postgres, when set, is the postgres:// URL of a PostgreSQL database that every replica
	// shares; it replaces the SQLite file. ${VAR} is expanded (keep the password out of the file).
	Postgres string `yaml:"postgres"`
}

// Redis connects replicas that share one store: their key and organization spend counters,
// budget reservations and key-cache invalidations live there. Empty URL: one replica, every
// counter in process memory.
type Redis struct {
	URL string `yaml:"url"` // redis://[:password@]host:port/db; ${VAR} expanded
	// Prefix starts every Redis key and channel, so that several deployments (or tests) can
	// share one server; default "arouter:".
	Prefix string `yaml:"prefix"`
	// Timeout bounds one round trip, the most Redis adds to a request; default 200ms.
	Timeout time.Duration `yaml:"timeout"`
	// OnFailure is what admission does while Redis cannot be reached: "fail_open" (default)
	// admits on this replica's own copy of the counters, "fail_closed" answers 503.
	OnFailure string `yaml:"on_failure"`
	// ReservationTTL is how long a request's budget reservation outlives a replica that died
	// holding it; longer than the longest request. Default 15m.
	ReservationTTL time.Duration `yaml:"reservation_ttl"`
}

// Redis failure policies (redis.on_failure).
const (
	RedisFailOpen   = "fail_open"
	RedisFailClosed = "fail_closed"
)

// Server holds the limits of the client-facing HTTP server. Every limit bounds a resource a
// client could otherwise hold indefinitely (memory, a connection, a goroutine).
type Server struct {
	MaxRequestBody  ByteSize      `yaml:"max_request_body"` // default 4MiB; 1KiB..1GiB
	ReadTimeout     time.Duration `yaml:"read_timeout"`     // reading one request; default 30s
	WriteTimeout    time.Duration `yaml:"write_timeout"`    // one write to a client (per chunk on streams); default 30s
	IdleTimeout     time.Duration `yaml:"idle_timeout"`     // keep-alive; default 120s
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"` // graceful drain on SIGTERM; default 30s
	MaxConns        int           `yaml:"max_conns"`        // concurrent client connections; default 20000
}

// Keys tunes the in-memory API key cache that keeps the store off the request path.
type Keys struct {
	CacheSize    int           `yaml:"cache_size"`    // keys held in memory; default 100000
	RefreshAfter time.Duration `yaml:"refresh_after"` // cached key re-read from the store in the background after this; default 1s
	NegativeTTL  time.Duration `yaml:"negative_ttl"`  // unknown tokens remembered for this long; default 5s
}

// Accounting tunes the asynchronous usage recorder, which batches writes so that billing never
// adds store latency to a request. Records wait for the store in a spool of local files, which
// survives the process being killed and the store being down.
type Accounting struct {
	// QueueSize is no longer used: records wait in the spool, bounded by SpoolMaxBytes. Files
	// that set it still load.
	QueueSize     int           `yaml:"queue_size"`
	BatchSize     int           `yaml:"batch_size"`     // records per store transaction; default 500
	FlushInterval time.Duration `yaml:"flush_interval"` // longest a record waits for a batch; default 200ms
	// SpoolDir holds the spool; default "spool" beside the SQLite file. ${VAR} is expanded.
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMaxBytes bounds the spool; default 1GiB, at least 1MiB.
	SpoolMaxBytes ByteSize `yaml:"spool_max_bytes"`
	// SpoolFull is what happens when the spool is full: "refuse" (default) answers new requests
	// 503 until the store catches up, "drop_new" serves them and drops their records.
	SpoolFull string `yaml:"spool_full"`
}

// Spool-full policies (accounting.spool_full).
const (
	SpoolFullRefuse  = "refuse"
	SpoolFullDropNew = "drop_new"
)

// Streaming tunes server-sent-event responses.
type Streaming struct {
	// KeepAliveInterval is how long upstream may be silent before a ": keep-alive" comment is
	// sent, so that proxies and clients do not time the stream out; default 15s.
	KeepAliveInterval time.Duration `yaml:"keepalive_interval"`
}

// Limits govern which requests are admitted.
type Limits struct {
	// RequireCredits refuses requests (402) from a context whose credits are used up; false
	// enforces key limits only, for gateways that do not meter teams. Default true.
	RequireCredits *bool `yaml:"require_credits"`
	// DefaultMaxTokens is the completion length credit is reserved for when a request does
	// not set max_tokens; default 4096.
	DefaultMaxTokens int `yaml:"default_max_tokens"`
}

// Routing tunes failover: circuit breakers per deployment, health verdicts and active probes.
type Routing struct {
	// MaxAttempts bounds the deployments one request tries; default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// FailoverTimeout: no new attempt starts once a request is this old; default 2m.
	FailoverTimeout time.Duration `yaml:"failover_timeout"`
	Breaker         Breaker       `yaml:"breaker"`
	// MaxCoolDown caps how long a provider's Retry-After can take a deployment out; default 5m.
	MaxCoolDown time.Duration `yaml:"max_cooldown"`
	Health      HealthRules   `yaml:"health"`
	Probes      Probes        `yaml:"probes"`
	Sticky      Sticky        `yaml:"sticky"`
}

// Sticky sends a request whose prompt prefix a deployment has cached back to that deployment,
// where cache reads are cheaper.
type Sticky struct {
	Enabled *bool         `yaml:"enabled"` // default true
	TTL     time.Duration `yaml:"ttl"`     // how long a cached prefix is followed; default 5m
	Size    int           `yaml:"size"`    // prefixes remembered; default 100000
}

// Breaker is the failure pattern that opens a deployment's circuit breaker.
type Breaker struct {
	ConsecutiveFailures int `yaml:"consecutive_failures"` // default 5
	// FailureRatio also opens it when this fraction of the requests in Interval failed, once
	// there are MinRequests of them; 0 (default) uses consecutive failures only.
	FailureRatio     float64       `yaml:"failure_ratio"`
	MinRequests      int           `yaml:"min_requests"`       // default 10
	Interval         time.Duration `yaml:"interval"`           // default 60s with a ratio
	OpenFor          time.Duration `yaml:"open_for"`           // default 30s, then probes are let through
	HalfOpenRequests int           `yaml:"half_open_requests"` // probe requests when half-open; default 1
}

// HealthRules decide when a deployment counts as unhealthy (demoted behind healthy ones).
type HealthRules struct {
	MaxErrorRate  float64 `yaml:"max_error_rate"` // over 5 minutes; default 0.5
	MinRequests   int     `yaml:"min_requests"`   // before the error rate counts; default 10
	ProbeFailures int     `yaml:"probe_failures"` // consecutive failed probes; default 3
}

// Probes are the active health checks: a GET of each provider's models list.
type Probes struct {
	Interval time.Duration `yaml:"interval"` // mean time between probes, jittered ±20%; default 30s
	Timeout  time.Duration `yaml:"timeout"`  // default 5s
}

// BYOK governs organizations' own provider keys (stored through /v1/byok, sealed under
// $AROUTER_MASTER_KEY).
type BYOK struct {
	// FeePercent of a BYOK request's list price is charged to the organization's credits;
	// the request itself is paid to the provider on the organization's key. Default 5 when
	// unset; 0 (or -1, accepted for older configurations) means no fee.
	FeePercent *int `yaml:"fee_percent"`
}

// Retention bounds how long the store keeps raw usage records. The daily roll-ups that activity
// reports read are kept whatever the setting, so reports over old ranges keep their figures.
type Retention struct {
	// UsageRecords: records older than this are deleted in the background, in small batches.
	// Default 2160h (90 days); 0s keeps them forever; otherwise at least 24h, because
	// GET /v1/generation reads them.
	UsageRecords *time.Duration `yaml:"usage_records"`
}

// Bootstrap is what the first start creates: the instance admin and its credits.
type Bootstrap struct {
	AdminEmail string `yaml:"admin_email"` // default "admin@localhost"
	// InitialCredits (USD) are granted to the instance admin's personal context at first
	// start, so that the quick start can send requests at once; default 100.
	InitialCredits *USD `yaml:"initial_credits"`
}

// USD is an amount of US dollars written as a plain decimal ("100" or 2.50), parsed exactly.
type USD money.Nanos

// Provider kinds.
const (
	KindOpenAI    = "openai"    // any OpenAI-compatible HTTP server
	KindAnthropic = "anthropic" // Anthropic's Messages API; requests are translated
	KindGemini    = "gemini"    // Google's Gemini API (generateContent); requests are translated
	KindMock      = "mock"      // the built-in mock, served in-process
)

// Provider is an upstream that serves models.
type Provider struct {
	ID             string        `yaml:"id"`              // required, unique, [a-z0-9][a-z0-9_-]*
	Kind           string        `yaml:"kind"`            // openai, anthropic, gemini or mock; required
	BaseURL        string        `yaml:"base_url"`        // openai only, required: absolute http(s) URL without trailing slash; ${VAR} expanded
	APIKey         string        `yaml:"api_key"`         // optional bearer token, usually "${OPENAI_API_KEY}"; ${VAR} expanded
	MaxConns       int           `yaml:"max_conns"`       // connections to this provider; default 1024
	ConnectTimeout time.Duration `yaml:"connect_timeout"` // default 5s
	IdleTimeout    time.Duration `yaml:"idle_timeout"`    // no bytes for this long cuts the request (covers time to first byte); default 120s
	RequestTimeout time.Duration `yaml:"request_timeout"` // total for non-streaming requests; default 10m
	// FirstByteTimeout bounds a stream's wait for its headers and first event; past it the
	// request fails over to the next deployment. Default 60s.
	FirstByteTimeout time.Duration `yaml:"first_byte_timeout"`
	// Probe turns active health probes of this provider on or off; default on.
	Probe *bool `yaml:"probe"`
	Mock  *Mock `yaml:"mock"` // kind mock only; always non-nil for mock providers after Parse
}

// Mock is the behaviour of the built-in mock provider, which lets the gateway be run, demoed and
// benchmarked without any upstream.
type Mock struct {
	Latency    time.Duration `yaml:"latency"`     // delay before the response starts; default 0
	EventDelay time.Duration `yaml:"event_delay"` // delay between streamed events; default 20ms
	Tokens     int           `yaml:"tokens"`      // completion tokens per response; default 16
	// Wire is the API the mock speaks to the gateway: openai (default), anthropic or gemini, so
	// that every adapter can be tried without an account.
	Wire string `yaml:"wire"`
}

// Model is a model clients can request, with its price and the providers that serve it.
type Model struct {
	ID            string `yaml:"id"`             // required, unique, "author/slug", e.g. openai/gpt-4o-mini
	Name          string `yaml:"name"`           // display name; default ID
	ContextLength int    `yaml:"context_length"` // optional, >= 0
	// Policy orders the deployments: priority (default, in the order listed), weighted,
	// latency (lowest recent time to first byte) or price.
	Policy      string       `yaml:"policy"`
	Pricing     Pricing      `yaml:"pricing"`
	Deployments []Deployment `yaml:"deployments"` // at least one
}

// Pricing is in nano-USD per million tokens. In YAML prices are USD per million tokens written as
// decimals ("0.15" or 0.15); they are parsed exactly, never through a float.
type Pricing struct {
	Prompt     money.PricePerMillion `yaml:"prompt"`      // required (0 is allowed for free models)
	Completion money.PricePerMillion `yaml:"completion"`  // required
	CacheRead  money.PricePerMillion `yaml:"cache_read"`  // default Prompt
	CacheWrite money.PricePerMillion `yaml:"cache_write"` // default Prompt
}

// Deployment maps a model onto one provider.
type Deployment struct {
	Provider string `yaml:"provider"` // ID of a provider in Config.Providers
	Model    string `yaml:"model"`    // the provider's name for the model; required
	Weight   int    `yaml:"weight"`   // policy weighted only: share of traffic; default 1
}

// Load reads the file at path and parses it; path is used in error messages.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes, expands, defaults and validates a configuration. source names the data in error
// messages (usually the file path). Environment variables are read from the process
// environment.
func Parse(data []byte, source string) (*Config, error) {
	return parse(data, source, os.LookupEnv)
}

// parse is Parse with the environment injected, so tests need not mutate the process
// environment (which would forbid running them in parallel).
func parse(data []byte, source string, lookupEnv func(string) (string, bool)) (*Config, error) {
	cfg, pres, err := decode(data, source)
	if err != nil {
		// Validating a partially decoded file would bury the real mistake under follow-on
		// errors (a mistyped key also looks like a missing one), so decoding problems are
		// reported on their own.
		return nil, err
	}
	p := &problems{source: source}
	expandAll(cfg, lookupEnv, p)
	applyDefaults(cfg, pres)
	validate(cfg, pres, p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Provider returns the provider with the given ID, or nil. It scans the list: it is meant for
// start-up wiring, not for the request path.
func (c *Config) Provider(id string) *Provider {
	for i := range c.Providers {
		if c.Providers[i].ID == id {
			return &c.Providers[i]
		}
	}
	return nil
}

// Model returns the model with the given ID, or nil. Like Provider it scans the list and is
// meant for start-up wiring.
func (c *Config) Model(id string) *Model {
	for i := range c.Models {
		if c.Models[i].ID == id {
			return &c.Models[i]
		}
	}
	return nil
}
