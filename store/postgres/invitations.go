package postgres

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

// Invitations: one-time codes with which an added member obtains their own management key in
// the organization. Only the code's hash is stored. Redemption checks, marks and mints in one
// transaction holding the organization's lock, so of two concurrent redemptions of one code,
// even from two processes, exactly one succeeds, and a concurrent removal of the member either
// comes first (the code is void) or after (it deletes the new key).

// InviteMember makes inv.UserID a member of inv.OrgID with role and stores inv, in one
// transaction, so that no member is added without their invitation. It sets inv.ID and
// inv.CreatedAt (now if zero, rounded to the millisecond in UTC). An unknown organization or
// user returns an error wrapping tenancy.ErrNotFound; an existing membership (or a stored hash)
// one wrapping tenancy.ErrExists. On error inv is unchanged. It locks the organization
// (lockChange).
func (s *Store) InviteMember(ctx context.Context, inv *tenancy.Invitation, role tenancy.Role) error {
	if _, err := tenancy.ParseRole(string(role)); err != nil {
		return fmt.Errorf("invite user %d to organization %d: %w", inv.UserID, inv.OrgID, err)
	}
	created := roundMS(inv.CreatedAt)
	if created.IsZero() {
		created = roundMS(time.Now())
	}
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockOrg(ctx, tx, inv.OrgID, lockChange); err != nil {
			return err
		}
		if err := userExists(ctx, tx, inv.UserID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
			inv.OrgID, inv.UserID, string(role), created.UnixMilli())
		if isDuplicate(err) {
			return fmt.Errorf("membership %w", tenancy.ErrExists)
		}
		if err != nil {
			return err
		}
		id, err = insertInvitation(ctx, tx, inv, created)
		return err
	})
	if err != nil {
		return fmt.Errorf("invite user %d to organization %d: %w", inv.UserID, inv.OrgID, err)
	}
	inv.ID, inv.CreatedAt = id, created
	return nil
}

// ReinviteMember stores inv as a new invitation of a user who is already a member of
// inv.OrgID, voiding their unredeemed invitations to it in the same transaction, so that at
// most one code of theirs is live: an Admin reissues a code that expired or was lost. It sets
// inv.ID and inv.CreatedAt (now if zero, rounded to the millisecond in UTC). A user who is not
// a member returns an error wrapping tenancy.ErrNotFound, a stored hash one wrapping
// tenancy.ErrExists. On error inv is unchanged and the earlier codes stay as they were. It
// locks the organization (lockChange), as RemoveMember and RedeemInvitation do.
func (s *Store) ReinviteMember(ctx context.Context, inv *tenancy.Invitation) error {
	created := roundMS(inv.CreatedAt)
	if created.IsZero() {
		created = roundMS(time.Now())
	}
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockOrg(ctx, tx, inv.OrgID, lockChange); err != nil {
			return err
		}
		if _, err := memberRole(ctx, tx, inv.OrgID, inv.UserID); err != nil {
			return err
		}
		if err := voidInvitations(ctx, tx, inv.OrgID, inv.UserID, created.UnixMilli()); err != nil {
			return err
		}
		var err error
		id, err = insertInvitation(ctx, tx, inv, created)
		return err
	})
	if err != nil {
		return fmt.Errorf("reinvite user %d to organization %d: %w", inv.UserID, inv.OrgID, err)
	}
	inv.ID, inv.CreatedAt = id, created
	return nil
}

