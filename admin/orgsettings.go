package admin

import (
	"go.uber.org/zap"

	"github.com/arouter/arouter/tenancy"
)

// updateOrgFields are the fields PATCH /v1/orgs/{id} accepts.
var updateOrgFields = []string{"name", "prompt_logging"}

// getOrg serves GET /v1/orgs/{id}: the current context, with the caller's role. Any member may
// read it, so that everyone can see whether the organization logs prompts.
func (c *call) getOrg(org string) {
	if !c.ownOrg(org) {
		return
	}
	writeJSON(c.ctx, 200, map[string]any{"data": newOrgObject(&c.p.Org, c.p.Role)})
}

// updateOrg serves PATCH /v1/orgs/{id} (Admins): the organization's name and its opt-in to
// prompt logging. Every live key of the organization is dropped from the key cache, because
// each key's effective logging (apikey.Key.LogPrompts) includes the organization's: turning it
// off stops logging from the very next request on this gateway, as disabling a key does.
func (c *call) updateOrg(org string) {
	if !c.ownOrg(org) || !c.requireAdmin() {
		return
	}
	f, e := decodeFields(c.ctx.PostBody(), updateOrgFields...)
	if e != nil {
		e.write(c.ctx)
		return
	}
	if len(f) == 0 {
		newError(400, "nothing to change: send name or prompt_logging").write(c.ctx)
		return
	}
	var name string
	if f.has("name") {
		if name, e = f.str("name", maxNameLen); e != nil {
			e.write(c.ctx)
			return
		}
	}
	var logging bool
	if f.has("prompt_logging") {
		if logging, e = f.boolean("prompt_logging"); e != nil {
			e.write(c.ctx)
			return
		}
	}
	var was bool
	o, keys, err := c.api.store.UpdateOrg(c.context(), c.p.Org.ID, func(o *tenancy.Org) error {
		was = o.PromptLogging
		if f.has("name") {
			o.Name = name
		}
		if f.has("prompt_logging") {
			o.PromptLogging = logging
		}
		return nil
	})
	if err != nil {
		c.fail(err, errOrgNotFound)
		return
	}
	if was != o.PromptLogging {
		for _, h := range keys {
			c.api.cache.Invalidate(h)
		}
		c.api.log.Info("organization prompt logging changed", zap.Int64("org", o.ID), zap.Bool("prompt_logging", o.PromptLogging),
			zap.Int("keys", len(keys)), zap.Int64("by", c.p.User.ID))
	}
	writeJSON(c.ctx, 200, map[string]any{"data": newOrgObject(o, c.p.Role)})
}
