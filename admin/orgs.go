package admin

import (
	"errors"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

type userObject struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

type orgObject struct {
	ID        int64    `json:"id"`
	Name      string   `json:"name"`
	Personal  bool     `json:"personal"`
	Role      string   `json:"role,omitempty"`
	CreatedAt timeJSON `json:"created_at"`
	// PromptLogging is the organization's opt-in to prompt logging (see orgsettings.go); every
	// member sees it, so that nobody's prompts are stored without them being able to know.
	PromptLogging bool `json:"prompt_logging"`
}

type memberObject struct {
	User     userObject `json:"user"`
	Role     string     `json:"role"`
	JoinedAt timeJSON   `json:"joined_at"`
}

type managementKeyObject struct {
	ID             int64    `json:"id"`
	Name           string   `json:"name"`
	Label          string   `json:"label"`
	UserID         int64    `json:"user_id"`
	OrganizationID int64    `json:"organization_id"`
	CreatedAt      timeJSON `json:"created_at"`
}

func newUserObject(u *tenancy.User) userObject {
	return userObject{ID: u.ID, Email: u.Email, Name: u.Name}
}

func newMemberObject(m *tenancy.Member) memberObject {
	return memberObject{User: newUserObject(&m.User), Role: string(m.Role), JoinedAt: timeJSON(m.JoinedAt)}
}

func newOrgObject(o *tenancy.Org, role tenancy.Role) orgObject {
	return orgObject{ID: o.ID, Name: o.Name, Personal: o.Personal, Role: string(role), CreatedAt: timeJSON(o.CreatedAt),
		PromptLogging: o.PromptLogging}
}

// me serves GET /v1/me: who the key acts as, and where; instance_admin says whether the user
// is the operator, who alone grants credits.
func (c *call) me() {
	writeJSON(c.ctx, 200, map[string]any{"data": map[string]any{
		"user":           newUserObject(&c.p.User),
		"organization":   newOrgObject(&c.p.Org, c.p.Role),
		"role":           c.p.Role,
		"instance_admin": c.p.User.InstanceAdmin,
	}})
}

// listOrgs serves GET /v1/orgs: every context the user belongs to, for switching between them.
func (c *call) listOrgs() {
	ms, err := c.api.store.OrgsOfUser(c.context(), c.p.User.ID)
	if err != nil {
		c.fail(err, errOrgNotFound)
		return
	}
	out := make([]orgObject, 0, len(ms))
	for i := range ms {
		out = append(out, newOrgObject(&ms[i].Org, ms[i].Role))
	}
	writeJSON(c.ctx, 200, map[string]any{"data": out})
}

// createOrg serves POST /v1/orgs. The caller becomes the organization's admin and receives a
// management key acting in it.
func (c *call) createOrg() {
	f, e := decodeFields(c.ctx.PostBody(), "name")
	if e != nil {
		e.write(c.ctx)
		return
	}
	if !f.has("name") {
		badField("name", "is required").write(c.ctx)
		return
	}
	name, e := f.str("name", maxNameLen)
	if e != nil {
		e.write(c.ctx)
		return
	}
	o := &tenancy.Org{Name: name, CreatedAt: c.api.now().UTC()}
	if err := c.api.store.CreateOrg(c.context(), o, c.p.User.ID); err != nil {
		c.fail(err, errOrgNotFound)
		return
	}
	token, _, err := c.api.mintManagementKey(c, c.p.User.ID, o.ID, "created with "+o.Name)
	if err != nil {
		c.fail(err, errOrgNotFound)
		return
	}
	c.api.log.Info("organization created", zap.Int64("org", o.ID), zap.Int64("by", c.p.User.ID))
	writeJSON(c.ctx, 201, map[string]any{
		"data":           newOrgObject(o, tenancy.RoleAdmin),
		"management_key": token,
	})
}

// ownOrg parses an organization id from the path: it must be the principal's context, since a
// management key acts in exactly one. Any other id is not found.
func (c *call) ownOrg(s string) bool {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id != c.p.Org.ID {
		errOrgNotFound.write(c.ctx)
		return false
	}
	return true
}

func (c *call) listMembers(org string) {
	if !c.ownOrg(org) || !c.requireAdmin() {
		return
	}
	ms, err := c.api.store.Members(c.context(), c.p.Org.ID)
	if err != nil {
		c.fail(err, errOrgNotFound)
		return
	}
	out := make([]memberObject, 0, len(ms))
	for i := range ms {
		out = append(out, newMemberObject(&ms[i]))
	}
	writeJSON(c.ctx, 200, map[string]any{"data": out})
}

// addMember serves POST /v1/orgs/{id}/members with email and role (and a name for a new user).
// Someone without an account yet gets one. Either way the answer carries an invitation code for
// the Admin to hand over, which the member redeems for their own management key (see
// redeemInvitation): the Admin never holds a key of the member's, and the answer is the same
// whether or not the email had an account.
func (c *call) addMember(org string) {
	if !c.ownOrg(org) || !c.requireAdmin() {
		return
	}
	if c.p.Org.Personal {
		newError(400, "a personal context has no other members; create an organization with POST /v1/orgs").write(c.ctx)
		return
	}
	f, e := decodeFields(c.ctx.PostBody(), "email", "name", "role")
	if e != nil {
		e.write(c.ctx)
		return
	}
	if !f.has("email") {
		badField("email", "is required").write(c.ctx)
		return
	}
	email, e := f.str("email", 254)
	if e != nil {
		e.write(c.ctx)
		return
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		badField("email", "%q is not an email address", email).write(c.ctx)
		return
	}
	email = strings.ToLower(email)
	role := tenancy.RoleMember
	if f.has("role") {
		s, e := f.str("role", 16)
		if e != nil {
			e.write(c.ctx)
			return
		}
		r, err := tenancy.ParseRole(s)
		if err != nil {
			badField("role", "%v", err).write(c.ctx)
			return
		}
		role = r
	}
	name := email[:strings.IndexByte(email, '@')]
	if f.has("name") {
		if name, e = f.str("name", maxNameLen); e != nil {
			e.write(c.ctx)
			return
		}
	}

	ctx := c.context()
	now := c.api.now().UTC()
	u, err := c.api.store.UserByEmail(ctx, email)
	created := false
	switch {
	case err == nil:
	case errors.Is(err, tenancy.ErrNotFound):
		u = &tenancy.User{Email: email, Name: name, CreatedAt: now}
		if err := c.api.store.CreateUser(ctx, u); err != nil {
			c.fail(err, errUserNotFound)
			return
		}
		created = true
	default:
		c.fail(err, errUserNotFound)
		return
	}
	inv, code, err := c.newInvitation(u.ID, now)
	if err != nil {
		c.fail(err, errUserNotFound)
		return
	}
	if err := c.api.store.InviteMember(ctx, inv, role); err != nil {
		if errors.Is(err, tenancy.ErrExists) {
			newError(409, "%s is already a member; change their role with PATCH %s/%d", email, c.ctx.Path(), u.ID).write(c.ctx)
			return
		}
		c.fail(err, errUserNotFound)
		return
	}
	c.api.log.Info("member invited", zap.Int64("org", c.p.Org.ID), zap.Int64("user", u.ID), zap.String("role", string(role)),
		zap.Bool("new_user", created), zap.Int64("invitation", inv.ID), zap.Int64("by", c.p.User.ID))
	writeJSON(c.ctx, 201, map[string]any{
		"data":       memberObject{User: newUserObject(u), Role: string(role), JoinedAt: timeJSON(inv.CreatedAt)},
		"invitation": invitationObject{Code: code, ExpiresAt: timeJSON(inv.ExpiresAt)},
	})
}

// memberID parses a user id from the path.
func (c *call) memberID(s string) (int64, bool) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		errUserNotFound.write(c.ctx)
		return 0, false
	}
	return id, true
}