// RedeemInvitation redeems the invitation whose code hashes to h, in one transaction. The
// invitation must be live at now (neither redeemed nor voided, not expired) and its user still
// a member of its organization; otherwise, whichever the reason, the error wraps
// tenancy.ErrNotFound. authorize then decides whether the caller may redeem it, given whether
// the invited user has ever held a management key (deleted ones count); its error aborts the
// redemption, leaving the invitation live, and is returned wrapped. Otherwise the invitation is
// marked redeemed at now and k is stored as a management key of the invited user acting in the
// invitation's organization: k.UserID, k.OrgID, k.ID and k.CreatedAt (now if zero) are set.
//
// The organization's row is locked (lockChange) before the invitation is checked, the same
// lock RemoveMember takes first, so the two never wait for each other in opposite orders; the
// invitation's row is locked too, FOR UPDATE, which alone already makes concurrent
// redemptions of one code run one at a time.
func (s *Store) RedeemInvitation(ctx context.Context, h apikey.Hash, now time.Time, k *tenancy.ManagementKey,
	authorize func(inv *tenancy.Invitation, hadKeys bool) error) (*tenancy.Invitation, error) {
	at := roundMS(now)
	created := roundMS(k.CreatedAt)
	if created.IsZero() {
		created = at
	}
	var (
		inv   tenancy.Invitation
		keyID int64
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// An invitation's organization never changes, so it can be read before the lock.
		var orgID int64
		if err := tx.QueryRow(ctx, "SELECT org_id FROM invitations WHERE hash = $1", h[:]).Scan(&orgID); err != nil {
			return notFound(err, "invitation")
		}
		if err := lockOrg(ctx, tx, orgID, lockChange); err != nil {
			return err
		}
		var (
			hash                 []byte
			createdMS, expiresMS int64
			had                  bool
		)
		err := tx.QueryRow(ctx, `SELECT i.id, i.hash, i.org_id, i.user_id, i.invited_by, i.created_at, i.expires_at
			FROM invitations i JOIN memberships m ON m.org_id = i.org_id AND m.user_id = i.user_id
			WHERE i.hash = $1 AND i.redeemed_at IS NULL AND i.voided_at IS NULL AND i.expires_at > $2
			FOR UPDATE OF i`,
			h[:], at.UnixMilli()).Scan(&inv.ID, &hash, &inv.OrgID, &inv.UserID, &inv.InvitedBy, &createdMS, &expiresMS)
		if err != nil {
			return notFound(err, "invitation")
		}
		// Defence in depth, as for inference keys: the row must carry exactly this hash.
		if subtle.ConstantTimeCompare(hash, h[:]) != 1 {
			return fmt.Errorf("invitation: %w", tenancy.ErrNotFound)
		}
		copy(inv.Hash[:], hash)
		inv.CreatedAt, inv.ExpiresAt = time.UnixMilli(createdMS).UTC(), time.UnixMilli(expiresMS).UTC()
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM management_keys WHERE user_id = $1)",
			inv.UserID).Scan(&had); err != nil {
			return err
		}
		if err := authorize(&inv, had); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "UPDATE invitations SET redeemed_at = $1 WHERE id = $2 AND redeemed_at IS NULL",
			at.UnixMilli(), inv.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 { // cannot happen under the row lock; never mint twice regardless
			return fmt.Errorf("invitation: %w", tenancy.ErrNotFound)
		}
		err = tx.QueryRow(ctx,
			"INSERT INTO management_keys (hash, name, label, user_id, org_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
			k.Hash[:], k.Name, k.Label, inv.UserID, inv.OrgID, created.UnixMilli()).Scan(&keyID)
		if isDuplicate(err) {
			return fmt.Errorf("management key with this hash %w", tenancy.ErrExists)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("redeem invitation: %w", err)
	}
	inv.RedeemedAt = at
	k.ID, k.UserID, k.OrgID, k.CreatedAt = keyID, inv.UserID, inv.OrgID, created
	return &inv, nil
}

// voidInvitations voids userID's unredeemed invitations to orgID, inside the transaction that
// removes the membership (so that a code handed out before the removal cannot be redeemed if
// the user is added again later) or that reissues their code.
func voidInvitations(ctx context.Context, tx pgx.Tx, orgID, userID int64, now int64) error {
	_, err := tx.Exec(ctx,
		"UPDATE invitations SET voided_at = $1 WHERE org_id = $2 AND user_id = $3 AND redeemed_at IS NULL AND voided_at IS NULL",
		now, orgID, userID)
	return err
}

// insertInvitation stores inv, made at created, and returns its id; a stored hash is ErrExists.
func insertInvitation(ctx context.Context, tx pgx.Tx, inv *tenancy.Invitation, created time.Time) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx,
		"INSERT INTO invitations (hash, org_id, user_id, invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
		inv.Hash[:], inv.OrgID, inv.UserID, inv.InvitedBy, created.UnixMilli(), inv.ExpiresAt.UnixMilli()).Scan(&id)
	if isDuplicate(err) {
		return 0, fmt.Errorf("invitation with this hash %w", tenancy.ErrExists)
	}
	return id, err
}
