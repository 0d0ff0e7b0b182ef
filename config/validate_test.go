package config

import (
	"strings"
	"testing"
)

// withModel wraps one model (a flow mapping) into a config with a mock provider.
func withModel(body string) string {
	return "providers: [{id: mock, kind: mock}]\nmodels:\n  - " + strings.TrimSpace(body) + "\n"
}

// withProvider wraps a provider (flow mapping) into a config with one model served by it.
func withProvider(provider, id string) string {
	return "providers: [" + provider + "]\nmodels: [{id: a/b, pricing: {prompt: 1, completion: 1}, deployments: [{provider: " + id + ", model: m}]}]\n"
}

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	cases := []errorCase{
		{"listen not host:port", "listen: localhost\n" + minimal, []string{"test.yaml: listen: ", `"localhost" is not host:port`}},
		{"listen bad port", "listen: localhost:http\n" + minimal, []string{"listen: port \"http\"", "0 to 65535"}},
		{"listen port too big", "listen: :70000\n" + minimal, []string{"listen: port \"70000\""}},
		{"log level", "log_level: verbose\n" + minimal, []string{`log_level: unknown level "verbose" (use one of: debug, info, warn, error)`}},
		{"body too small", "server: {max_request_body: 512}\n" + minimal, []string{"server.max_request_body: 512B is outside the allowed range 1KiB..1GiB"}},
		{"body too large", "server: {max_request_body: 2GiB}\n" + minimal, []string{"server.max_request_body: 2GiB is outside"}},
		{"negative read timeout", "server: {read_timeout: -1s}\n" + minimal, []string{"server.read_timeout: must not be negative (got -1s); use 0 for the default 30s"}},
		{"negative write timeout", "server: {write_timeout: -1s}\n" + minimal, []string{"server.write_timeout: must not be negative"}},
		{"negative idle timeout", "server: {idle_timeout: -1s}\n" + minimal, []string{"server.idle_timeout: must not be negative"}},
		{"negative shutdown", "server: {shutdown_timeout: -1s}\n" + minimal, []string{"server.shutdown_timeout: must not be negative"}},
		{"negative server conns", "server: {max_conns: -1}\n" + minimal, []string{"server.max_conns: must not be negative (got -1); use 0 for the default 20000"}},
		{"negative cache size", "keys: {cache_size: -1}\n" + minimal, []string{"keys.cache_size: must not be negative"}},
		{"negative refresh", "keys: {refresh_after: -1s}\n" + minimal, []string{"keys.refresh_after: must not be negative"}},
		{"negative negative_ttl", "keys: {negative_ttl: -1s}\n" + minimal, []string{"keys.negative_ttl: must not be negative"}},
		{"negative batch", "accounting: {batch_size: -1}\n" + minimal, []string{"accounting.batch_size: must not be negative"}},
		{"spool too small", "accounting: {spool_max_bytes: 64KiB}\n" + minimal, []string{"accounting.spool_max_bytes: 64KiB is too small: use at least 1MiB"}},
		{"negative spool", "accounting: {spool_max_bytes: -1}\n" + minimal, []string{"accounting.spool_max_bytes: "}},
		{"spool policy", "accounting: {spool_full: block}\n" + minimal, []string{`accounting.spool_full: unknown policy "block" (use refuse`}},
		{"postgres not a URL", "store: {postgres: db.internal}\n" + minimal, []string{"store.postgres: is not a PostgreSQL URL such as postgres://"}},
		{"redis not a URL", "store: {postgres: 'postgres://h/db'}\nredis: {url: 'http://h:6379'}\n" + minimal, []string{"redis.url: is not a Redis URL"}},
		{"redis without postgres", "redis: {url: 'redis://h:6379'}\n" + minimal, []string{"redis.url: is set but store.postgres is not"}},
		{"redis policy", "redis: {on_failure: retry}\n" + minimal, []string{`redis.on_failure: unknown policy "retry" (use fail_open`}},
		{"negative redis timeout", "redis: {timeout: -1s}\n" + minimal, []string{"redis.timeout: must not be negative"}},
		{"negative flush", "accounting: {flush_interval: -1ms}\n" + minimal, []string{"accounting.flush_interval: must not be negative"}},
		{"negative keepalive", "streaming: {keepalive_interval: -1s}\n" + minimal, []string{"streaming.keepalive_interval: must not be negative"}},
		{"unknown policy", withModel("{id: a/b, policy: cheapest, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m}]}"), []string{`models[0].policy: unknown policy "cheapest"`}},
		{"weight without weighted", withModel("{id: a/b, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m, weight: 2}]}"), []string{"models[0].deployments[0].weight: only used with policy: weighted"}},
		{"negative weight", withModel("{id: a/b, policy: weighted, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m, weight: -1}]}"), []string{"models[0].deployments[0].weight: -1 is outside 1..1000000"}},
		{"same provider twice", withModel("{id: a/b, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m}, {provider: mock, model: n}]}"), []string{`models[0].deployments[1].provider: provider "mock" already serves this model in deployments[0]`}},
		{"failure ratio", "routing: {breaker: {failure_ratio: 1.5}}\n" + minimal, []string{"routing.breaker.failure_ratio: 1.5 is not a fraction"}},
		{"error rate", "routing: {health: {max_error_rate: -0.1}}\n" + minimal, []string{"routing.health.max_error_rate: -0.1 is not a fraction"}},
		{"negative open_for", "routing: {breaker: {open_for: -1s}}\n" + minimal, []string{"routing.breaker.open_for: must not be negative"}},
		{"negative probe interval", "routing: {probes: {interval: -1s}}\n" + minimal, []string{"routing.probes.interval: must not be negative"}},
		{"negative max tokens", "limits: {default_max_tokens: -1}\n" + minimal, []string{"limits.default_max_tokens: must not be negative"}},
		{"huge max tokens", "limits: {default_max_tokens: 100000000}\n" + minimal, []string{"limits.default_max_tokens: 100000000 is implausibly large"}},
		{"require_credits not bool", "limits: {require_credits: maybe}\n" + minimal, []string{"limits.require_credits"}},
		{"admin email", "bootstrap: {admin_email: root}\n" + minimal, []string{`bootstrap.admin_email: "root" is not an email address`}},
		{"negative credits", "bootstrap: {initial_credits: -5}\n" + minimal, []string{"bootstrap.initial_credits: -5 USD is outside 0..1000000"}},
		{"credits not a number", "bootstrap: {initial_credits: lots}\n" + minimal, []string{"bootstrap.initial_credits", `"lots"`}},

		{"no providers", "models: [{id: a/b, pricing: {prompt: 1, completion: 1}, deployments: [{provider: x, model: m}]}]\n",
			[]string{"providers: at least one provider is required", `models[0].deployments[0].provider: unknown provider "x" (no providers are defined)`}},
		{"provider id missing", withProvider("{kind: mock}", "mock"), []string{"providers[0].id: required"}},
		{"provider id invalid", withProvider("{id: Open AI, kind: mock}", "Open AI"), []string{`providers[0].id: invalid id "Open AI"`}},
		{"provider id leading dash", withProvider("{id: -x, kind: mock}", "-x"), []string{`providers[0].id: invalid id "-x"`}},
		{"provider id duplicate", withProvider("{id: m, kind: mock}, {id: m, kind: mock}", "m"), []string{`providers[1].id: duplicate id "m" (also used by providers[0])`}},
		{"kind missing", withProvider("{id: x}", "x"), []string{`providers[0].kind: required; "openai" for any OpenAI-compatible server, "anthropic", "gemini", or "mock"`}},
		{"kind unknown", withProvider("{id: x, kind: bedrock}", "x"), []string{`providers[0].kind: unknown kind "bedrock" (supported kinds: anthropic, gemini, mock, openai)`}},
		{"anthropic base_url missing", withProvider("{id: x, kind: anthropic}", "x"), []string{`providers[0].base_url: required for kind "anthropic"; the API root, e.g. https://api.anthropic.com`}},
		{"mock wire unknown", withProvider("{id: x, kind: mock, mock: {wire: bedrock}}", "x"), []string{`providers[0].mock.wire: unknown wire format "bedrock"`}},
		{"openai base_url missing", withProvider("{id: x, kind: openai}", "x"), []string{`providers[0].base_url: required for kind "openai"`}},
		{"openai base_url relative", withProvider("{id: x, kind: openai, base_url: api.openai.com/v1}", "x"), []string{`providers[0].base_url: "api.openai.com/v1" must start with http:// or https://`}},
		{"openai base_url scheme", withProvider("{id: x, kind: openai, base_url: 'ftp://h/v1'}", "x"), []string{`providers[0].base_url: "ftp://h/v1" must start with http://`}},
		{"openai base_url no host", withProvider("{id: x, kind: openai, base_url: 'http:///v1'}", "x"), []string{"providers[0].base_url: ", "has no host"}},
		{"openai base_url query", withProvider("{id: x, kind: openai, base_url: 'http://h/v1?x=1'}", "x"), []string{"providers[0].base_url: ", "must not have a query"}},
		{"openai with mock section", withProvider("{id: x, kind: openai, base_url: 'http://h', mock: {tokens: 1}}", "x"), []string{`providers[0].mock: only allowed for kind "mock"`}},
		{"mock with base_url", withProvider("{id: x, kind: mock, base_url: 'http://h'}", "x"), []string{`providers[0].base_url: must be empty for kind "mock"`}},
		{"provider negative conns", withProvider("{id: x, kind: mock, max_conns: -1}", "x"), []string{"providers[0].max_conns: must not be negative (got -1); use 0 for the default 1024"}},
		{"provider negative connect", withProvider("{id: x, kind: mock, connect_timeout: -1s}", "x"), []string{"providers[0].connect_timeout: must not be negative"}},
		{"provider negative idle", withProvider("{id: x, kind: mock, idle_timeout: -1s}", "x"), []string{"providers[0].idle_timeout: must not be negative"}},
		{"provider negative request", withProvider("{id: x, kind: mock, request_timeout: -1s}", "x"), []string{"providers[0].request_timeout: must not be negative"}},
		{"mock negative latency", withProvider("{id: x, kind: mock, mock: {latency: -1ms}}", "x"), []string{"providers[0].mock.latency: must not be negative"}},
		{"mock negative delay", withProvider("{id: x, kind: mock, mock: {event_delay: -1ms}}", "x"), []string{"providers[0].mock.event_delay: must not be negative"}},
		{"mock negative tokens", withProvider("{id: x, kind: mock, mock: {tokens: -1}}", "x"), []string{"providers[0].mock.tokens: must not be negative"}},

		{"no models", "providers: [{id: mock, kind: mock}]\n", []string{"models: at least one model is required"}},
		{"model id missing", withModel("{pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m}]}"), []string{"models[0].id: required"}},
		{"model id no slash", withModel("{id: gpt-4o, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m}]}"), []string{`models[0].id: invalid id "gpt-4o"; use "author/slug"`}},
		{"model id two slashes", withModel("{id: a/b/c, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m}]}"), []string{`models[0].id: invalid id "a/b/c"`}},
		{"model id uppercase", withModel("{id: OpenAI/GPT-4o, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m}]}"), []string{`models[0].id: invalid id "OpenAI/GPT-4o"`}},
		{"model id empty slug", withModel("{id: a/, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m}]}"), []string{`models[0].id: invalid id "a/"`}},
		{"model id duplicate", minimal + "  - {id: test/model, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m}]}\n",
			[]string{`models[1].id: duplicate id "test/model" (also used by models[0])`}},
		{"context length negative", withModel("{id: a/b, context_length: -1, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m}]}"), []string{"models[0].context_length: must not be negative"}},
		{"pricing missing", withModel("{id: a/b, deployments: [{provider: mock, model: m}]}"), []string{"models[0].pricing: required"}},
		{"pricing null", withModel("{id: a/b, pricing: ~, deployments: [{provider: mock, model: m}]}"), []string{"models[0].pricing: required"}},
		{"prompt missing", withModel("{id: a/b, pricing: {completion: 1}, deployments: [{provider: mock, model: m}]}"), []string{"models[0].pricing.prompt: required"}},
		{"completion missing", withModel("{id: a/b, pricing: {prompt: 1}, deployments: [{provider: mock, model: m}]}"), []string{"models[0].pricing.completion: required"}},
		{"completion null", withModel("{id: a/b, pricing: {prompt: 1, completion: }, deployments: [{provider: mock, model: m}]}"), []string{"models[0].pricing.completion: required"}},
		{"negative prompt", withModel("{id: a/b, pricing: {prompt: -0.5, completion: 1}, deployments: [{provider: mock, model: m}]}"), []string{"models[0].pricing.prompt: must not be negative (got -0.5)"}},
		{"negative completion", withModel("{id: a/b, pricing: {prompt: 1, completion: '-1'}, deployments: [{provider: mock, model: m}]}"), []string{"models[0].pricing.completion: must not be negative (got -1)"}},
		{"negative cache_read", withModel("{id: a/b, pricing: {prompt: 1, completion: 1, cache_read: -1}, deployments: [{provider: mock, model: m}]}"), []string{"models[0].pricing.cache_read: must not be negative"}},
		{"negative cache_write", withModel("{id: a/b, pricing: {prompt: 1, completion: 1, cache_write: -1}, deployments: [{provider: mock, model: m}]}"), []string{"models[0].pricing.cache_write: must not be negative"}},
		{"no deployments", withModel("{id: a/b, pricing: {prompt: 1, completion: 1}}"), []string{"models[0].deployments: at least one deployment is required"}},
		{"deployment provider missing", withModel("{id: a/b, pricing: {prompt: 1, completion: 1}, deployments: [{model: m}]}"), []string{"models[0].deployments[0].provider: required (defined providers: mock)"}},
		{"deployment provider unknown", `
providers: [{id: mock, kind: mock}, {id: openai, kind: openai, base_url: "https://api.openai.com/v1"}]
models:
  - {id: a/a, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m}]}
  - {id: a/b, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: m}]}
  - {id: a/c, pricing: {prompt: 1, completion: 1}, deployments: [{provider: opena, model: m}]}
`, []string{`test.yaml: models[2].deployments[0].provider: unknown provider "opena" (defined providers: mock, openai)`}},
		{"deployment model missing", withModel("{id: a/b, pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock}]}"), []string{"models[0].deployments[0].model: required"}},
	}
	checkErrorCases(t, cases)
}

