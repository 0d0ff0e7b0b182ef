package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"fmt"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

// Invitations: one-time codes with which an added member obtains their own management key in
// the organization. Only the code's hash is stored. Redemption checks, marks and mints in one
// IMMEDIATE transaction (see inTx), so of two concurrent redemptions of one code, even from two
// processes, exactly one succeeds.

// InviteMember makes inv.UserID a member of inv.OrgID with role and stores inv, in one
// transaction, so that no member is added without their invitation. It sets inv.ID and
// inv.CreatedAt (now if zero, rounded to the millisecond in UTC). An unknown organization or
// user returns an error wrapping tenancy.ErrNotFound; an existing membership (or a stored hash)
// one wrapping tenancy.ErrExists. On error inv is unchanged.
func (s *Store) InviteMember(ctx context.Context, inv *tenancy.Invitation, role tenancy.Role) error {
	if _, err := tenancy.ParseRole(string(role)); err != nil {
		return fmt.Errorf("invite user %d to organization %d: %w", inv.UserID, inv.OrgID, err)
	}
	created := roundMS(inv.CreatedAt)
	if created.IsZero() {
		created = roundMS(time.Now())
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := orgExists(ctx, tx, inv.OrgID); err != nil {
			return err
		}
		if err := userExists(ctx, tx, inv.UserID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
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
// tenancy.ErrExists. On error inv is unchanged and the earlier codes stay as they were.
func (s *Store) ReinviteMember(ctx context.Context, inv *tenancy.Invitation) error {
	created := roundMS(inv.CreatedAt)
	if created.IsZero() {
		created = roundMS(time.Now())
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			hash                      []byte
			createdMS, expiresMS, had int64
		)
		err := tx.QueryRowContext(ctx, `SELECT i.id, i.hash, i.org_id, i.user_id, i.invited_by, i.created_at, i.expires_at
			FROM invitations i JOIN memberships m ON m.org_id = i.org_id AND m.user_id = i.user_id
			WHERE i.hash = ? AND i.redeemed_at IS NULL AND i.voided_at IS NULL AND i.expires_at > ?`,
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
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM management_keys WHERE user_id = ?)",
			inv.UserID).Scan(&had); err != nil {
			return err
		}
		if err := authorize(&inv, had != 0); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "UPDATE invitations SET redeemed_at = ? WHERE id = ? AND redeemed_at IS NULL",
			at.UnixMilli(), inv.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 { // cannot happen inside the write lock; never mint twice regardless
			return fmt.Errorf("invitation: %w", tenancy.ErrNotFound)
		}
		res, err = tx.ExecContext(ctx,
			"INSERT INTO management_keys (hash, name, label, user_id, org_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			k.Hash[:], k.Name, k.Label, inv.UserID, inv.OrgID, created.UnixMilli())
		if isDuplicate(err) {
			return fmt.Errorf("management key with this hash %w", tenancy.ErrExists)
		}
		if err != nil {
			return err
		}
		keyID, err = res.LastInsertId()
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
func voidInvitations(ctx context.Context, tx *sql.Tx, orgID, userID int64, now int64) error {
	_, err := tx.ExecContext(ctx,
		"UPDATE invitations SET voided_at = ? WHERE org_id = ? AND user_id = ? AND redeemed_at IS NULL AND voided_at IS NULL",
		now, orgID, userID)
	return err
}

// insertInvitation stores inv, made at created, and returns its id; a stored hash is ErrExists.
func insertInvitation(ctx context.Context, tx *sql.Tx, inv *tenancy.Invitation, created time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx,
		"INSERT INTO invitations (hash, org_id, user_id, invited_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
		inv.Hash[:], inv.OrgID, inv.UserID, inv.InvitedBy, created.UnixMilli(), inv.ExpiresAt.UnixMilli())
	if isDuplicate(err) {
		return 0, fmt.Errorf("invitation with this hash %w", tenancy.ErrExists)
	}
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}
