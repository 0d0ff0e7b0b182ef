package config

import (
	"sort"
	"strings"

	"github.com/arouter/arouter/money"
	"gopkg.in/yaml.v3"
)

// UnmarshalYAML reads prices written in USD per million tokens ("0.15" or 0.15) from the
// scalar's source text with money.ParseUSD, so a price is exactly what the file says: going
// through float64 would turn 0.15 into 0.1499999... and bill every request slightly wrong.
// Absent (or null) prices are left at zero; Parse knows which were absent and applies the
// required-field checks and cache-price defaults.
func (p *Pricing) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return nodeError(n, "expected a mapping of prices in USD per million tokens, e.g. {prompt: 0.15, completion: 0.60}")
	}
	// Decoding into a map (rather than walking n.Content) gets merge keys and duplicate-key
	// detection from yaml itself.
	var fields map[string]yaml.Node
	if err := n.Decode(&fields); err != nil {
		return err
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic error order

	var errs []string
	for _, name := range names {
		v := fields[name]
		var dst *money.PricePerMillion
		switch name {
		case "prompt":
			dst = &p.Prompt
		case "completion":
			dst = &p.Completion
		case "cache_read":
			dst = &p.CacheRead
		case "cache_write":
			dst = &p.CacheWrite
		default:
			errs = append(errs, nodeError(&v, "%s", unknownField(name, fieldNames(structTypes["config.Pricing"]))).Errors...)
			continue
		}
		price, err := parsePrice(&v)
		if err != nil {
			errs = append(errs, err.Errors...)
			continue
		}
		*dst = price
	}
	if errs != nil {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// parsePrice reads one price; null yields 0 (treated as absent by Parse).
func parsePrice(n *yaml.Node) (money.PricePerMillion, *yaml.TypeError) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	const hint = "write USD per million tokens as a plain decimal, e.g. 0.15"
	switch {
	case n.ShortTag() == "!!null":
		return 0, nil
	case n.Kind != yaml.ScalarNode:
		return 0, nodeError(n, "expected a price, got a %s; %s", kindName(n.Kind), hint)
	}
	switch n.ShortTag() {
	case "!!int", "!!float", "!!str":
	default:
		return 0, nodeError(n, "invalid price %q; %s", n.Value, hint)
	}
	nanos, err := money.ParseUSD(strings.TrimSpace(n.Value))
	if err != nil {
		return 0, nodeError(n, "invalid price %q (%v); %s", n.Value, err, hint)
	}
	// ParseUSD gives nano-USD for the amount written, and the amount written is per million
	// tokens, so the number is already nano-USD per million tokens.
	return money.PricePerMillion(nanos), nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	}
	return "non-scalar"
}

// UnmarshalYAML reads a USD amount exactly, like a price.
func (u *USD) UnmarshalYAML(n *yaml.Node) error {
	v, err := parsePrice(n)
	if err != nil {
		return err
	}
	*u = USD(v)
	return nil
}