func (c *call) setRole(org, user string) {
	if !c.ownOrg(org) || !c.requireAdmin() {
		return
	}
	id, ok := c.memberID(user)
	if !ok {
		return
	}
	f, e := decodeFields(c.ctx.PostBody(), "role")
	if e != nil {
		e.write(c.ctx)
		return
	}
	if !f.has("role") {
		badField("role", "is required").write(c.ctx)
		return
	}
	s, e := f.str("role", 16)
	if e != nil {
		e.write(c.ctx)
		return
	}
	role, err := tenancy.ParseRole(s)
	if err != nil {
		badField("role", "%v", err).write(c.ctx)
		return
	}
	if err := c.api.store.SetMemberRole(c.context(), c.p.Org.ID, id, role); err != nil {
		c.fail(err, errUserNotFound)
		return
	}
	c.api.log.Info("member role changed", zap.Int64("org", c.p.Org.ID), zap.Int64("user", id), zap.String("role", s), zap.Int64("by", c.p.User.ID))
	ms, err := c.api.store.Members(c.context(), c.p.Org.ID)
	if err != nil {
		c.fail(err, errUserNotFound)
		return
	}
	for i := range ms {
		if ms[i].User.ID == id {
			writeJSON(c.ctx, 200, map[string]any{"data": newMemberObject(&ms[i])})
			return
		}
	}
	errUserNotFound.write(c.ctx) // removed by someone else in the meantime
}

