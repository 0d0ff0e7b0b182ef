package admin

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/arouter/arouter/apikey"
)

// Limits on what a key's fields may hold.
const (
	maxNameLen       = 200
	maxAllowedModels = 500
	pageSize         = 100
	// maxGracePeriod bounds how long a rotated-out key may stay valid.
	maxGracePeriod = 30 * 24 * time.Hour
)

// The fields POST /v1/keys accepts; PATCH also takes disabled.
var (
	createKeyFields = []string{"name", "limit", "limit_reset", "allowed_models", "expires_at", "include_byok_in_limit", "prompt_logging"}
	updateKeyFields = []string{"name", "disabled", "limit", "limit_reset", "allowed_models", "expires_at", "include_byok_in_limit", "prompt_logging"}
)

// ownKey serves GET /v1/key: an inference key reads its own object, so that an application can
// watch its budget before it runs out.
func (a *API) ownKey(ctx *fasthttp.RequestCtx) {
	token := bearerToken(ctx)
	switch {
	case token == "":
		newError(401, "missing API key: send Authorization: Bearer <inference key>").write(ctx)
		return
	case strings.HasPrefix(token, apikey.ManagementPrefix):
		newError(403, "GET /v1/key takes an inference key (sk-ar-v1-…); a management key reads keys with GET /v1/keys").write(ctx)
		return
	case !strings.HasPrefix(token, apikey.Prefix) || len(token) != apikey.TokenLen:
		newError(401, "invalid API key").write(ctx)
		return
	}
	now := a.now()
	k, err := a.keys.Lookup(context.Background(), apikey.HashToken([]byte(token)), now)
	if err != nil {
		if errors.Is(err, apikey.ErrNotFound) {
			newError(401, "invalid API key").write(ctx)
			return
		}
		a.log.Error("key lookup failed", zap.Error(err))
		errStore.write(ctx)
		return
	}
	if err := k.Usable(now); err != nil {
		newError(401, "%s", err.Error()).write(ctx)
		return
	}
	a.syncSpend(ctx, now, k.OrgID, k)
	writeJSON(ctx, 200, map[string]any{"data": currentKeyObject{keyObject: newKeyObject(k, a.ledger, now), RateLimit: noRateLimit}})
}

// currentKeyObject is GET /v1/key's answer: the key, plus the fields OpenRouter's current-key
// answer has that a key listing lacks, which OpenRouter's SDKs require. ARouter has no free
// tier and no per-key request rate limit; the key is an inference key.
type currentKeyObject struct {
	keyObject
	IsFreeTier        bool          `json:"is_free_tier"`
	IsManagementKey   bool          `json:"is_management_key"`
	IsProvisioningKey bool          `json:"is_provisioning_key"`
	RateLimit         rateLimitJSON `json:"rate_limit"`
}

type rateLimitJSON struct {
	Requests int    `json:"requests"`
	Interval string `json:"interval"`
	Note     string `json:"note"`
}

// noRateLimit is OpenRouter's deprecated rate_limit, filled in the way it writes "none".
var noRateLimit = rateLimitJSON{Requests: -1, Interval: "10s", Note: "ARouter does not rate-limit keys; this field is deprecated and safe to ignore."}

// keyQuery narrows key lookups to what the principal may see: every key of the organization
// for an admin, the member's own keys otherwise.
func (c *call) visible(k *apikey.Key) bool {
	return c.p.IsAdmin() || k.CreatorID == c.p.User.ID
}

func (c *call) listKeys() {
	args := c.ctx.QueryArgs()
	f := apikey.Filter{OrgID: c.p.Org.ID, Limit: pageSize}
	if !c.p.IsAdmin() {
		f.CreatorID = c.p.User.ID
	}
	if v := args.Peek("offset"); v != nil {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 0 {
			badField("offset", "must be a non-negative integer").write(c.ctx)
			return
		}
		f.Offset = n
	}
	if v := args.Peek("include_disabled"); v != nil {
		b, err := strconv.ParseBool(string(v))
		if err != nil {
			badField("include_disabled", "must be true or false").write(c.ctx)
			return
		}
		f.IncludeDisabled = b
	}
	keys, err := c.api.store.ListKeys(c.context(), f)
	if err != nil {
		c.fail(err, errKeyNotFound)
		return
	}
	now := c.api.now()
	c.api.syncSpend(c.context(), now, c.p.Org.ID, keys...)
	out := make([]keyObject, 0, len(keys))
	for _, k := range keys {
		out = append(out, newKeyObject(k, c.api.ledger, now))
	}
	writeJSON(c.ctx, 200, map[string]any{"data": out})
}

