package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/tenancy"
)

// BootstrapStore is what the first start needs beyond Store.
type BootstrapStore interface {
	Store
	ManagementKeyExists(ctx context.Context, h apikey.Hash) (bool, error)
	// AssignOrphanKeys moves keys made before organizations existed into a context.
	AssignOrphanKeys(ctx context.Context, orgID, creatorID int64) (int64, error)
}

// BootstrapOptions say who the instance admin is.
type BootstrapOptions struct {
	AdminEmail string
	// AdminKey, when set (from AROUTER_ADMIN_KEY), is the instance admin's management token:
	// it is stored (once) instead of minting and printing one, for automated deployments.
	AdminKey       string
	InitialCredits money.Nanos
}

// Bootstrap makes sure the instance admin exists; every start calls it, and it is safe to run
// from several processes at once. On the first start it creates the admin with a personal
// context holding InitialCredits and, unless AdminKey is given, returns a new management
// token that the caller must show once: it is not stored anywhere else.
func Bootstrap(ctx context.Context, st BootstrapStore, o BootstrapOptions, now time.Time) (admin *tenancy.User, token string, err error) {
	if o.AdminKey != "" && !apikey.IsManagementToken(o.AdminKey) {
		return nil, "", fmt.Errorf("AROUTER_ADMIN_KEY is not a management key: it must be %q followed by 64 lowercase hex digits (generate one with `openssl rand -hex 32`)", apikey.ManagementPrefix)
	}
	created := false
	admin, err = st.InstanceAdmin(ctx)
	if errors.Is(err, tenancy.ErrNotFound) {
		admin = &tenancy.User{Email: o.AdminEmail, Name: "admin", InstanceAdmin: true, CreatedAt: now.UTC()}
		switch err = st.CreateUser(ctx, admin); {
		case err == nil:
			created = true
		case errors.Is(err, tenancy.ErrExists):
			admin, err = st.InstanceAdmin(ctx) // another process bootstrapped first
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("bootstrap the instance admin: %w", err)
	}
	if created && o.InitialCredits > 0 {
		if err := st.AddCredits(ctx, admin.PersonalOrgID, o.InitialCredits, admin.ID); err != nil {
			return nil, "", fmt.Errorf("grant initial credits: %w", err)
		}
	}
	if _, err := st.AssignOrphanKeys(ctx, admin.PersonalOrgID, admin.ID); err != nil {
		return nil, "", fmt.Errorf("assign existing keys to the admin: %w", err)
	}

	mk := &tenancy.ManagementKey{Name: "instance admin", UserID: admin.ID, OrgID: admin.PersonalOrgID, CreatedAt: now.UTC().Truncate(time.Millisecond)}
	switch {
	case o.AdminKey != "":
		mk.Hash, mk.Label = apikey.HashToken([]byte(o.AdminKey)), apikey.Label(o.AdminKey)
		exists, err := st.ManagementKeyExists(ctx, mk.Hash)
		if err != nil {
			return nil, "", fmt.Errorf("check AROUTER_ADMIN_KEY: %w", err)
		}
		if !exists {
			if err := st.InsertManagementKey(ctx, mk); err != nil && !errors.Is(err, tenancy.ErrExists) {
				return nil, "", fmt.Errorf("store AROUTER_ADMIN_KEY: %w", err)
			}
		}
	case created:
		if token, err = apikey.GenerateManagement(); err != nil {
			return nil, "", err
		}
		mk.Hash, mk.Label = apikey.HashToken([]byte(token)), apikey.Label(token)
		if err := st.InsertManagementKey(ctx, mk); err != nil {
			return nil, "", fmt.Errorf("store the admin's management key: %w", err)
		}
	}
	return admin, token, nil
}
