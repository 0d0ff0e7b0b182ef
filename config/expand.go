package config

import (
	"errors"
	"fmt"
)

// Environment expansion applies only to the fields that hold secrets or deployment-specific
// locations (api_key, base_url, store.sqlite, accounting.spool_dir), so that API keys need not be committed with the
// file. It works on decoded values rather than on the raw text, so a value containing quotes,
// colons or newlines cannot change the structure of the YAML.
//
// Syntax: ${NAME} is replaced by the variable's value; $${ stands for a literal ${; any other $
// is kept as is. An unset or empty variable is an error rather than an empty string, because a
// blank API key or URL only fails later, confusingly, at the first request.

// missingVarError is an unset or empty variable; the caller adds advice that fits the field.
type missingVarError struct {
	name  string
	empty bool
}

func (e *missingVarError) Error() string {
	if e.empty {
		return fmt.Sprintf("environment variable %s is set but empty", e.name)
	}
	return fmt.Sprintf("environment variable %s is not set", e.name)
}

// expandAll expands the fields that allow ${VAR}. A field that fails is left unexpanded and
// excluded from validation, so one missing variable produces one message.
func expandAll(c *Config, lookup func(string) (string, bool), p *problems) {
	expandField(&c.Store.SQLite, "store.sqlite", "write the path directly", lookup, p)
	expandField(&c.Store.Postgres, "store.postgres", "write the URL directly", lookup, p)
	expandField(&c.Redis.URL, "redis.url", "write the URL directly", lookup, p)
	expandField(&c.Accounting.SpoolDir, "accounting.spool_dir", "write the path directly", lookup, p)
	for i := range c.Providers {
		pr := &c.Providers[i]
		expandField(&pr.BaseURL, fmt.Sprintf("providers[%d].base_url", i), "write the URL directly", lookup, p)
		expandField(&pr.APIKey, fmt.Sprintf("providers[%d].api_key", i), "remove the provider", lookup, p)
	}
}

func expandField(s *string, path, alternative string, lookup func(string) (string, bool), p *problems) {
	v, errs := expandEnv(*s, lookup)
	if errs == nil {
		*s = v
		return
	}
	for _, err := range errs {
		if _, ok := err.(*missingVarError); ok {
			p.add(path, "%v; export it or %s", err, alternative)
		} else {
			p.add(path, "%v", err)
		}
	}
	p.skipPath(path)
}

// expandEnv replaces ${NAME} in s. It returns every problem in s, not just the first.
func expandEnv(s string, lookup func(string) (string, bool)) (string, []error) {
	var errs []error
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		switch {
		case s[i] != '$':
			out = append(out, s[i])
			i++
		case hasPrefixAt(s, i, "$${"):
			out = append(out, "${"...)
			i += 3
		case !hasPrefixAt(s, i, "${"):
			out = append(out, '$')
			i++
		default:
			end := indexByteFrom(s, i+2, '}')
			if end < 0 {
				errs = append(errs, errors.New(`unterminated "${" (close it with "}", or write "$${" for a literal "${")`))
				i = len(s)
				continue
			}
			name := s[i+2 : end]
			i = end + 1
			if !validEnvName(name) {
				errs = append(errs, fmt.Errorf(`invalid environment variable name %q in "${%s}" (use letters, digits and _; defaults such as ${VAR:-x} are not supported)`, name, name))
				continue
			}
			v, ok := lookup(name)
			if !ok || v == "" {
				errs = append(errs, &missingVarError{name: name, empty: ok})
				continue
			}
			out = append(out, v...)
		}
	}
	return string(out), errs
}

func hasPrefixAt(s string, i int, prefix string) bool {
	return len(s)-i >= len(prefix) && s[i:i+len(prefix)] == prefix
}

func indexByteFrom(s string, from int, c byte) int {
	for j := from; j < len(s); j++ {
		if s[j] == c {
			return j
		}
	}
	return -1
}

func validEnvName(name string) bool {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
