package admin

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/tenancy"
)

// Bounds on a provider key as POST /v1/byok accepts it. Real keys are 20 to a few hundred
// characters; 4096 leaves room for JWT-style tokens without letting a body fill the store.
const (
	minBYOKKeyLen = 8
	maxBYOKKeyLen = 4096
	maxBYOKName   = 100
)

var (
	errBYOKNotFound = newError(404, "no such provider key in this organization; GET /v1/byok lists them")
	errNoMasterKey  = newError(503, "%s, then restart the gateway", byok.ErrNoMasterKey.Error())
)

// byokObject is a provider credential on the wire: never its key, only a label.
type byokObject struct {
	ID        int64    `json:"id"`
	Provider  string   `json:"provider"`
	Label     string   `json:"label"`
	Mode      string   `json:"mode"`
	CreatedAt timeJSON `json:"created_at"`
}

func newBYOKObject(c *byok.SealedCredential) byokObject {
	return byokObject{ID: c.ID, Provider: c.Provider, Label: c.Label, Mode: string(c.Mode), CreatedAt: timeJSON(c.CreatedAt)}
}

// listBYOK serves GET /v1/byok (admins): the organization's provider keys, by label.
func (c *call) listBYOK() {
	if !c.requireAdmin() {
		return
	}
	creds, err := c.api.store.ListBYOK(c.context(), c.p.Org.ID)
	if err != nil {
		c.fail(err, errBYOKNotFound)
		return
	}
	out := make([]byokObject, 0, len(creds))
	for i := range creds {
		out = append(out, newBYOKObject(&creds[i]))
	}
	writeJSON(c.ctx, 200, map[string]any{"data": out})
}

// createBYOK serves POST /v1/byok {provider, key, mode?, name?} (admins): stores the
// organization's own key for a provider, sealed under the master key.
func (c *call) createBYOK() {
	if !c.requireAdmin() {
		return
	}
	if c.api.sealer == nil {
		errNoMasterKey.write(c.ctx)
		return
	}
	f, e := decodeFields(c.ctx.PostBody(), "provider", "key", "mode", "name")
	if e != nil {
		e.write(c.ctx)
		return
	}
	provider, e := c.api.byokProvider(f)
	if e != nil {
		e.write(c.ctx)
		return
	}
	key, e := byokKey(f)
	if e != nil {
		e.write(c.ctx)
		return
	}
	mode := byok.Prefer
	if f.has("mode") {
		var s string
		if err := json.Unmarshal(f["mode"], &s); err != nil || f.null("mode") {
			badField("mode", "must be \"prefer\", \"fallback\" or \"only\"").write(c.ctx)
			return
		}
		m, err := byok.ParseMode(s)
		if err != nil {
			badField("mode", "%v", err).write(c.ctx)
			return
		}
		mode = m
	}
	var name string
	if f.has("name") {
		if name, e = f.str("name", maxBYOKName); e != nil {
			e.write(c.ctx)
			return
		}
	}

	cred := &byok.SealedCredential{
		OrgID: c.p.Org.ID, Provider: provider, Label: byok.Label(name, provider, key), Mode: mode,
		Ciphertext: c.api.sealer.Seal([]byte(key), byok.AAD(c.p.Org.ID, provider)),
		CreatedAt:  c.api.now().UTC(),
	}
	if err := c.api.store.InsertBYOK(c.context(), cred); err != nil {
		if errors.Is(err, tenancy.ErrExists) {
			c.api.byokConflict(c, provider).write(c.ctx)
			return
		}
		c.fail(err, errOrgNotFound)
		return
	}
	c.api.reloadBYOK()
	c.api.log.Info("byok credential added", zap.Int64("id", cred.ID), zap.String("label", cred.Label),
		zap.String("provider", provider), zap.String("mode", string(mode)), zap.Int64("org", cred.OrgID), zap.Int64("by", c.p.User.ID))
	writeJSON(c.ctx, 201, map[string]any{"data": newBYOKObject(cred)})
}

// byokProvider reads the required provider field: a provider id of the configuration.
func (a *API) byokProvider(f fields) (string, *apiError) {
	if !f.has("provider") {
		return "", badField("provider", "is required")
	}
	p, e := f.str("provider", 200)
	if e != nil {
		return "", e
	}
	for _, id := range a.providers {
		if id == p {
			return p, nil
		}
	}
	if len(a.providers) == 0 {
		return "", badField("provider", "%q is not a provider of this gateway, which has none configured", p)
	}
	return "", badField("provider", "%q is not a provider of this gateway; use one of %s", p, strings.Join(a.providers, ", "))
}

// byokKey reads the required key field. It must be what a provider accepts in a header:
// printable ASCII without spaces (so a pasted newline can never split a request header).
// Surrounding whitespace is dropped. Errors never repeat the key.
func byokKey(f fields) (string, *apiError) {
	if !f.has("key") {
		return "", badField("key", "is required: the provider's API key")
	}
	var s string
	if err := json.Unmarshal(f["key"], &s); err != nil || f.null("key") {
		return "", badField("key", "must be a string")
	}
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n < minBYOKKeyLen || n > maxBYOKKeyLen {
		return "", badField("key", "must be %d to %d characters (got %d)", minBYOKKeyLen, maxBYOKKeyLen, n)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return "", badField("key", "must be printable ASCII without spaces (character %d is not)", i+1)
		}
	}
	return s, nil
}

// byokConflict is the 409 for a second live credential, naming the one to delete first.
func (a *API) byokConflict(c *call, provider string) *apiError {
	creds, err := a.store.ListBYOK(c.context(), c.p.Org.ID)
	if err == nil {
		for i := range creds {
			if creds[i].Provider == provider {
				return newError(409, "this organization already has a key for provider %q (id %d, %q); delete it first with DELETE /v1/byok/%d, then add the new one",
					provider, creds[i].ID, creds[i].Label, creds[i].ID)
			}
		}
	}
	return newError(409, "this organization already has a key for provider %q; delete it first (GET /v1/byok lists ids, DELETE /v1/byok/{id}), then add the new one", provider)
}

// deleteBYOK serves DELETE /v1/byok/{id} (admins).
func (c *call) deleteBYOK(idText string) {
	if !c.requireAdmin() {
		return
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		errBYOKNotFound.write(c.ctx)
		return
	}
	if err := c.api.store.DeleteBYOK(c.context(), c.p.Org.ID, id); err != nil {
		c.fail(err, errBYOKNotFound)
		return
	}
	c.api.reloadBYOK()
	c.api.log.Info("byok credential deleted", zap.Int64("id", id), zap.Int64("org", c.p.Org.ID), zap.Int64("by", c.p.User.ID))
	writeJSON(c.ctx, 200, map[string]any{"deleted": true})
}

// reloadBYOK makes a stored change apply to the next request. A failure is only logged: the
// change is stored, and the periodic reload picks it up.
func (a *API) reloadBYOK() {
	if a.byok == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.byok.Reload(ctx); err != nil {
		a.log.Warn("byok credentials reload failed; the periodic reload will retry", zap.Error(err))
	}
}
