package config

import (
	"strings"
	"testing"
)

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	cases := []errorCase{
		{"unknown top-level field", "lisen: ':80'\n" + minimal,
			[]string{`test.yaml:1: lisen: unknown field "lisen"; did you mean "listen"?`, "valid fields here: listen, log_level"}},
		{"unknown provider field", "providers:\n  - id: x\n    kind: openai\n    bse_url: http://h\nmodels: []\n",
			[]string{`test.yaml:4: providers[0].bse_url: unknown field "bse_url"; did you mean "base_url"?`}},
		{"unknown field in flow style", "providers: [{id: x, kind: mock, mok: {}}]\nmodels: []\n",
			[]string{`test.yaml:1: providers[0].mok: unknown field "mok"; did you mean "mock"?`}},
		{"unknown mock field", "providers: [{id: x, kind: mock, mock: {token: 3}}]\nmodels: []\n",
			[]string{`providers[0].mock.token: unknown field "token"; did you mean "tokens"?`}},
		{"unknown pricing field", withModel("{id: a/b, pricing: {prompt: 1, completion: 1, promt: 2}, deployments: [{provider: mock, model: m}]}"),
			[]string{`test.yaml:3: models[0].pricing.promt: unknown field "promt"; did you mean "prompt"?`, "valid fields here: prompt, completion, cache_read, cache_write"}},
		{"unknown field far from anything", "zzzzzzzz: 1\n" + minimal, []string{`zzzzzzzz: unknown field "zzzzzzzz" (valid fields here:`}},
		{"duration without unit", "server:\n  read_timeout: 30\n" + minimal,
			[]string{`test.yaml:2: server.read_timeout: expected a duration with a unit, such as "30s"`, "got 30"}},
		{"bad duration", "keys: {refresh_after: soon}\n" + minimal, []string{`keys.refresh_after: expected a duration`, `got "soon"`}},
		{"int as text", "server: {max_conns: many}\n" + minimal, []string{`server.max_conns: expected a whole number, got "many"`}},
		{"list where mapping expected", "server: [1]\n" + minimal, []string{"test.yaml:1: server: expected a mapping with keys max_request_body", "got a list"}},
		{"mapping where list expected", "providers: {id: x}\nmodels: []\n", []string{"test.yaml:1: providers: expected a list of providers, got a mapping"}},
		{"not a mapping at all", "just text\n", []string{"test.yaml:1: expected a mapping of settings"}},
		{"bad byte size", "server: {max_request_body: 4M}\n" + minimal, []string{`test.yaml:1: server.max_request_body: invalid size "4M": unknown unit "M"`}},
		{"byte size as list", "server: {max_request_body: [1]}\n" + minimal, []string{`server.max_request_body: expected a size such as 4MiB, got a list`}},
		{"price not a number", withModel("{id: a/b, pricing: {prompt: cheap, completion: 1}, deployments: [{provider: mock, model: m}]}"),
			[]string{`models[0].pricing.prompt: invalid price "cheap" (not a decimal number)`}},
		{"price too precise", withModel("{id: a/b, pricing: {prompt: 0.0000000001, completion: 1}, deployments: [{provider: mock, model: m}]}"),
			[]string{`models[0].pricing.prompt: invalid price "0.0000000001" (more than 9 decimal places)`}},
		{"price exponent", withModel("{id: a/b, pricing: {prompt: 1e-3, completion: 1}, deployments: [{provider: mock, model: m}]}"),
			[]string{`models[0].pricing.prompt: invalid price "1e-3"`}},
		{"price bool", withModel("{id: a/b, pricing: {prompt: true, completion: 1}, deployments: [{provider: mock, model: m}]}"),
			[]string{`models[0].pricing.prompt: invalid price "true"`}},
		{"price list", withModel("{id: a/b, pricing: {prompt: [1], completion: 1}, deployments: [{provider: mock, model: m}]}"),
			[]string{`models[0].pricing.prompt: expected a price, got a list`}},
		{"pricing scalar", withModel("{id: a/b, pricing: 0.15, deployments: [{provider: mock, model: m}]}"),
			[]string{`models[0].pricing: expected a mapping of prices`}},
		{"duplicate key", "listen: ':1'\nlisten: ':2'\n" + minimal, []string{`test.yaml:2: listen: set twice (first at line 1); keep one`}},
		{"duplicate pricing key", withModel("{id: a/b, pricing: {prompt: 1, prompt: 2, completion: 1}, deployments: [{provider: mock, model: m}]}"),
			[]string{`test.yaml:3: models[0].pricing.prompt: set twice (first at line 3)`}},
		{"syntax error", "listen: [\n", []string{"test.yaml:", "invalid YAML"}},
		{"bad indentation", "providers:\n  - id: x\n   kind: mock\n", []string{"test.yaml:1: invalid YAML: did not find expected"}},
		{"two documents", minimal + "---\nlisten: ':1'\n", []string{"a second YAML document"}},
	}
	checkErrorCases(t, cases)
}

func TestDecodeErrorsReportedTogether(t *testing.T) {
	t.Parallel()
	y := `
lisen: ":80"
server: {read_timeout: 5}
providers: [{id: mock, kind: mock, colour: red}]
models: [{id: a/b, pricing: {prompt: x, completion: 1}, deployments: [{provider: mock, model: m}]}]
`
	_, err := parse([]byte(y), "test.yaml", noEnv)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"lisen", "server.read_timeout", "providers[0].colour", "models[0].pricing.prompt"}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %q, want it to mention %s", i, lines[i], w)
		}
	}
}

func TestEmptyFile(t *testing.T) {
	t.Parallel()
	for _, y := range []string{"", "# only a comment\n"} {
		_, err := parse([]byte(y), "test.yaml", noEnv)
		if err == nil || !strings.Contains(err.Error(), "providers: at least one provider is required") ||
			!strings.Contains(err.Error(), "models: at least one model is required") {
			t.Errorf("%q: err = %v", y, err)
		}
	}
}

func TestAnchorsAndMerges(t *testing.T) {
	t.Parallel()
	c := mustParse(t, `
providers:
  - {id: mock, kind: mock}
models:
  - {id: a/one, pricing: &cheap {prompt: 0.1, completion: 0.2}, deployments: [{provider: mock, model: m}]}
  - {id: a/two, pricing: {<<: *cheap, cache_read: 0.01}, deployments: [{provider: mock, model: m}]}
  - {id: a/three, pricing: *cheap, deployments: [{provider: mock, model: m}]}
`)
	one := Pricing{Prompt: 100_000_000, Completion: 200_000_000, CacheRead: 100_000_000, CacheWrite: 100_000_000}
	if got := c.Model("a/one").Pricing; got != one {
		t.Errorf("a/one = %+v", got)
	}
	if got := c.Model("a/three").Pricing; got != one {
		t.Errorf("a/three (alias) = %+v", got)
	}
	two := Pricing{Prompt: 100_000_000, Completion: 200_000_000, CacheRead: 10_000_000, CacheWrite: 100_000_000}
	if got := c.Model("a/two").Pricing; got != two {
		t.Errorf("a/two (merge) = %+v", got)
	}
}
