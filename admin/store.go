package admin

import (
	"context"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/tenancy"
)

// Store is the durable state the Management API reads and writes. store/sqlite implements it.
// Errors wrap tenancy.ErrNotFound, tenancy.ErrExists or tenancy.ErrLastAdmin where those
// apply; methods that take an orgID treat a row of another organization as not found, so that
// no call can reach across organizations.
type Store interface {
	// CreateUser stores u with a new personal context (u.PersonalOrgID) of which u is the
	// admin, in one transaction, and sets u.ID, u.PersonalOrgID and u.CreatedAt.
	CreateUser(ctx context.Context, u *tenancy.User) error
	UserByEmail(ctx context.Context, email string) (*tenancy.User, error)
	// InstanceAdmin returns the user bootstrapped at first start.
	InstanceAdmin(ctx context.Context) (*tenancy.User, error)

	// CreateOrg stores o and makes adminUserID its admin, in one transaction.
	CreateOrg(ctx context.Context, o *tenancy.Org, adminUserID int64) error
	// UpdateOrg applies change to organization orgID in one write transaction (Name and
	// PromptLogging are stored) and returns it as stored, with the hashes of its live keys.
	UpdateOrg(ctx context.Context, orgID int64, change func(*tenancy.Org) error) (*tenancy.Org, []apikey.Hash, error)
	OrgsOfUser(ctx context.Context, userID int64) ([]tenancy.Membership, error)
	Members(ctx context.Context, orgID int64) ([]tenancy.Member, error)
	// InviteMember makes inv.UserID a member of inv.OrgID with role and stores the invitation
	// inv, in one transaction, and sets inv.ID and inv.CreatedAt; an existing membership is
	// ErrExists.
	InviteMember(ctx context.Context, inv *tenancy.Invitation, role tenancy.Role) error
	// ReinviteMember stores inv for a user who is already a member of inv.OrgID and voids
	// their unredeemed invitations to it, in one transaction, and sets inv.ID and
	// inv.CreatedAt; a user who is not a member is ErrNotFound.
	ReinviteMember(ctx context.Context, inv *tenancy.Invitation) error
	// RedeemInvitation redeems the invitation whose code hashes to h, in one transaction: it
	// must be live at now (not redeemed, voided by the member's removal, or expired) and its
	// user still a member, else ErrNotFound; authorize, told whether the user ever held a
	// management key, may refuse (its error is returned and the invitation stays live);
	// then the invitation is marked redeemed and k is stored as the user's management key
	// acting in its organization (k.ID, k.UserID, k.OrgID and k.CreatedAt are set). Of two
	// concurrent redemptions of one code, exactly one succeeds.
	RedeemInvitation(ctx context.Context, h apikey.Hash, now time.Time, k *tenancy.ManagementKey,
		authorize func(inv *tenancy.Invitation, hadKeys bool) error) (*tenancy.Invitation, error)
	SetMemberRole(ctx context.Context, orgID, userID int64, role tenancy.Role) error
	// RemoveMember removes the membership, deletes the user's management keys for the
	// organization, voids their unredeemed invitations to it and disables the inference keys
	// the user created in it, in one transaction, returning those keys' hashes.
	RemoveMember(ctx context.Context, orgID, userID int64) ([]apikey.Hash, error)

	InsertManagementKey(ctx context.Context, k *tenancy.ManagementKey) error
	PrincipalByManagementKey(ctx context.Context, h apikey.Hash) (*tenancy.Principal, error)
	// ManagementKeys lists userID's live management keys acting in orgID.
	ManagementKeys(ctx context.Context, userID, orgID int64) ([]tenancy.ManagementKey, error)
	// DeleteManagementKey revokes key id of userID acting in orgID.
	DeleteManagementKey(ctx context.Context, id, userID, orgID int64) error

	InsertKey(ctx context.Context, k *apikey.Key) error
	// KeyInOrg returns the live (not deleted) key with hash h in orgID.
	KeyInOrg(ctx context.Context, h apikey.Hash, orgID int64) (*apikey.Key, error)
	ListKeys(ctx context.Context, f apikey.Filter) ([]*apikey.Key, error)
	// UpdateKey applies change to a copy of the key in one write transaction and returns
	// the stored result; an error from change aborts the update and is returned.
	UpdateKey(ctx context.Context, h apikey.Hash, orgID int64, change func(*apikey.Key) error) (*apikey.Key, error)
	DeleteKey(ctx context.Context, h apikey.Hash, orgID int64) error
	// RotateKey stores next as the successor of the key with hash old (next inherits its
	// BudgetID) and makes the old key expire at oldExpiresAt (or keeps an earlier expiry),
	// in one transaction.
	RotateKey(ctx context.Context, old apikey.Hash, orgID int64, next *apikey.Key, oldExpiresAt time.Time) (*apikey.Key, error)

	AddCredits(ctx context.Context, orgID int64, amount money.Nanos, byUserID int64) error
	CreditsOf(ctx context.Context, orgID int64) (money.Nanos, error)

	// InsertBYOK stores c as c.OrgID's live credential for c.Provider and sets c.ID and
	// c.CreatedAt; a live credential for the same organization and provider is ErrExists.
	InsertBYOK(ctx context.Context, c *byok.SealedCredential) error
	// ListBYOK lists orgID's live credentials.
	ListBYOK(ctx context.Context, orgID int64) ([]byok.SealedCredential, error)
	// DeleteBYOK deletes credential id of orgID (erasing its ciphertext).
	DeleteBYOK(ctx context.Context, orgID, id int64) error
}