// removeMember serves DELETE /v1/orgs/{id}/members/{user}: the member's management keys for
// the organization stop working, their unredeemed invitations to it are voided and the
// inference keys they created are disabled.
func (c *call) removeMember(org, user string) {
	if !c.ownOrg(org) || !c.requireAdmin() {
		return
	}
	id, ok := c.memberID(user)
	if !ok {
		return
	}
	disabled, err := c.api.store.RemoveMember(c.context(), c.p.Org.ID, id)
	if err != nil {
		c.fail(err, errUserNotFound)
		return
	}
	for _, h := range disabled {
		c.api.cache.Invalidate(h)
	}
	c.api.log.Info("member removed", zap.Int64("org", c.p.Org.ID), zap.Int64("user", id), zap.Int("keys_disabled", len(disabled)), zap.Int64("by", c.p.User.ID))
	writeJSON(c.ctx, 200, map[string]any{"deleted": true, "keys_disabled": len(disabled)})
}

// createManagementKey serves POST /v1/management-keys: a new management key for the calling
// user, acting in organization_id, which must be the current context (the default) or the
// user's personal one. A key never reaches into another organization, even one the user
// belongs to: that takes an invitation code from its Admin (POST /v1/invitations/redeem), so
// that whoever holds some key of a user cannot follow them into every organization they join.
func (c *call) createManagementKey() {
	f, e := decodeFields(c.ctx.PostBody(), "name", "organization_id")
	if e != nil {
		e.write(c.ctx)
		return
	}
	name := "management key"
	if f.has("name") {
		if name, e = f.str("name", maxNameLen); e != nil {
			e.write(c.ctx)
			return
		}
	}
	orgID := c.p.Org.ID
	if f.has("organization_id") {
		if orgID, e = f.int("organization_id"); e != nil {
			e.write(c.ctx)
			return
		}
	}
	if orgID != c.p.Org.ID && orgID != c.p.User.PersonalOrgID {
		// The same answer for every other id, so that it says nothing about what exists.
		errCrossOrgKey.write(c.ctx)
		return
	}
	token, mk, err := c.api.mintManagementKey(c, c.p.User.ID, orgID, name)
	if err != nil {
		c.fail(err, errBadKey) // not found: the caller's membership ended since authentication
		return
	}
	c.api.log.Info("management key created", zap.Int64("id", mk.ID), zap.Int64("user", c.p.User.ID), zap.Int64("org", orgID))
	writeJSON(c.ctx, 201, map[string]any{"data": newManagementKeyObject(mk), "key": token})
}

func newManagementKeyObject(mk *tenancy.ManagementKey) managementKeyObject {
	return managementKeyObject{ID: mk.ID, Name: mk.Name, Label: mk.Label, UserID: mk.UserID, OrganizationID: mk.OrgID, CreatedAt: timeJSON(mk.CreatedAt)}
}

// listManagementKeys serves GET /v1/management-keys: the caller's own keys acting in the
// current context, so that a lost or leaked one can be found and revoked.
func (c *call) listManagementKeys() {
	ks, err := c.api.store.ManagementKeys(c.context(), c.p.User.ID, c.p.Org.ID)
	if err != nil {
		c.fail(err, errOrgNotFound)
		return
	}
	out := make([]managementKeyObject, 0, len(ks))
	for i := range ks {
		out = append(out, newManagementKeyObject(&ks[i]))
	}
	writeJSON(c.ctx, 200, map[string]any{"data": out})
}

// deleteManagementKey serves DELETE /v1/management-keys/{id}: revokes one of the caller's own
// keys in the current context (possibly the one making the call).
func (c *call) deleteManagementKey(idText string) {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		errMgmtKeyNotFound.write(c.ctx)
		return
	}
	if err := c.api.store.DeleteManagementKey(c.context(), id, c.p.User.ID, c.p.Org.ID); err != nil {
		c.fail(err, errMgmtKeyNotFound)
		return
	}
	c.api.log.Info("management key revoked", zap.Int64("id", id), zap.Int64("user", c.p.User.ID), zap.Int64("org", c.p.Org.ID))
	writeJSON(c.ctx, 200, map[string]any{"deleted": true})
}

// mintManagementKey stores a new management key for user in org and returns its token.
func (a *API) mintManagementKey(c *call, userID, orgID int64, name string) (string, *tenancy.ManagementKey, error) {
	token, err := apikey.GenerateManagement()
	if err != nil {
		return "", nil, err
	}
	mk := &tenancy.ManagementKey{Hash: apikey.HashToken([]byte(token)), Name: name, Label: apikey.Label(token),
		UserID: userID, OrgID: orgID, CreatedAt: a.now().UTC().Truncate(time.Millisecond)}
	if err := a.store.InsertManagementKey(c.context(), mk); err != nil {
		return "", nil, err
	}
	return token, mk, nil
}