func TestValidValues(t *testing.T) {
	t.Parallel()
	for _, y := range []string{
		"listen: ':8080'\n" + minimal,
		"listen: '[::1]:0'\n" + minimal,
		"log_level: warn\n" + minimal,
		"log_level: ERROR\n" + minimal,
		"server: {max_request_body: 1KiB}\n" + minimal,
		"server: {max_request_body: 1GiB}\n" + minimal,
		"accounting: {queue_size: 10, batch_size: 10}\n" + minimal,
		"accounting: {spool_dir: /tmp/x, spool_max_bytes: 1MiB, spool_full: drop_new}\n" + minimal,
		"store: {postgres: 'postgresql://u:p@db:5432/arouter?sslmode=require'}\nredis: {url: 'rediss://:pw@r:6380/1', prefix: 'x:', timeout: 50ms, on_failure: FAIL_CLOSED, reservation_ttl: 1h}\n" + minimal,
		withProvider("{id: a_b-9, kind: openai, base_url: 'HTTP://h:1/v1/'}", "a_b-9"),
		withModel("{id: 'a.b_c-d:e/x.y_z-1:2', pricing: {prompt: 0, completion: 0}, deployments: [{provider: mock, model: m}]}"),
		withModel("{id: a/b, pricing: {prompt: 1, completion: 1, cache_read: 0, cache_write: 0}, deployments: [{provider: mock, model: m}]}"),
		"providers: [{id: p, kind: mock}, {id: q, kind: mock, probe: false, first_byte_timeout: 5s}]\n" +
			"routing: {breaker: {consecutive_failures: 3, failure_ratio: 0.5, min_requests: 20, interval: 10s, open_for: 5s, half_open_requests: 2}, max_cooldown: 1m, health: {max_error_rate: 0.2, min_requests: 5, probe_failures: 2}, probes: {interval: 10s, timeout: 1s}}\n" +
			"models: [{id: a/b, policy: weighted, pricing: {prompt: 1, completion: 1}, deployments: [{provider: p, model: m, weight: 3}, {provider: q, model: n}]}]\n",
	} {
		mustParse(t, y)
	}
}

func TestAllProblemsReportedTogether(t *testing.T) {
	t.Parallel()
	y := `
listen: nowhere
log_level: loud
providers:
  - {id: mock, kind: mock}
  - {id: openai, kind: openai, api_key: "${OPENAI_API_KEY}"}
models:
  - {id: bad, pricing: {prompt: 1}, deployments: [{provider: opena, model: m}]}
`
	_, err := parse([]byte(y), "configs/arouter.yaml", noEnv)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"configs/arouter.yaml: providers[1].api_key: environment variable OPENAI_API_KEY is not set; export it or remove the provider",
		`configs/arouter.yaml: listen: "nowhere" is not host:port`,
		`configs/arouter.yaml: log_level: unknown level "loud"`,
		`configs/arouter.yaml: providers[1].base_url: required for kind "openai"`,
		`configs/arouter.yaml: models[0].id: invalid id "bad"`,
		"configs/arouter.yaml: models[0].pricing.completion: required",
		`configs/arouter.yaml: models[0].deployments[0].provider: unknown provider "opena" (defined providers: mock, openai)`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Errorf("got %d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if i < len(lines) && !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}
