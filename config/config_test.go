package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arouter/arouter/money"
)

// minimal is the smallest valid configuration; tests append to or edit it.
const minimal = `
providers:
  - id: mock
    kind: mock
models:
  - id: test/model
    pricing: {prompt: 1, completion: 2}
    deployments: [{provider: mock, model: m}]
`

// noEnv is an empty environment for tests that must not depend on the process environment.
func noEnv(string) (string, bool) { return "", false }

// env returns a lookup over a fixed map, so env tests can run in parallel.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func mustParse(t *testing.T, yaml string) *Config {
	t.Helper()
	c, err := parse([]byte(yaml), "test.yaml", noEnv)
	if err != nil {
		t.Fatalf("parse failed:\n%v\nconfig:\n%s", err, yaml)
	}
	return c
}

func TestShippedConfig(t *testing.T) {
	t.Parallel()
	c, err := Load(filepath.Join("..", "configs", "arouter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.Store.SQLite != "./data/arouter.db" {
		t.Errorf("listen/store = %q/%q", c.Listen, c.Store.SQLite)
	}
	mock := c.Provider("mock")
	if mock == nil || mock.Kind != KindMock || mock.Mock == nil || mock.Mock.EventDelay != 20*time.Millisecond || mock.Mock.Tokens != 16 {
		t.Fatalf("mock provider = %+v", mock)
	}
	// The quick start shows failover: gpt-4o-mini has a backup deployment on a second mock.
	if d := c.Model("openai/gpt-4o-mini").Deployments; len(d) != 2 || d[1].Provider != "mock-backup" {
		t.Errorf("openai/gpt-4o-mini deployments = %+v", d)
	}
	want := map[string]Pricing{
		"openai/gpt-4o-mini":               {Prompt: 150_000_000, Completion: 600_000_000, CacheRead: 75_000_000, CacheWrite: 150_000_000},
		"openai/gpt-4o":                    {Prompt: 2_500_000_000, Completion: 10_000_000_000, CacheRead: 1_250_000_000, CacheWrite: 2_500_000_000},
		"meta-llama/llama-3.1-8b-instruct": {Prompt: 20_000_000, Completion: 30_000_000, CacheRead: 20_000_000, CacheWrite: 20_000_000},
		"anthropic/claude-sonnet-4-6":      {Prompt: 3_000_000_000, Completion: 15_000_000_000, CacheRead: 300_000_000, CacheWrite: 3_750_000_000},
		"google/gemini-2.5-flash":          {Prompt: 300_000_000, Completion: 2_500_000_000, CacheRead: 75_000_000, CacheWrite: 300_000_000},
	}
	if len(c.Models) != len(want) {
		t.Errorf("got %d models, want %d", len(c.Models), len(want))
	}
	for id, p := range want {
		m := c.Model(id)
		if m == nil {
			t.Errorf("model %s missing", id)
			continue
		}
		if m.Pricing != p {
			t.Errorf("%s pricing = %+v, want %+v", id, m.Pricing, p)
		}
		if len(m.Deployments) == 0 || !strings.HasPrefix(m.Deployments[0].Provider, "mock") {
			t.Errorf("%s deployments = %+v", id, m.Deployments)
		}
	}
}

// Not parallel: t.Setenv.
func TestExampleConfig(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-test")
	c, err := Load(filepath.Join("..", "configs", "openai.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	oa := c.Provider("openai")
	if oa == nil || oa.Kind != KindOpenAI || oa.BaseURL != "https://api.openai.com/v1" || oa.APIKey != "sk-test" {
		t.Fatalf("openai provider = %+v", oa)
	}
	local := c.Provider("local")
	if local == nil || local.APIKey != "" || local.BaseURL != "http://127.0.0.1:11434/v1" {
		t.Fatalf("local provider = %+v", local)
	}
	if c.Model("openai/gpt-4o-mini").Pricing.CacheRead != 75_000_000 {
		t.Error("cache_read not parsed")
	}
	var local0 bool
	for _, m := range c.Models {
		for _, d := range m.Deployments {
			local0 = local0 || d.Provider == "local"
		}
	}
	if !local0 {
		t.Error("no model deployed on the local provider")
	}

	t.Setenv("OPENAI_API_KEY", "")
	_, err = Load(filepath.Join("..", "configs", "openai.example.yaml"))
	if err == nil || !strings.Contains(err.Error(), "providers[0].api_key: environment variable OPENAI_API_KEY is set but empty") {
		t.Fatalf("empty key: err = %v", err)
	}
}

func TestDefaultsApplied(t *testing.T) {
	t.Parallel()
	c := mustParse(t, `
providers:
  - id: mock
    kind: mock
  - id: oa
    kind: openai
    base_url: http://localhost:8000/v1///
models:
  - id: test/model
    pricing: {prompt: 1, completion: 2}
    deployments: [{provider: mock, model: m}]
  - id: test/priced
    name: Priced
    pricing: {prompt: 1, completion: 2, cache_read: 0, cache_write: 3}
    deployments: [{provider: oa, model: m}]
  - id: test/free
    pricing: {prompt: 0, completion: 0}
    deployments: [{provider: oa, model: m}]
  - id: test/null-cache
    pricing: {prompt: 1, completion: 2, cache_read: ~}
    deployments: [{provider: oa, model: m}]
`)
	want := Config{
		Listen:     "127.0.0.1:8080",
		LogLevel:   "info",
		Store:      Store{SQLite: "./data/arouter.db"},
		Server:     Server{MaxRequestBody: 4 * MiB, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, ShutdownTimeout: 30 * time.Second, MaxConns: 20000},
		Keys:       Keys{CacheSize: 100000, RefreshAfter: time.Second, NegativeTTL: 5 * time.Second},
		Accounting: Accounting{BatchSize: 500, FlushInterval: 200 * time.Millisecond, SpoolDir: "data/spool", SpoolMaxBytes: GiB, SpoolFull: "refuse"},
		Streaming:  Streaming{KeepAliveInterval: 15 * time.Second},
	}
	if c.Listen != want.Listen || c.LogLevel != want.LogLevel || c.Store != want.Store || c.Server != want.Server ||
		c.Keys != want.Keys || c.Accounting != want.Accounting || c.Streaming != want.Streaming {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}

	if !*c.Limits.RequireCredits || c.Limits.DefaultMaxTokens != 4096 || c.Bootstrap.AdminEmail != "admin@localhost" ||
		*c.Bootstrap.InitialCredits != USD(100*money.PerUSD) {
		t.Errorf("limits/bootstrap defaults = %+v %+v", c.Limits, c.Bootstrap)
	}
	if *c.BYOK.FeePercent != 5 {
		t.Errorf("byok.fee_percent default = %d, want 5", *c.BYOK.FeePercent)
	}

	mock := c.Provider("mock")
	if mock.MaxConns != 1024 || mock.ConnectTimeout != 5*time.Second || mock.IdleTimeout != 120*time.Second || mock.RequestTimeout != 10*time.Minute {
		t.Errorf("provider defaults = %+v", mock)
	}
	if mock.Mock == nil || *mock.Mock != (Mock{Latency: 0, EventDelay: 20 * time.Millisecond, Tokens: 16}) {
		t.Errorf("mock defaults = %+v", mock.Mock)
	}
	oa := c.Provider("oa")
	if oa.BaseURL != "http://localhost:8000/v1" {
		t.Errorf("base_url = %q, want trailing slashes trimmed", oa.BaseURL)
	}
	if oa.Mock != nil {
		t.Errorf("openai provider got a mock section")
	}

	if m := c.Model("test/model"); m.Name != "test/model" || m.Pricing != (Pricing{Prompt: 1e9, Completion: 2e9, CacheRead: 1e9, CacheWrite: 1e9}) {
		t.Errorf("test/model = %+v", m)
	}
	if m := c.Model("test/priced"); m.Name != "Priced" || m.Pricing != (Pricing{Prompt: 1e9, Completion: 2e9, CacheRead: 0, CacheWrite: 3e9}) {
		t.Errorf("explicit cache_read: 0 must stay 0: %+v", m)
	}
	if m := c.Model("test/free"); m.Pricing != (Pricing{}) {
		t.Errorf("free model = %+v", m.Pricing)
	}
	if m := c.Model("test/null-cache"); m.Pricing.CacheRead != 1e9 {
		t.Errorf("null cache_read should default to prompt: %+v", m.Pricing)
	}
}

func TestExplicitValuesKept(t *testing.T) {
	t.Parallel()
	c := mustParse(t, `
listen: ":9000"
log_level: DEBUG
store: {sqlite: /var/lib/arouter.db}
server: {max_request_body: 1KiB, read_timeout: 1s, write_timeout: 2s, idle_timeout: 3s, shutdown_timeout: 4s, max_conns: 5}
keys: {cache_size: 6, refresh_after: 7s, negative_ttl: 8s}
accounting: {queue_size: 10, batch_size: 9, flush_interval: 11ms, spool_dir: /var/spool/arouter, spool_max_bytes: 2MiB, spool_full: drop_new}
streaming: {keepalive_interval: 12s}
limits: {require_credits: false, default_max_tokens: 21}
bootstrap: {admin_email: ops@example.com, initial_credits: 0}
byok: {fee_percent: 0}
providers:
  - {id: mock, kind: mock, max_conns: 13, connect_timeout: 14s, idle_timeout: 15s, request_timeout: 16s,
     mock: {latency: 17ms, event_delay: 18ms, tokens: 19}}
models:
  - {id: a/b, name: AB, context_length: 20, pricing: {prompt: 1, completion: 2}, deployments: [{provider: mock, model: m}]}
`)
	if c.Listen != ":9000" || c.LogLevel != "debug" || c.Store.SQLite != "/var/lib/arouter.db" {
		t.Errorf("top level = %q %q %q", c.Listen, c.LogLevel, c.Store.SQLite)
	}
	if c.Server != (Server{KiB, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5}) {
		t.Errorf("server = %+v", c.Server)
	}
	if c.Keys != (Keys{6, 7 * time.Second, 8 * time.Second}) || c.Accounting != (Accounting{QueueSize: 10, BatchSize: 9, FlushInterval: 11 * time.Millisecond,
		SpoolDir: "/var/spool/arouter", SpoolMaxBytes: 2 * MiB, SpoolFull: "drop_new"}) ||
		c.Streaming.KeepAliveInterval != 12*time.Second {
		t.Errorf("keys/accounting/streaming = %+v %+v %+v", c.Keys, c.Accounting, c.Streaming)
	}
	p := c.Providers[0]
	if p.MaxConns != 13 || p.ConnectTimeout != 14*time.Second || p.IdleTimeout != 15*time.Second || p.RequestTimeout != 16*time.Second ||
		*p.Mock != (Mock{17 * time.Millisecond, 18 * time.Millisecond, 19, ""}) {
		t.Errorf("provider = %+v mock %+v", p, p.Mock)
	}
	if *c.Limits.RequireCredits || c.Limits.DefaultMaxTokens != 21 || c.Bootstrap.AdminEmail != "ops@example.com" || *c.Bootstrap.InitialCredits != 0 {
		t.Errorf("limits/bootstrap = %+v %+v", c.Limits, c.Bootstrap)
	}
	if m := c.Models[0]; m.Name != "AB" || m.ContextLength != 20 {
		t.Errorf("model = %+v", m)
	}
	if *c.BYOK.FeePercent != 0 { // an explicit 0 is no fee, not "unset, use the default 5"
		t.Errorf("byok.fee_percent = %d, want 0", *c.BYOK.FeePercent)
	}
}

func TestLookups(t *testing.T) {
	t.Parallel()
	c := mustParse(t, minimal)
	if p := c.Provider("mock"); p == nil || p != &c.Providers[0] {
		t.Error("Provider(mock) should point into Providers")
	}
	if c.Provider("nope") != nil || c.Model("nope/x") != nil {
		t.Error("unknown ids should give nil")
	}
	if m := c.Model("test/model"); m == nil || m != &c.Models[0] {
		t.Error("Model(test/model) should point into Models")
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadUsesPathInErrors(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("listen: nope\n"+minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": listen: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestPriceTypeIsNanosPerMillion(t *testing.T) {
	t.Parallel()
	// $0.15 per million tokens: a million tokens cost 0.15 USD = 150_000_000 nanos.
	c := mustParse(t, strings.Replace(minimal, "{prompt: 1, completion: 2}", "{prompt: 0.15, completion: 2}", 1))
	if got := c.Models[0].Pricing.Prompt.Cost(1_000_000); got != money.Nanos(150_000_000) {
		t.Fatalf("cost of 1M tokens = %d nanos, want 150_000_000", got)
	}
}

// Not parallel: t.Setenv.
func TestProvidersExampleConfig(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-o")
	t.Setenv("ANTHROPIC_API_KEY", "sk-a")
	t.Setenv("GEMINI_API_KEY", "g")
	c, err := Load(filepath.Join("..", "configs", "providers.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for id, kind := range map[string]string{"openai": KindOpenAI, "anthropic": KindAnthropic, "google": KindGemini} {
		if p := c.Provider(id); p == nil || p.Kind != kind || p.APIKey == "" {
			t.Errorf("provider %s = %+v", id, p)
		}
	}
	if m := c.Model("anthropic/claude-sonnet-4-6"); m == nil || m.Pricing.CacheWrite != 3_750_000_000 {
		t.Errorf("anthropic model = %+v", m)
	}
}
