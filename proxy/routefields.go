package proxy

import (
	"bytes"
	"strconv"

	"github.com/arouter/arouter/balancer"
	"github.com/arouter/arouter/catalog"
)

// This file reads OpenRouter's routing fields from a request: "models" (models to fall back
// to, in order), "route" ("fallback") and the "provider" object (order, only, ignore,
// allow_fallbacks, sort). They are ARouter's, not the provider's, so they are stripped from
// the body sent upstream; OpenAI refuses unknown fields.

// Limits on routing fields. Lists longer than these are refused, not truncated.
const (
	maxFallbackModels = 8
	maxRouteProviders = 8
)

// routeFields is where the routing fields sit in the body. Values point into the body; they
// are resolved against the catalog in chat, where the balancer.Route they make lives on the
// stack (a Route pointing into chatRequest's own arrays would make the request escape).
type routeFields struct {
	models         [maxFallbackModels][]byte
	nModels        int
	order, only    [maxRouteProviders][]byte
	ignore         [maxRouteProviders][]byte
	nOrder, nOnly  int
	nIgnore        int
	noFallbacks    bool
	sort           balancer.Sort
	haveModels     bool
	haveRoute      bool
	haveProvider   bool
	haveUsageField bool
}

var (
	keyModels   = []byte("models")
	keyRoute    = []byte("route")
	keyProvider = []byte("provider")
	// "usage": {"include": true} is how OpenRouter clients ask for usage; ARouter always
	// reports it, and OpenAI would refuse the field.
	keyUsage = []byte("usage")

	litFallback = []byte(`"fallback"`)
)

func badRouting(field, msg string) *apiError {
	return newAPIError(400, `"`+field+`" `+msg, map[string]string{"field": field})
}

// parseModels reads "models": an array of model ids, tried in order after "model".
func (f *routeFields) parseModels(v []byte) *apiError {
	if bytes.Equal(v, litNull) {
		return nil
	}
	it, ok := newArrayIter(v)
	if !ok {
		return badRouting("models", "must be an array of model ids")
	}
	for {
		vs, ve, ok := it.next()
		if !ok {
			break
		}
		if v[vs] != '"' || ve-vs < 3 {
			return badRouting("models", "must be an array of model ids")
		}
		if f.nModels == maxFallbackModels {
			return badRouting("models", "may list at most "+strconv.Itoa(maxFallbackModels)+" models")
		}
		f.models[f.nModels] = v[vs+1 : ve-1]
		f.nModels++
	}
	if it.failed() {
		return badRouting("models", "must be an array of model ids")
	}
	return nil
}

// parseRoute reads "route": only "fallback" (the behaviour of "models" anyway) or null.
func (f *routeFields) parseRoute(v []byte) *apiError {
	if bytes.Equal(v, litFallback) || bytes.Equal(v, litNull) {
		return nil
	}
	return badRouting("route", `must be "fallback"`)
}

var (
	keyOrder          = []byte("order")
	keyOnly           = []byte("only")
	keyIgnore         = []byte("ignore")
	keyAllowFallbacks = []byte("allow_fallbacks")
	keySort           = []byte("sort")
)

// parseProvider reads the "provider" object. Fields ARouter does not implement are refused
// rather than ignored: a client asking for, say, a price cap must not be served without one.
func (f *routeFields) parseProvider(v []byte) *apiError {
	if bytes.Equal(v, litNull) {
		return nil
	}
	it, ok := newObjectIter(v)
	if !ok {
		return badRouting("provider", "must be an object")
	}
	for {
		key, _, vs, ve, ok := it.next()
		if !ok {
			break
		}
		val := v[vs:ve]
		switch {
		case bytes.Equal(key, keyOrder):
			if !readNames(val, &f.order, &f.nOrder) {
				return badRouting("provider.order", "must be an array of at most 8 provider ids")
			}
		case bytes.Equal(key, keyOnly):
			if !readNames(val, &f.only, &f.nOnly) {
				return badRouting("provider.only", "must be an array of at most 8 provider ids")
			}
		case bytes.Equal(key, keyIgnore):
			if !readNames(val, &f.ignore, &f.nIgnore) {
				return badRouting("provider.ignore", "must be an array of at most 8 provider ids")
			}
		case bytes.Equal(key, keyAllowFallbacks):
			switch {
			case bytes.Equal(val, litFalse):
				f.noFallbacks = true
			case bytes.Equal(val, litTrue), bytes.Equal(val, litNull):
			default:
				return badRouting("provider.allow_fallbacks", "must be true or false")
			}
		case bytes.Equal(key, keySort):
			if bytes.Equal(val, litNull) {
				continue
			}
			s, ok := balancer.ParseSort(unquote(val))
			if !ok || len(val) < 2 || val[0] != '"' {
				return badRouting("provider.sort", `must be "price", "latency" or "throughput"`)
			}
			f.sort = s
		default:
			return badRouting("provider."+string(key), "is not supported by ARouter; supported: order, only, ignore, allow_fallbacks, sort")
		}
	}
	if it.failed() {
		return badRouting("provider", "must be an object")
	}
	return nil
}

// readNames reads an array of strings into dst.
func readNames(v []byte, dst *[maxRouteProviders][]byte, n *int) bool {
	*n = 0
	it, ok := newArrayIter(v)
	if !ok {
		return false
	}
	for {
		vs, ve, ok := it.next()
		if !ok {
			break
		}
		if v[vs] != '"' || *n == maxRouteProviders {
			return false
		}
		dst[*n] = v[vs+1 : ve-1]
		*n++
	}
	return !it.failed()
}

func unquote(v []byte) []byte {
	if len(v) >= 2 && v[0] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// noSuchProvider stands for a provider name the catalog does not know: it matches no
// deployment, so "only": ["typo"] serves nothing rather than everything.
const noSuchProvider = "\x00unknown provider"

// resolveNames turns provider names into catalog ids in dst (backed by the caller's array).
func resolveNames(c *catalog.Catalog, names [][]byte, dst []string) []string {
	for _, n := range names {
		id := c.Provider(n)
		if id == "" {
			id = noSuchProvider
		}
		dst = append(dst, id)
	}
	return dst
}
