package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// pricePresence records which prices a model's YAML actually sets. Pricing alone cannot tell
// "absent" from "0", yet a free model may write prompt: 0 while a forgotten price must be an
// error and an absent cache price defaults to the prompt price.
type pricePresence struct {
	pricing, prompt, completion, cacheRead, cacheWrite bool
}

// presenceShadow is decoded (leniently) from the same document as Config. Its yaml.Node fields
// are filled only for keys that exist, and merge keys and aliases resolve exactly as they do for
// the real decode.
type presenceShadow struct {
	Models []struct {
		Pricing *struct {
			Prompt     yaml.Node `yaml:"prompt"`
			Completion yaml.Node `yaml:"completion"`
			CacheRead  yaml.Node `yaml:"cache_read"`
			CacheWrite yaml.Node `yaml:"cache_write"`
		} `yaml:"pricing"`
	} `yaml:"models"`
}

// decode turns YAML into a Config, rejecting unknown keys and wrongly typed values. All such
// problems are reported together, each with the file, line and field path.
func decode(data []byte, source string) (*Config, []pricePresence, error) {
	// The node tree maps yaml's line-numbered messages back to field paths.
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, syntaxError(source, err)
	}
	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(cfg); {
	case err == io.EOF:
		return cfg, nil, nil // empty file: validation explains what is missing
	case err != nil:
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, nil, rewriteTypeErrors(source, &root, te.Errors)
		}
		return nil, nil, syntaxError(source, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, nil, syntaxError(source, err)
		}
		return nil, nil, fmt.Errorf("%s:%d: a second YAML document starts here; a configuration is a single document", source, extra.Line)
	}

	var shadow presenceShadow
	_ = root.Decode(&shadow) // the strict decode above already rejected anything malformed
	pres := make([]pricePresence, len(shadow.Models))
	for i, m := range shadow.Models {
		if m.Pricing == nil {
			continue
		}
		pres[i] = pricePresence{
			pricing:    true,
			prompt:     isSet(&m.Pricing.Prompt),
			completion: isSet(&m.Pricing.Completion),
			cacheRead:  isSet(&m.Pricing.CacheRead),
			cacheWrite: isSet(&m.Pricing.CacheWrite),
		}
	}
	return cfg, pres, nil
}

// isSet reports whether a key was present with a non-null value; "prompt:" with nothing after it
// counts as absent, as it does for every other field.
func isSet(n *yaml.Node) bool {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n.Kind != 0 && n.ShortTag() != "!!null"
}

var syntaxLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxError(source string, err error) error {
	msg := err.Error()
	if m := syntaxLineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: invalid YAML: %s", source, m[1], m[2])
	}
	return fmt.Errorf("%s: invalid YAML: %s", source, strings.TrimPrefix(msg, "yaml: "))
}

// nodeError builds the error our own UnmarshalYAML methods return. A *yaml.TypeError lets yaml
// keep decoding (so every problem is collected) and the "line: column:" prefix lets
// rewriteTypeErrors find the field path exactly.
func nodeError(n *yaml.Node, format string, args ...any) *yaml.TypeError {
	return &yaml.TypeError{Errors: []string{
		fmt.Sprintf("line %d: column %d: %s", n.Line, n.Column, fmt.Sprintf(format, args...)),
	}}
}

// site is one field or list item of the document, with its path.
type site struct {
	path string
	key  *yaml.Node // nil for list items and the document itself
	val  *yaml.Node
}

func collectSites(n *yaml.Node, path string, out []site) []site {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			out = append(out, site{path: path, val: c})
			out = collectSites(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			out = append(out, site{path: p, key: k, val: v})
			out = collectSites(v, p, out)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out = append(out, site{path: p, val: v})
			out = collectSites(v, p, out)
		}
	}
	return out
}

var (
	lineRE      = regexp.MustCompile(`^line (\d+): (.*)$`)
	columnRE    = regexp.MustCompile(`^column (\d+): (.*)$`)
	unknownRE   = regexp.MustCompile(`^field (.+) not found in type (\S+)$`)
	twiceRE     = regexp.MustCompile(`^mapping key (".*") already defined at line (\d+)$`)
	setTwiceRE  = regexp.MustCompile(`^field (.+) already set in type (\S+)$`)
	unmarshalRE = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
)

// rewriteTypeErrors turns yaml's "line 7: field bse_url not found in type config.Provider" into
// "arouter.yaml:7: providers[0].bse_url: unknown field "bse_url"; did you mean "base_url"? ...".
func rewriteTypeErrors(source string, root *yaml.Node, msgs []string) error {
	sites := collectSites(root, "", nil)
	errs := make([]error, 0, len(msgs))
	for _, msg := range msgs {
		errs = append(errs, errors.New(rewriteTypeError(source, sites, msg)))
	}
	return errors.Join(errs...)
}

