package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
// wrapping tenancy.ErrExists (delete it first). On error c is unchanged. The partial unique
// index byok_credentials_live decides between concurrent inserts: the second waits for the
// first and then fails.
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := orgExists(ctx, tx, c.OrgID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO byok_credentials (org_id, provider, label, mode, ciphertext, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			c.OrgID, c.Provider, c.Label, string(c.Mode), c.Ciphertext, created.UnixMilli()).Scan(&id)
		if isDuplicate(err) {
			return fmt.Errorf("a live credential for provider %q in organization %d %w", c.Provider, c.OrgID, tenancy.ErrExists)
		}
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
	out, err := queryBYOK(ctx, s.pool, "SELECT "+byokColumns+
		` FROM byok_credentials WHERE org_id = $1 AND deleted_at IS NULL ORDER BY provider COLLATE "C", id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list BYOK credentials of organization %d: %w", orgID, err)
	}
	return out, nil
}

// LoadBYOK returns every live credential: what byok.Cache loads (it implements byok.Loader).
func (s *Store) LoadBYOK(ctx context.Context) ([]byok.SealedCredential, error) {
	out, err := queryBYOK(ctx, s.pool, "SELECT "+byokColumns+
		` FROM byok_credentials WHERE deleted_at IS NULL ORDER BY org_id, provider COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("load BYOK credentials: %w", err)
	}
	return out, nil
}

// queryBYOK runs query and reads every row before returning, so that a transaction can use its
// connection again at once.
func queryBYOK(ctx context.Context, q querier, query string, args ...any) ([]byok.SealedCredential, error) {
	rows, err := q.Query(ctx, query, args...)
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
//
// PostgreSQL keeps the old row version until VACUUM reclaims it, as SQLite kept the old page
// until secure_delete overwrote it; the erasure is about what the store answers, and the
// ciphertext is useless without the master key regardless.
func (s *Store) DeleteBYOK(ctx context.Context, orgID, id int64) error {
	tag, err := s.pool.Exec(ctx,
		"UPDATE byok_credentials SET deleted_at = $1, ciphertext = ''::bytea WHERE id = $2 AND org_id = $3 AND deleted_at IS NULL",
		time.Now().UnixMilli(), id, orgID)
	if err != nil {
		return fmt.Errorf("delete BYOK credential %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("BYOK credential %d: %w", id, tenancy.ErrNotFound)
	}
	return nil
}

// RekeyBYOK replaces every live credential's ciphertext with reseal(ciphertext, aad), aad being
// byok.AAD(org, provider) of its row, in one transaction: if reseal fails for any credential,
// nothing changes. It returns the number of credentials resealed. reseal runs inside the
// transaction and must not use the store. This is the second step of a master key rotation
// (see docs/management-api.md). The live rows are locked FOR UPDATE as they are read, so a
// concurrent delete waits for the rekey, and a concurrent rekey reseals what this one wrote.
func (s *Store) RekeyBYOK(ctx context.Context, reseal func(ciphertext, aad []byte) ([]byte, error)) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		creds, err := queryBYOK(ctx, tx, "SELECT "+byokColumns+" FROM byok_credentials WHERE deleted_at IS NULL ORDER BY id FOR UPDATE")
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
			if _, err := tx.Exec(ctx, "UPDATE byok_credentials SET ciphertext = $1 WHERE id = $2", next, c.ID); err != nil {
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
