package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/money"
)

// AddCredits grants amount to orgID's credit pool on behalf of byUserID (0 for the gateway
// itself, such as the bootstrap grant). Grants are kept one per row, never summed in place, so
// the pool's history stays auditable. The amount is not validated here: that is the API's job.
// An unknown organization returns an error wrapping tenancy.ErrNotFound.
func (s *Store) AddCredits(ctx context.Context, orgID int64, amount money.Nanos, byUserID int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := orgExists(ctx, tx, orgID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			"INSERT INTO credit_grants (org_id, amount_nanos, user_id, created_at) VALUES (?, ?, ?, ?)",
			orgID, int64(amount), byUserID, time.Now().UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("add credits to organization %d: %w", orgID, err)
	}
	return nil
}

// CreditsOf returns the credits ever granted to orgID: 0 for an organization with no grants,
// or none at all.
func (s *Store) CreditsOf(ctx context.Context, orgID int64) (money.Nanos, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, "SELECT coalesce(sum(amount_nanos), 0) FROM credit_grants WHERE org_id = ?", orgID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("credits of organization %d: %w", orgID, err)
	}
	return money.Nanos(n), nil
}

// dayMicros is the length of a day in usage_records.created_at units; usage_daily.day is
// created_at / dayMicros.
const dayMicros = 24 * 60 * 60 * 1_000_000

// dayNumber returns the usage_daily.day of t, for t at or after 1970.
func dayNumber(t time.Time) int64 { return t.UnixMicro() / dayMicros }

// LoadSpend reads what the budget ledger starts from: per key budget, the spend in total and
// in the UTC day, week (from Monday) and month containing now; per context, the credits granted
// and spent in total. It reads the usage_daily roll-up, not the records, and everything in one
// read transaction, so the figures are consistent with each other. Budgets and contexts appear
// only if they have usage or grants; usage charged to context 0 (keys made before
// organizations existed) and to budget 0 is reported as it is.
func (s *Store) LoadSpend(ctx context.Context, now time.Time) (snap budget.Snapshot, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("load spend: %w", err)
		}
	}()
	snap = budget.Snapshot{At: now, Keys: map[int64]budget.KeySpend{}, Orgs: map[int64]budget.OrgBalance{}}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return snap, err
	}
	defer tx.Rollback() //nolint:errcheck // read only

	rows, err := tx.QueryContext(ctx, `SELECT budget_id, sum(cost_nanos),
			sum(CASE WHEN day >= ?1 THEN cost_nanos ELSE 0 END),
			sum(CASE WHEN day >= ?2 THEN cost_nanos ELSE 0 END),
			sum(CASE WHEN day >= ?3 THEN cost_nanos ELSE 0 END),
			sum(byok_cost_nanos),
			sum(CASE WHEN day >= ?1 THEN byok_cost_nanos ELSE 0 END),
			sum(CASE WHEN day >= ?2 THEN byok_cost_nanos ELSE 0 END),
			sum(CASE WHEN day >= ?3 THEN byok_cost_nanos ELSE 0 END)
		FROM usage_daily GROUP BY budget_id`,
		dayNumber(apikey.Daily.Start(now)), dayNumber(apikey.Weekly.Start(now)), dayNumber(apikey.Monthly.Start(now)))
	if err != nil {
		return snap, err
	}
	for rows.Next() {
		var id int64
		var ks budget.KeySpend
		if err := rows.Scan(&id, &ks.Total, &ks.Day, &ks.Week, &ks.Month,
			&ks.BYOKTotal, &ks.BYOKDay, &ks.BYOKWeek, &ks.BYOKMonth); err != nil {
			rows.Close()
			return snap, err
		}
		snap.Keys[id] = ks
	}
	if err := closeRows(rows); err != nil {
		return snap, err
	}

	for _, q := range []struct {
		sql  string
		used bool
	}{
		{"SELECT org_id, sum(cost_nanos) FROM usage_daily GROUP BY org_id", true},
		{"SELECT org_id, sum(amount_nanos) FROM credit_grants GROUP BY org_id", false},
	} {
		rows, err := tx.QueryContext(ctx, q.sql)
		if err != nil {
			return snap, err
		}
		for rows.Next() {
			var id int64
			var n money.Nanos
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return snap, err
			}
			b := snap.Orgs[id]
			if q.used {
				b.Used = n
			} else {
				b.Credits = n
			}
			snap.Orgs[id] = b
		}
		if err := closeRows(rows); err != nil {
			return snap, err
		}
	}
	return snap, nil
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// CreditTotals returns every context's credits granted so far. A running gateway reads it
// periodically, so that grants made by another process (the CLI on the same file) take effect
// without a restart.
func (s *Store) CreditTotals(ctx context.Context) (map[int64]money.Nanos, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT org_id, sum(amount_nanos) FROM credit_grants GROUP BY org_id")
	if err != nil {
		return nil, fmt.Errorf("read credit totals: %w", err)
	}
	out := map[int64]money.Nanos{}
	for rows.Next() {
		var id int64
		var n money.Nanos
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read credit totals: %w", err)
		}
		out[id] = n
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("read credit totals: %w", err)
	}
	return out, nil
}
