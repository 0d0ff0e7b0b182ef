package admin

import (
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

// Invitations. Adding a member answers an invitation code (addMember); the member redeems it
// here for a management key of their own acting in the organization. A code works once, for
// tenancy.InvitationTTL, and only for the invited user: an account that already holds
// management keys must send one of them, which proves the code reached its owner and not
// whoever else once held a key of that account.

// invitationObject is an invitation as addMember answers it; the code appears only there.
type invitationObject struct {
	Code      string   `json:"code"`
	ExpiresAt timeJSON `json:"expires_at"`
}

var (
	// errInvitationNotFound is the one answer for a code that is unknown, expired, already
	// redeemed or voided by the member's removal: the holder of a code learns nothing more.
	errInvitationNotFound = newError(404, "invitation not found, expired or already used; ask an Admin of the organization for a new one")
	errInvitationNeedsKey = newError(401, "this invitation is for an account that already has management keys: "+
		"send one of them with the code (Authorization: Bearer sk-ar-mgmt-v1-…; for the CLI, set AROUTER_MANAGEMENT_KEY), "+
		"which proves the invitation reached its owner. If none is left (removal from an organization revokes the keys acting in it), "+
		"the instance admin mints one with: arouter admin-key --user EMAIL")
	errInvitationOtherUser = newError(403, "this invitation is for another user: send a management key of the invited user, "+
		"or no Authorization header if their account has no management key yet")
	errInvitationAsKey = newError(401, "this is an invitation code, not a management key: redeem it with "+
		"POST /v1/invitations/redeem {\"code\": \"…\"} (or arouter invitations redeem CODE) to get a management key")
	errCrossOrgKey = newError(403, "a management key can be minted only for the context it acts in or for your personal "+
		"context; to act in another organization, ask one of its Admins to add you and redeem the invitation code "+
		"with POST /v1/invitations/redeem (arouter invitations redeem CODE)")
)

// newInvitation makes an unstored invitation of userID to the caller's organization, by the
// caller, made at now, and returns it with its code, which exists only in this answer.
func (c *call) newInvitation(userID int64, now time.Time) (*tenancy.Invitation, string, error) {
	code, err := tenancy.GenerateInvitationCode()
	if err != nil {
		return nil, "", err
	}
	return &tenancy.Invitation{Hash: apikey.HashToken([]byte(code)), OrgID: c.p.Org.ID, UserID: userID, InvitedBy: c.p.User.ID,
		CreatedAt: now.Truncate(time.Millisecond), ExpiresAt: now.Truncate(time.Second).Add(tenancy.InvitationTTL)}, code, nil
}

// reinviteMember serves POST /v1/orgs/{id}/members/{user}/invitation (Admins): a new code for
// a member whose code expired or was lost. Their earlier unredeemed codes to the organization
// stop working in the same transaction, so at most one is live. A member who already holds
// management keys redeems it, as any invitation, only with one of their keys, so a new code
// cannot be used by the Admin to take over a member's account.
func (c *call) reinviteMember(org, user string) {
	if !c.ownOrg(org) || !c.requireAdmin() {
		return
	}
	id, ok := c.memberID(user)
	if !ok {
		return
	}
	inv, code, err := c.newInvitation(id, c.api.now().UTC())
	if err != nil {
		c.fail(err, errUserNotFound)
		return
	}
	if err := c.api.store.ReinviteMember(c.context(), inv); err != nil {
		c.fail(err, errUserNotFound)
		return
	}
	c.api.log.Info("invitation reissued", zap.Int64("org", c.p.Org.ID), zap.Int64("user", id),
		zap.Int64("invitation", inv.ID), zap.Int64("by", c.p.User.ID))
	writeJSON(c.ctx, 201, map[string]any{"invitation": invitationObject{Code: code, ExpiresAt: timeJSON(inv.ExpiresAt)}})
}

// invitations serves /v1/invitations/…, which is the one part of the Management API that may
// be called without a management key: a new account's first key comes from redeeming its
// invitation. A key that is sent is authenticated as everywhere else.
func (a *API) invitations(ctx *fasthttp.RequestCtx, parts []string) {
	if len(parts) != 2 || parts[1] != "redeem" {
		errNoEndpoint.write(ctx)
		return
	}
	if string(ctx.Method()) != fasthttp.MethodPost {
		methodNotAllowed(ctx, "POST")
		return
	}
	var p *tenancy.Principal
	if len(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)) > 0 {
		var e *apiError
		if p, e = a.authenticate(ctx); e != nil {
			e.write(ctx)
			return
		}
	}
	(&call{ctx: ctx, p: p, api: a}).redeemInvitation()
}

// redeemInvitation serves POST /v1/invitations/redeem {"code", "name"?}: a new management key
// for the invited user, acting in the invitation's organization. c.p is the caller when a
// management key was sent, nil otherwise.
func (c *call) redeemInvitation() {
	f, e := decodeFields(c.ctx.PostBody(), "code", "name")
	if e != nil {
		e.write(c.ctx)
		return
	}
	if !f.has("code") {
		badField("code", "is required").write(c.ctx)
		return
	}
	code, e := f.str("code", tenancy.InvitationCodeLen)
	if e != nil {
		e.write(c.ctx)
		return
	}
	if !tenancy.IsInvitationCode(code) {
		badField("code", "is not an invitation code: it starts with %s, as POST /v1/orgs/{id}/members answered it", tenancy.InvitationPrefix).write(c.ctx)
		return
	}
	name := "management key"
	if f.has("name") {
		if name, e = f.str("name", maxNameLen); e != nil {
			e.write(c.ctx)
			return
		}
	}
	token, err := apikey.GenerateManagement()
	if err != nil {
		c.fail(err, errInvitationNotFound)
		return
	}
	now := c.api.now().UTC()
	mk := &tenancy.ManagementKey{Hash: apikey.HashToken([]byte(token)), Name: name, Label: apikey.Label(token),
		CreatedAt: now.Truncate(time.Millisecond)}
	inv, err := c.api.store.RedeemInvitation(c.context(), apikey.HashToken([]byte(code)), now, mk,
		func(inv *tenancy.Invitation, hadKeys bool) error {
			switch {
			case c.p != nil && c.p.User.ID != inv.UserID:
				return errInvitationOtherUser
			case c.p == nil && hadKeys:
				return errInvitationNeedsKey
			}
			return nil
		})
	if err != nil {
		c.fail(err, errInvitationNotFound)
		return
	}
	c.api.log.Info("invitation redeemed", zap.Int64("invitation", inv.ID), zap.Int64("org", inv.OrgID),
		zap.Int64("user", inv.UserID), zap.Int64("management_key", mk.ID), zap.Bool("authenticated", c.p != nil))
	writeJSON(c.ctx, 201, map[string]any{"data": newManagementKeyObject(mk), "key": token})
}
