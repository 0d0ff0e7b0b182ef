// Package admin serves the Management API: organizations and their members, management keys,
// inference keys (OpenRouter-compatible shapes under /v1/keys), credits and organizations'
// own provider keys (BYOK, /v1/byok). It runs beside the
// inference endpoints on the same listener but off their hot path: each call reads the store.
//
// Every call is authorised from its principal (the user and context its management key
// names) and the principal's current role. Rows of another organization are reported as not
// found, never as forbidden, so that nobody learns what exists outside their organization.
package admin

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/tenancy"
)

// KeyLookup resolves inference tokens, for GET /v1/key. cachekeys.Cache implements it.
type KeyLookup interface {
	Lookup(ctx context.Context, h apikey.Hash, now time.Time) (*apikey.Key, error)
}

// KeyInvalidator drops a key from the gateway's key cache, so that a change (disable,
// delete, a new limit) applies to the next request instead of the next refresh.
// cachekeys.Cache implements it.
type KeyInvalidator interface {
	Invalidate(h apikey.Hash)
}

// BYOKReloader rereads organizations' provider credentials, so that a change applies to the
// next request instead of the next periodic reload. byok.Cache implements it.
type BYOKReloader interface {
	Reload(ctx context.Context) error
}

// Options wire an API. Store, Ledger, Keys, Cache and Catalog are required.
type Options struct {
	Store   Store
	Ledger  *budget.Ledger
	Keys    KeyLookup
	Cache   KeyInvalidator
	Catalog *catalog.Catalog
	// Providers are the configured provider ids: the providers a BYOK credential may name.
	Providers []string
	// Sealer encrypts BYOK credentials; nil when no master key is configured, in which case
	// storing one answers 503 (listing and deleting still work).
	Sealer *byok.Sealer
	// BYOK is reloaded after every credential change; nil when nothing in this process
	// holds credentials (the CLI working on the store directly).
	BYOK BYOKReloader
	// Recent and Generations serve GET /v1/generation: records from memory first (they may
	// not be stored yet), then from the store. Without them the endpoint answers 404.
	Recent      RecentRecords
	Generations GenerationStore
	Logger      *zap.Logger
	Now         func() time.Time // for tests; default time.Now
}

// API is the Management API. It is safe for concurrent use.
type API struct {
	store     Store
	ledger    *budget.Ledger
	keys      KeyLookup
	cache     KeyInvalidator
	cat       *catalog.Catalog
	providers []string
	sealer    *byok.Sealer
	byok      BYOKReloader
	recent    RecentRecords
	gen       GenerationStore
	log       *zap.Logger
	now       func() time.Time
}

// New builds the API.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &API{store: o.Store, ledger: o.Ledger, keys: o.Keys, cache: o.Cache, cat: o.Catalog,
		providers: slices.Clone(o.Providers), sealer: o.Sealer, byok: o.BYOK, recent: o.Recent, gen: o.Generations,
		log: o.Logger, now: o.Now}
}

// Handles reports whether path belongs to the Management API.
func (a *API) Handles(path []byte) bool {
	p := string(path)
	for _, prefix := range []string{"/v1/key", "/v1/keys", "/v1/credits", "/v1/orgs", "/v1/management-keys", "/v1/me", "/v1/generation", "/v1/byok", "/v1/activity", "/v1/invitations"} {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return true
		}
	}
	return false
}

// Handle serves one Management API request.
func (a *API) Handle(ctx *fasthttp.RequestCtx) {
	path := strings.TrimSuffix(string(ctx.Path()), "/")
	parts := strings.Split(strings.TrimPrefix(path, "/v1/"), "/")
	method := string(ctx.Method())

	if parts[0] == "generation" && len(parts) == 1 {
		a.generation(ctx)
		return
	}
	if parts[0] == "key" && len(parts) == 1 {
		if method != fasthttp.MethodGet {
			methodNotAllowed(ctx, "GET")
			return
		}
		a.ownKey(ctx)
		return
	}
	if parts[0] == "invitations" { // the one endpoint a new account calls before it has a key
		a.invitations(ctx, parts)
		return
	}
	p, e := a.authenticate(ctx)
	if e != nil {
		e.write(ctx)
		return
	}
	a.serve(ctx, p)
}