func (c *call) createKey() {
	f, e := decodeFields(c.ctx.PostBody(), createKeyFields...)
	if e != nil {
		e.write(c.ctx)
		return
	}
	if !f.has("name") {
		badField("name", "is required").write(c.ctx)
		return
	}
	now := c.api.now()
	k := &apikey.Key{OrgID: c.p.Org.ID, CreatorID: c.p.User.ID, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
	if e := c.api.applyKeyFields(k, f, now); e != nil {
		e.write(c.ctx)
		return
	}
	token, err := apikey.Generate()
	if err != nil {
		c.fail(err, nil)
		return
	}
	k.Hash, k.Label = apikey.HashToken([]byte(token)), apikey.Label(token)
	if err := c.api.store.InsertKey(c.context(), k); err != nil {
		c.fail(err, errKeyNotFound)
		return
	}
	c.api.log.Info("api key created", zap.String("label", k.Label), zap.Int64("org", k.OrgID), zap.Int64("by", c.p.User.ID))
	writeJSON(c.ctx, 201, map[string]any{"data": newKeyObject(k, c.api.ledger, now), "key": token})
}

// applyKeyFields validates every field sent and, only if all are valid, sets them on k, so a
// bad field leaves k (and the store) untouched.
func (a *API) applyKeyFields(k *apikey.Key, f fields, now time.Time) *apiError {
	next := *k
	if f.has("name") {
		name, e := f.str("name", maxNameLen)
		if e != nil {
			return e
		}
		next.Name = name
	}
	if f.has("disabled") {
		b, e := f.boolean("disabled")
		if e != nil {
			return e
		}
		next.Disabled = b
	}
	if f.has("limit") {
		if f.null("limit") {
			next.HasLimit, next.Limit = false, 0
		} else {
			v, e := f.usd("limit")
			if e != nil {
				return e
			}
			next.HasLimit, next.Limit = true, v
		}
	}
	if f.has("limit_reset") {
		p, e := f.period("limit_reset")
		if e != nil {
			return e
		}
		next.LimitReset = p
	}
	if f.has("allowed_models") {
		models, e := f.strings("allowed_models", maxAllowedModels)
		if e != nil {
			return e
		}
		if e := a.checkModels(models); e != nil {
			return e
		}
		next.AllowedModels = models
		if len(models) == 0 {
			next.AllowedModels = nil
		}
	}
	if f.has("expires_at") {
		t, e := f.futureTime("expires_at", now)
		if e != nil {
			return e
		}
		next.ExpiresAt = t
	}
	if f.has("include_byok_in_limit") {
		b, e := f.boolean("include_byok_in_limit")
		if e != nil {
			return e
		}
		next.IncludeBYOKInLimit = b
	}
	if f.has("prompt_logging") {
		b, e := f.boolean("prompt_logging")
		if e != nil {
			return e
		}
		// The key's own opt-in; its organization's applies too (LogPrompts, set by the store).
		next.PromptLogging = b
	}
	next.UpdatedAt = now.UTC()
	*k = next
	return nil
}

// checkModels requires every entry to name a served model, or to be a wildcard ("author/*")
// that matches at least one.
func (a *API) checkModels(patterns []string) *apiError {
	for _, p := range patterns {
		found := false
		for _, m := range a.cat.Models() {
			if apikey.MatchModel(p, m.ID) {
				found = true
				break
			}
		}
		if !found || p == "" {
			return badField("allowed_models", "%q matches no model this gateway serves; GET /v1/models lists them (wildcards such as \"openai/*\" are allowed)", p)
		}
	}
	return nil
}

// keyByHash parses a hash from the path and loads the key if the principal may see it.
func (c *call) keyByHash(s string) (*apikey.Key, bool) {
	h, err := apikey.ParseHash(s)
	if err != nil {
		errKeyNotFound.write(c.ctx)
		return nil, false
	}
	k, err := c.api.store.KeyInOrg(c.context(), h, c.p.Org.ID)
	if err != nil {
		c.fail(err, errKeyNotFound)
		return nil, false
	}
	if !c.visible(k) {
		errKeyNotFound.write(c.ctx)
		return nil, false
	}
	return k, true
}

func (c *call) getKey(hash string) {
	k, ok := c.keyByHash(hash)
	if !ok {
		return
	}
	now := c.api.now()
	c.api.syncSpend(c.context(), now, k.OrgID, k)
	writeJSON(c.ctx, 200, map[string]any{"data": newKeyObject(k, c.api.ledger, now)})
}

func (c *call) updateKey(hash string) {
	f, e := decodeFields(c.ctx.PostBody(), updateKeyFields...)
	if e != nil {
		e.write(c.ctx)
		return
	}
	if len(f) == 0 {
		newError(400, "nothing to change: send at least one of %s", strings.Join(updateKeyFields, ", ")).write(c.ctx)
		return
	}
	k, ok := c.keyByHash(hash)
	if !ok {
		return
	}
	now := c.api.now()
	updated, err := c.api.store.UpdateKey(c.context(), k.Hash, c.p.Org.ID, func(k *apikey.Key) error {
		if e := c.api.applyKeyFields(k, f, now); e != nil {
			return e
		}
		return nil
	})
	if err != nil {
		c.fail(err, errKeyNotFound)
		return
	}
	c.api.cache.Invalidate(updated.Hash)
	writeJSON(c.ctx, 200, map[string]any{"data": newKeyObject(updated, c.api.ledger, now)})
}

func (c *call) deleteKey(hash string) {
	k, ok := c.keyByHash(hash)
	if !ok {
		return
	}
	if err := c.api.store.DeleteKey(c.context(), k.Hash, c.p.Org.ID); err != nil {
		c.fail(err, errKeyNotFound)
		return
	}
	c.api.cache.Invalidate(k.Hash)
	c.api.log.Info("api key deleted", zap.String("label", k.Label), zap.Int64("org", k.OrgID), zap.Int64("by", c.p.User.ID))
	writeJSON(c.ctx, 200, map[string]any{"deleted": true})
}

// rotateKey serves POST /v1/keys/{hash}/rotate: a new token with the key's settings and budget,
// while the old token stays valid until old_key_expires_at (default: now).
func (c *call) rotateKey(hash string) {
	f, e := decodeFields(c.ctx.PostBody(), "old_key_expires_at")
	if e != nil {
		e.write(c.ctx)
		return
	}
	old, ok := c.keyByHash(hash)
	if !ok {
		return
	}
	now := c.api.now()
	if !old.ExpiresAt.IsZero() && !old.ExpiresAt.After(now) {
		// Its successor would inherit the expiry, and be refused from its first request.
		errKeyExpired.write(c.ctx)
		return
	}
	oldExpires := now.UTC()
	if f.has("old_key_expires_at") && !f.null("old_key_expires_at") {
		t, e := f.futureTime("old_key_expires_at", now)
		if e != nil {
			e.write(c.ctx)
			return
		}
		if t.Sub(now) > maxGracePeriod {
			badField("old_key_expires_at", "a grace period may last at most 30 days").write(c.ctx)
			return
		}
		oldExpires = t
	}
	token, err := apikey.Generate()
	if err != nil {
		c.fail(err, nil)
		return
	}
	next := *old
	next.ID = 0
	next.Hash, next.Label = apikey.HashToken([]byte(token)), apikey.Label(token)
	next.CreatedAt, next.UpdatedAt = now.UTC(), now.UTC()
	prev, err := c.api.store.RotateKey(c.context(), old.Hash, c.p.Org.ID, &next, oldExpires)
	if err != nil {
		c.fail(err, errKeyNotFound)
		return
	}
	c.api.cache.Invalidate(old.Hash)
	c.api.log.Info("api key rotated", zap.String("old", old.Label), zap.String("new", next.Label),
		zap.Time("old_valid_until", oldExpires), zap.Int64("by", c.p.User.ID))
	writeJSON(c.ctx, 201, map[string]any{
		"data":     newKeyObject(&next, c.api.ledger, now),
		"key":      token,
		"previous": newKeyObject(prev, c.api.ledger, now),
	})
}

// writeJSON answers with v encoded as JSON.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		newError(500, "encode response: %v", err).write(ctx)
		return
	}
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.SetBodyRaw(b)
}
