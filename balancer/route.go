package balancer

import (
	"fmt"

	"github.com/arouter/arouter/catalog"
)

// Sort names a request's ranking of providers, OpenRouter's provider.sort.
type Sort uint8

const (
	SortNone       Sort = iota // the model's policy decides
	SortPrice                  // cheapest first
	SortLatency                // lowest recent median time to first byte first
	SortThroughput             // highest recent median tokens per second first
)

var sortNames = [...]string{SortNone: "", SortPrice: "price", SortLatency: "latency", SortThroughput: "throughput"}

// String returns the sort as a request spells it ("" for SortNone).
func (s Sort) String() string {
	if int(s) < len(sortNames) {
		return sortNames[s]
	}
	return fmt.Sprintf("Sort(%d)", uint8(s))
}

// ParseSort reads provider.sort; ok is false for anything but "price", "latency" and
// "throughput" (and "", SortNone). It does not allocate.
func ParseSort(b []byte) (s Sort, ok bool) {
	for i, name := range sortNames {
		if string(b) == name {
			return Sort(i), true
		}
	}
	return SortNone, false
}

// Route is a request's provider preferences, OpenRouter's provider object, applied on top of
// the model's policy. The zero value changes nothing. Providers are named by catalog provider
// id (catalog.Catalog.Provider turns a request's bytes into one without allocating); a name no
// deployment of the model uses matches nothing.
type Route struct {
	// Order lists providers to try first, in this order; the model's other deployments follow,
	// ranked by Sort or the model's policy, unless NoFallbacks is set.
	Order []string
	// Only, if not empty, restricts the request to these providers.
	Only []string
	// Ignore excludes these providers.
	Ignore []string
	// NoFallbacks is allow_fallbacks: false. With Order, only the providers in Order are
	// tried; without, only the first eligible choice is, and no other after it fails. It is
	// inverted from OpenRouter's field so that the zero Route allows fallbacks, as OpenRouter's
	// default does.
	NoFallbacks bool
	// Sort replaces the model's policy for ranking the deployments not in Order.
	Sort Sort
}

// singleShot reports whether r allows only one attempt on a model.
func (r *Route) singleShot() bool { return r != nil && r.NoFallbacks && len(r.Order) == 0 }

// rank returns the group of a provider under r: its index in Order, or len(Order) for the
// unordered rest; ok is false when r excludes the provider. A nil Route admits everything into
// one group.
func (r *Route) rank(provider string) (rank int, ok bool) {
	if r == nil {
		return 0, true
	}
	if len(r.Only) > 0 && !contains(r.Only, provider) {
		return 0, false
	}
	if contains(r.Ignore, provider) {
		return 0, false
	}
	for i, p := range r.Order {
		if p == provider {
			return i, true
		}
	}
	if r.NoFallbacks && len(r.Order) > 0 {
		return 0, false
	}
	return len(r.Order), true
}

// rest returns the rank of the unordered group.
func (r *Route) rest() int {
	if r == nil {
		return 0
	}
	return len(r.Order)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ranking is how the deployments of one group are compared.
type ranking uint8

const (
	byPosition   ranking = iota // configuration order
	byWeight                    // random draw in proportion to weight
	byLatency                   // median TTFB, unmeasured first
	byPrice                     // model price, then configuration order
	byThroughput                // median tokens per second, unmeasured first
)

// rankingFor resolves the ranking of m's unordered deployments under r.
func rankingFor(m *catalog.Model, r *Route) ranking {
	if r != nil {
		switch r.Sort {
		case SortPrice:
			return byPrice
		case SortLatency:
			return byLatency
		case SortThroughput:
			return byThroughput
		}
	}
	switch m.Policy {
	case catalog.PolicyWeighted:
		return byWeight
	case catalog.PolicyLatency:
		return byLatency
	case catalog.PolicyPrice:
		return byPrice
	}
	return byPosition
}
