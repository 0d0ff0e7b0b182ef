package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arouter/arouter/money"
)

// Credit grants. LoadSpend, which reads them with the usage roll-ups, is in spend.go.

// AddCredits grants amount to orgID's credit pool on behalf of byUserID (0 for the gateway
// itself, such as the bootstrap grant). Grants are kept one per row, never summed in place, so
// the pool's history stays auditable and concurrent grants need no lock. The amount is not
// validated here: that is the API's job. An unknown organization returns an error wrapping
// tenancy.ErrNotFound.
func (s *Store) AddCredits(ctx context.Context, orgID int64, amount money.Nanos, byUserID int64) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := orgExists(ctx, tx, orgID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			"INSERT INTO credit_grants (org_id, amount_nanos, user_id, created_at) VALUES ($1, $2, $3, $4)",
			orgID, int64(amount), byUserID, time.Now().UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("add credits to organization %d: %w", orgID, err)
	}
	return nil
}

// CreditsOf returns the credits ever granted to orgID: 0 for an organization with no grants,
// or none at all. PostgreSQL's sum of BIGINT is NUMERIC; the cast back fails loudly rather than
// wrapping should grants ever exceed the int64 range.
func (s *Store) CreditsOf(ctx context.Context, orgID int64) (money.Nanos, error) {
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT coalesce(sum(amount_nanos), 0)::bigint FROM credit_grants WHERE org_id = $1", orgID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("credits of organization %d: %w", orgID, err)
	}
	return money.Nanos(n), nil
}

// CreditTotals returns every context's credits granted so far. A running gateway reads it
// periodically, so that grants made by another process (the CLI, another replica) take effect
// without a restart.
func (s *Store) CreditTotals(ctx context.Context) (map[int64]money.Nanos, error) {
	rows, err := s.pool.Query(ctx, "SELECT org_id, sum(amount_nanos)::bigint FROM credit_grants GROUP BY org_id")
	if err != nil {
		return nil, fmt.Errorf("read credit totals: %w", err)
	}
	defer rows.Close()
	out := map[int64]money.Nanos{}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("read credit totals: %w", err)
		}
		out[id] = money.Nanos(n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read credit totals: %w", err)
	}
	return out, nil
}
