package config

import (
	"strings"
	"testing"
)

func TestExpandEnv(t *testing.T) {
	t.Parallel()
	vars := env(map[string]string{"KEY": "sk-1", "HOST": "h.example", "EMPTY": "", "Q": `a"b: c`})
	cases := []struct {
		in, want string
		errs     []string
	}{
		{"plain", "plain", nil},
		{"${KEY}", "sk-1", nil},
		{"Bearer-${KEY}-x", "Bearer-sk-1-x", nil},
		{"https://${HOST}/v1", "https://h.example/v1", nil},
		{"${Q}", `a"b: c`, nil}, // values are inserted verbatim, never re-parsed as YAML
		{"$${KEY}", "${KEY}", nil},
		{"a$${b}$${", "a${b}${", nil},
		{"$KEY $ $$ $}", "$KEY $ $$ $}", nil}, // only ${ is special
		{"$$${KEY}", "$${KEY}", nil},          // "$" then the escape "$${"
		{"${UNSET}", "", []string{"environment variable UNSET is not set"}},
		{"${EMPTY}", "", []string{"environment variable EMPTY is set but empty"}},
		{"${UNSET}/${EMPTY}", "", []string{"UNSET is not set", "EMPTY is set but empty"}},
		{"${KEY", "", []string{`unterminated "${"`}},
		{"${}", "", []string{`invalid environment variable name ""`}},
		{"${VAR:-x}", "", []string{`invalid environment variable name "VAR:-x"`}},
		{"${1A}", "", []string{`invalid environment variable name "1A"`}},
	}
	for _, tc := range cases {
		got, errs := expandEnv(tc.in, vars)
		if len(errs) != len(tc.errs) {
			t.Errorf("expandEnv(%q): errors %v, want %d matching %q", tc.in, errs, len(tc.errs), tc.errs)
			continue
		}
		for i, e := range errs {
			if !strings.Contains(e.Error(), tc.errs[i]) {
				t.Errorf("expandEnv(%q) error %d = %v, want %q", tc.in, i, e, tc.errs[i])
			}
		}
		if tc.errs == nil && got != tc.want {
			t.Errorf("expandEnv(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

const envConfig = `
store: {sqlite: "${DATA}/arouter.db"}
providers:
  - {id: mock, kind: mock}
  - {id: openai, kind: openai, base_url: "${OPENAI_BASE}", api_key: "${OPENAI_API_KEY}"}
  - {id: local, kind: openai, base_url: "http://127.0.0.1:11434/v1", api_key: "$${literal}"}
models:
  - {id: a/b, pricing: {prompt: 1, completion: 1}, deployments: [{provider: openai, model: m}]}
`

func TestEnvFields(t *testing.T) {
	t.Parallel()
	c, err := parse([]byte(envConfig), "test.yaml", env(map[string]string{
		"DATA": "/srv/data", "OPENAI_BASE": "https://api.openai.com/v1/", "OPENAI_API_KEY": "sk-xyz",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.SQLite != "/srv/data/arouter.db" {
		t.Errorf("store.sqlite = %q", c.Store.SQLite)
	}
	if p := c.Provider("openai"); p.BaseURL != "https://api.openai.com/v1" || p.APIKey != "sk-xyz" {
		t.Errorf("openai = %q %q (base_url should be expanded, then trimmed)", p.BaseURL, p.APIKey)
	}
	if p := c.Provider("local"); p.APIKey != "${literal}" {
		t.Errorf("escaped api_key = %q", p.APIKey)
	}
}

func TestEnvOnlyInDesignatedFields(t *testing.T) {
	t.Parallel()
	c := mustParse(t, withModel("{id: a/b, name: '${NAME}', pricing: {prompt: 1, completion: 1}, deployments: [{provider: mock, model: '${M}'}]}"))
	if c.Models[0].Name != "${NAME}" || c.Models[0].Deployments[0].Model != "${M}" {
		t.Errorf("expansion leaked into other fields: %+v", c.Models[0])
	}
}

func TestEnvMissing(t *testing.T) {
	t.Parallel()
	_, err := parse([]byte(envConfig), "test.yaml", env(map[string]string{"OPENAI_BASE": ""}))
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"test.yaml: store.sqlite: environment variable DATA is not set; export it or write the path directly",
		"test.yaml: providers[1].base_url: environment variable OPENAI_BASE is set but empty; export it or write the URL directly",
		"test.yaml: providers[1].api_key: environment variable OPENAI_API_KEY is not set; export it or remove the provider",
	}
	// The failed base_url must not also be reported as missing or malformed.
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// TestParseReadsProcessEnv checks that Parse itself uses the real environment (not parallel:
// t.Setenv).
func TestParseReadsProcessEnv(t *testing.T) {
	t.Setenv("ARouter_TEST_KEY", "sk-real")
	y := `
providers: [{id: oa, kind: openai, base_url: "http://h/v1", api_key: "${ARouter_TEST_KEY}"}]
models: [{id: a/b, pricing: {prompt: 1, completion: 1}, deployments: [{provider: oa, model: m}]}]
`
	c, err := Parse([]byte(y), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Providers[0].APIKey != "sk-real" {
		t.Errorf("api_key = %q", c.Providers[0].APIKey)
	}
	t.Setenv("ARouter_TEST_KEY", "")
	if _, err := Parse([]byte(y), "test.yaml"); err == nil ||
		!strings.Contains(err.Error(), "providers[0].api_key: environment variable ARouter_TEST_KEY is set but empty") {
		t.Errorf("err = %v", err)
	}
}