func (a *API) serve(ctx *fasthttp.RequestCtx, p *tenancy.Principal) {
	path := strings.TrimSuffix(string(ctx.Path()), "/")
	parts := strings.Split(strings.TrimPrefix(path, "/v1/"), "/")
	method := string(ctx.Method())
	c := &call{ctx: ctx, p: p, api: a}
	switch {
	case parts[0] == "me" && len(parts) == 1:
		route(c, method, map[string]func(*call){"GET": (*call).me})
	case parts[0] == "keys" && len(parts) == 1:
		route(c, method, map[string]func(*call){"GET": (*call).listKeys, "POST": (*call).createKey})
	case parts[0] == "keys" && len(parts) == 2:
		route(c, method, map[string]func(*call){
			"GET":    func(c *call) { c.getKey(parts[1]) },
			"PATCH":  func(c *call) { c.updateKey(parts[1]) },
			"DELETE": func(c *call) { c.deleteKey(parts[1]) },
		})
	case parts[0] == "keys" && len(parts) == 3 && parts[2] == "rotate":
		route(c, method, map[string]func(*call){"POST": func(c *call) { c.rotateKey(parts[1]) }})
	case parts[0] == "credits" && len(parts) == 1:
		route(c, method, map[string]func(*call){"GET": (*call).getCredits, "POST": (*call).addCredits})
	case parts[0] == "orgs" && len(parts) == 1:
		route(c, method, map[string]func(*call){"GET": (*call).listOrgs, "POST": (*call).createOrg})
	case parts[0] == "orgs" && len(parts) == 2:
		route(c, method, map[string]func(*call){
			"GET":   func(c *call) { c.getOrg(parts[1]) },
			"PATCH": func(c *call) { c.updateOrg(parts[1]) },
		})
	case parts[0] == "generation" && len(parts) == 2 && parts[1] == "content":
		route(c, method, map[string]func(*call){"GET": (*call).generationContent})
	case parts[0] == "orgs" && len(parts) == 3 && parts[2] == "members":
		route(c, method, map[string]func(*call){
			"GET":  func(c *call) { c.listMembers(parts[1]) },
			"POST": func(c *call) { c.addMember(parts[1]) },
		})
	case parts[0] == "orgs" && len(parts) == 4 && parts[2] == "members":
		route(c, method, map[string]func(*call){
			"PATCH":  func(c *call) { c.setRole(parts[1], parts[3]) },
			"DELETE": func(c *call) { c.removeMember(parts[1], parts[3]) },
		})
	case parts[0] == "orgs" && len(parts) == 5 && parts[2] == "members" && parts[4] == "invitation":
		route(c, method, map[string]func(*call){"POST": func(c *call) { c.reinviteMember(parts[1], parts[3]) }})
	case parts[0] == "management-keys" && len(parts) == 1:
		route(c, method, map[string]func(*call){"GET": (*call).listManagementKeys, "POST": (*call).createManagementKey})
	case parts[0] == "management-keys" && len(parts) == 2:
		route(c, method, map[string]func(*call){"DELETE": func(c *call) { c.deleteManagementKey(parts[1]) }})
	case parts[0] == "byok" && len(parts) == 1:
		route(c, method, map[string]func(*call){"GET": (*call).listBYOK, "POST": (*call).createBYOK})
	case parts[0] == "byok" && len(parts) == 2:
		route(c, method, map[string]func(*call){"DELETE": func(c *call) { c.deleteBYOK(parts[1]) }})
	case parts[0] == "activity" && len(parts) == 1:
		route(c, method, map[string]func(*call){"GET": (*call).getActivity})
	case parts[0] == "activity" && len(parts) == 2 && parts[1] == "export":
		route(c, method, map[string]func(*call){"GET": (*call).exportActivity})
	case parts[0] == "invitations" && len(parts) == 2 && parts[1] == "redeem": // reached through ServeAs only
		route(c, method, map[string]func(*call){"POST": (*call).redeemInvitation})
	default:
		errNoEndpoint.write(ctx)
	}
}

// ServeAs serves a request as p without authenticating it. It is for the local CLI, whose
// right to act as the instance admin comes from write access to the store itself.
func (a *API) ServeAs(ctx *fasthttp.RequestCtx, p *tenancy.Principal) {
	a.serve(ctx, p)
}

// route calls the handler registered for method, or answers 405 naming the allowed ones.
func route(c *call, method string, handlers map[string]func(*call)) {
	if h, ok := handlers[method]; ok {
		h(c)
		return
	}
	allowed := make([]string, 0, len(handlers))
	for _, m := range []string{"GET", "POST", "PATCH", "DELETE"} {
		if _, ok := handlers[m]; ok {
			allowed = append(allowed, m)
		}
	}
	methodNotAllowed(c.ctx, strings.Join(allowed, ", "))
}
