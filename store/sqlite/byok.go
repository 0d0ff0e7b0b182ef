package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/tenancy"
)

// Organizations' own provider credentials (BYOK). The store holds them sealed and never sees a
// secret: package byok seals and opens them, with byok.AAD(org, provider) as additional data,
// so a ciphertext moved to another row does not open.

var _ byok.Loader = (*Store)(nil)

const byokColumns = "id, org_id, provider, label, mode, ciphertext, created_at"

// InsertBYOK stores c as orgID's live credential for c.Provider and sets c.ID and c.CreatedAt
// (now if zero, rounded to the millisecond in UTC). An unknown organization returns an error
// wrapping tenancy.ErrNotFound; a live credential for the same organization and provider one
// wrapping tenancy.ErrExists (delete it first). On error c is unchanged.
func (s *Store) InsertBYOK(ctx context.Context, c *byok.SealedCredential) error {
	if _, err := byok.ParseMode(string(c.Mode)); err != nil {
		return fmt.Errorf("insert BYOK credential %q: %w", c.Label, err)
	}
	if len(c.Ciphertext) == 0 {
		return fmt.Errorf("insert BYOK credential %q: no ciphertext", c.Label)
	}
	created := roundMS(c.CreatedAt)
	if created.IsZero() {
		created = roundMS(time.Now())
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := orgExists(ctx, tx, c.OrgID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO byok_credentials (org_id, provider, label, mode, ciphertext, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, c.OrgID, c.Provider, c.Label, string(c.Mode), c.Ciphertext, created.UnixMilli())
		if isDuplicate(err) {
			return fmt.Errorf("a live credential for provider %q in organization %d %w", c.Provider, c.OrgID, tenancy.ErrExists)
		}
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return fmt.Errorf("insert BYOK credential %q: %w", c.Label, err)
	}
	c.ID, c.CreatedAt = id, created
	return nil
}

// ListBYOK returns orgID's live credentials, by provider. An organization with none (or an
// unknown one) has an empty list.
func (s *Store) ListBYOK(ctx context.Context, orgID int64) ([]byok.SealedCredential, error) {
	out, err := queryBYOK(ctx, s.r, "SELECT "+byokColumns+
		" FROM byok_credentials WHERE org_id = ? AND deleted_at IS NULL ORDER BY provider, id", orgID)
	if err != nil {
		return nil, fmt.Errorf("list BYOK credentials of organization %d: %w", orgID, err)
	}
	return out, nil
}

// LoadBYOK returns every live credential: what byok.Cache loads (it implements byok.Loader).
func (s *Store) LoadBYOK(ctx context.Context) ([]byok.SealedCredential, error) {
	out, err := queryBYOK(ctx, s.r, "SELECT "+byokColumns+
		" FROM byok_credentials WHERE deleted_at IS NULL ORDER BY org_id, provider")
	if err != nil {
		return nil, fmt.Errorf("load BYOK credentials: %w", err)
	}
	return out, nil
}

type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func queryBYOK(ctx context.Context, q rowsQuerier, query string, args ...any) ([]byok.SealedCredential, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []byok.SealedCredential
	for rows.Next() {
		var (
			c       byok.SealedCredential
			mode    string
			created int64
		)
		if err := rows.Scan(&c.ID, &c.OrgID, &c.Provider, &c.Label, &mode, &c.Ciphertext, &created); err != nil {
			return nil, err
		}
		c.Mode, c.CreatedAt = byok.Mode(mode), time.UnixMilli(created).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteBYOK deletes credential id of orgID. The row stays, marked deleted, but its ciphertext
// is erased: a deleted secret is gone from the store. A credential of another organization, or
// one already deleted, is not found (the error wraps tenancy.ErrNotFound).
func (s *Store) DeleteBYOK(ctx context.Context, orgID, id int64) error {
	res, err := s.w.ExecContext(ctx,
		"UPDATE byok_credentials SET deleted_at = ?, ciphertext = X'' WHERE id = ? AND org_id = ? AND deleted_at IS NULL",
		time.Now().UnixMilli(), id, orgID)
	if err != nil {
		return fmt.Errorf("delete BYOK credential %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete BYOK credential %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("BYOK credential %d: %w", id, tenancy.ErrNotFound)
	}
	return nil
}

// RekeyBYOK replaces every live credential's ciphertext with reseal(ciphertext, aad), aad being
// byok.AAD(org, provider) of its row, in one transaction: if reseal fails for any credential,
// nothing changes. It returns the number of credentials resealed. reseal runs inside the write
// transaction and must not use the store. This is the second step of a master key rotation
// (see docs/management-api.md).
func (s *Store) RekeyBYOK(ctx context.Context, reseal func(ciphertext, aad []byte) ([]byte, error)) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		creds, err := queryBYOK(ctx, tx, "SELECT "+byokColumns+" FROM byok_credentials WHERE deleted_at IS NULL ORDER BY id")
		if err != nil {
			return err
		}
		for _, c := range creds {
			next, err := reseal(c.Ciphertext, byok.AAD(c.OrgID, c.Provider))
			if err != nil {
				return fmt.Errorf("credential %d (%q, organization %d): %w", c.ID, c.Label, c.OrgID, err)
			}
			if len(next) == 0 {
				return fmt.Errorf("credential %d (%q, organization %d): resealed to nothing", c.ID, c.Label, c.OrgID)
			}
			if _, err := tx.ExecContext(ctx, "UPDATE byok_credentials SET ciphertext = ? WHERE id = ?", next, c.ID); err != nil {
				return err
			}
		}
		n = len(creds)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("re-encrypt BYOK credentials: %w", err)
	}
	return n, nil
}
