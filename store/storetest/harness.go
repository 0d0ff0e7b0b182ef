// Package storetest holds the conformance tests that every store (store/sqlite,
// store/postgres) must pass, run on real databases through a Harness.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/tenancy"
)

// Store is what the conformance tests need of a store.
type Store interface {
	InsertKey(ctx context.Context, k *apikey.Key) error
	LoadKey(ctx context.Context, h apikey.Hash) (*apikey.Key, error)
	KeyInOrg(ctx context.Context, h apikey.Hash, orgID int64) (*apikey.Key, error)
	ListKeys(ctx context.Context, f apikey.Filter) ([]*apikey.Key, error)
	UpdateKey(ctx context.Context, h apikey.Hash, orgID int64, change func(*apikey.Key) error) (*apikey.Key, error)
	DeleteKey(ctx context.Context, h apikey.Hash, orgID int64) error
	RotateKey(ctx context.Context, old apikey.Hash, orgID int64, next *apikey.Key, oldExpiresAt time.Time) (*apikey.Key, error)
	SetKeyDisabled(ctx context.Context, h apikey.Hash, disabled bool) error
	AssignOrphanKeys(ctx context.Context, orgID, creatorID int64) (int64, error)

	CreateUser(ctx context.Context, u *tenancy.User) error
	CreateOrg(ctx context.Context, o *tenancy.Org, adminUserID int64) error
	AddMember(ctx context.Context, orgID, userID int64, role tenancy.Role) error
	Members(ctx context.Context, orgID int64) ([]tenancy.Member, error)
	RemoveMember(ctx context.Context, orgID, userID int64) ([]apikey.Hash, error)

	InsertManagementKey(ctx context.Context, k *tenancy.ManagementKey) error
	DeleteManagementKey(ctx context.Context, id, userID, orgID int64) error
	ManagementKeys(ctx context.Context, userID, orgID int64) ([]tenancy.ManagementKey, error)
	PrincipalByManagementKey(ctx context.Context, h apikey.Hash) (*tenancy.Principal, error)

	InviteMember(ctx context.Context, inv *tenancy.Invitation, role tenancy.Role) error
	ReinviteMember(ctx context.Context, inv *tenancy.Invitation) error
	RedeemInvitation(ctx context.Context, h apikey.Hash, now time.Time, k *tenancy.ManagementKey,
		authorize func(inv *tenancy.Invitation, hadKeys bool) error) (*tenancy.Invitation, error)

	InsertBYOK(ctx context.Context, c *byok.SealedCredential) error
	ListBYOK(ctx context.Context, orgID int64) ([]byok.SealedCredential, error)
	LoadBYOK(ctx context.Context) ([]byok.SealedCredential, error)
	DeleteBYOK(ctx context.Context, orgID, id int64) error
	RekeyBYOK(ctx context.Context, reseal func(ciphertext, aad []byte) ([]byte, error)) (int, error)

	WriteUsage(ctx context.Context, recs []accounting.Record) error
	UsageByGeneration(ctx context.Context, id string) (accounting.Record, error)
}

// Row is one result row of Harness.QueryRow: a *sql.Row or a pgx.Row.
type Row interface {
	Scan(dest ...any) error
}

// Harness opens fresh stores and runs the few raw checks that need SQL.
type Harness struct {
	// Open opens a store on a fresh, empty database of the test's own, closed when the test
	// ends.
	Open func(t testing.TB) Store
	// OpenTwo opens two stores on one fresh database, as two processes or replicas would.
	OpenTwo func(t testing.TB) (Store, Store)
	// QueryRow runs query on s's database, outside the store's methods. The query uses ?
	// placeholders; a store whose driver wants others rewrites them.
	QueryRow func(t testing.TB, s Store, query string, args ...any) Row
	// ErrKeyExists is the store's error for inserting a key whose hash is already stored.
	ErrKeyExists error
}