func rewriteTypeError(source string, sites []site, msg string) string {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return source + ": " + msg
	}
	line, _ := strconv.Atoi(m[1])
	rest := m[2]
	path, text := "", rest
	switch {
	case columnRE.MatchString(rest):
		c := columnRE.FindStringSubmatch(rest)
		col, _ := strconv.Atoi(c[1])
		path, text = pathAt(sites, line, col), c[2]
	case unknownRE.MatchString(rest):
		u := unknownRE.FindStringSubmatch(rest)
		path = pathOfKey(sites, line, u[1])
		text = unknownField(u[1], fieldNames(structTypes[u[2]]))
	case twiceRE.MatchString(rest):
		t := twiceRE.FindStringSubmatch(rest)
		key, err := strconv.Unquote(t[1])
		if err != nil {
			key = t[1]
		}
		path = pathOfKey(sites, line, key)
		text = fmt.Sprintf("set twice (first at line %s); keep one", t[2])
	case setTwiceRE.MatchString(rest):
		t := setTwiceRE.FindStringSubmatch(rest)
		path = pathOfKey(sites, line, t[1])
		text = "set twice; keep one"
	case unmarshalRE.MatchString(rest):
		u := unmarshalRE.FindStringSubmatch(rest)
		path = pathOfValue(sites, line, u[1], u[2])
		text = fmt.Sprintf("expected %s, got %s", describeGoType(u[3]), describeYAML(u[1], u[2]))
	}
	if path == "" {
		return fmt.Sprintf("%s:%d: %s", source, line, text)
	}
	return fmt.Sprintf("%s:%d: %s: %s", source, line, path, text)
}

func pathAt(sites []site, line, col int) string {
	for _, s := range sites {
		if s.key != nil && s.key.Line == line && s.key.Column == col {
			return s.path
		}
	}
	for _, s := range sites {
		if s.val.Line == line && s.val.Column == col {
			return s.path
		}
	}
	return ""
}

func pathOfKey(sites []site, line int, name string) string {
	for _, s := range sites {
		if s.key != nil && s.key.Line == line && s.key.Value == name {
			return s.path
		}
	}
	return ""
}

// pathOfValue finds the value yaml complained about from its line, tag and (possibly
// truncated) text; if several values on the line match it gives up rather than guess.
func pathOfValue(sites []site, line int, tag, shown string) string {
	found := ""
	for _, s := range sites {
		v := s.val // yaml reports an alias's problems at the anchor, which is also a site
		if v.Line != line || v.ShortTag() != tag {
			continue
		}
		if v.Kind == yaml.ScalarNode && v.Value != shown &&
			!(strings.HasSuffix(shown, "...") && strings.HasPrefix(v.Value, strings.TrimSuffix(shown, "..."))) {
			continue
		}
		if found != "" && found != s.path {
			return ""
		}
		found = s.path
	}
	return found
}

// structTypes lets unknown-field errors list the fields that are valid where the typo is.
var structTypes = map[string]reflect.Type{}

func init() {
	for _, v := range []any{Config{}, Store{}, Redis{}, Server{}, Keys{}, Accounting{}, Streaming{},
		Limits{}, Routing{}, BYOK{}, Retention{}, Breaker{}, HealthRules{}, Probes{}, Sticky{}, Bootstrap{}, Provider{}, Mock{}, Model{}, Pricing{}, Deployment{}} {
		t := reflect.TypeOf(v)
		structTypes[t.String()] = t
	}
}

func fieldNames(t reflect.Type) []string {
	if t == nil {
		return nil
	}
	names := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// unknownField explains a misspelt key, suggesting the closest valid one.
func unknownField(name string, valid []string) string {
	msg := fmt.Sprintf("unknown field %q", name)
	best, bestDist := "", len(name)/2+1
	for _, v := range valid {
		if d := editDistance(strings.ToLower(name), v); d < bestDist {
			best, bestDist = v, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	if len(valid) > 0 {
		msg += " (valid fields here: " + strings.Join(valid, ", ") + ")"
	}
	return msg
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func describeGoType(t string) string {
	switch {
	case t == "time.Duration":
		return `a duration with a unit, such as "30s", "500ms" or "10m"`
	case strings.HasPrefix(t, "int"):
		return "a whole number"
	case t == "string":
		return "a string"
	case t == "config.Config":
		return "a mapping of settings (listen:, providers:, models:, ...)"
	case strings.HasPrefix(t, "[]config."):
		return "a list of " + strings.ToLower(strings.TrimPrefix(t, "[]config.")) + "s"
	case strings.HasPrefix(t, "config.") || strings.HasPrefix(t, "*config."):
		if names := fieldNames(structTypes[strings.TrimPrefix(t, "*")]); names != nil {
			return "a mapping with keys " + strings.Join(names, ", ")
		}
	}
	return t
}

func describeYAML(tag, value string) string {
	switch tag {
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	case "!!null":
		return "null"
	case "!!str":
		return strconv.Quote(value)
	}
	return value
}
