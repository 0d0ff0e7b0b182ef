package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/money"
)

// loadKeySpendSQL sums usage_daily per key budget, in total and from the first day of each
// period; $1, $2 and $3 are the day numbers on which the current day, week and month start.
const loadKeySpendSQL = `SELECT budget_id, sum(cost_nanos)::bigint,
		sum(CASE WHEN day >= $1 THEN cost_nanos ELSE 0 END)::bigint,
		sum(CASE WHEN day >= $2 THEN cost_nanos ELSE 0 END)::bigint,
		sum(CASE WHEN day >= $3 THEN cost_nanos ELSE 0 END)::bigint,
		sum(byok_cost_nanos)::bigint,
		sum(CASE WHEN day >= $1 THEN byok_cost_nanos ELSE 0 END)::bigint,
		sum(CASE WHEN day >= $2 THEN byok_cost_nanos ELSE 0 END)::bigint,
		sum(CASE WHEN day >= $3 THEN byok_cost_nanos ELSE 0 END)::bigint
	FROM usage_daily GROUP BY budget_id`

// LoadSpend reads what the budget ledger starts from: per key budget, the spend in total and
// in the UTC day, week (from Monday) and month containing now; per context, the credits granted
// and spent in total. It reads the usage_daily roll-up, not the records. Budgets and contexts
// appear only if they have usage or grants; usage charged to context 0 (keys made before
// organizations existed) and to budget 0 is reported as it is.
//
// The three queries run in one REPEATABLE READ, read-only transaction: one snapshot, so the
// figures are consistent with each other even while other replicas write (at READ COMMITTED,
// each statement would see a later state than the one before).
func (s *Store) LoadSpend(ctx context.Context, now time.Time) (snap budget.Snapshot, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("load spend: %w", err)
		}
	}()
	snap = budget.Snapshot{At: now, Keys: map[int64]budget.KeySpend{}, Orgs: map[int64]budget.OrgBalance{}}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return snap, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only

	rows, err := tx.Query(ctx, loadKeySpendSQL,
		dayNumber(apikey.Daily.Start(now)), dayNumber(apikey.Weekly.Start(now)), dayNumber(apikey.Monthly.Start(now)))
	if err != nil {
		return snap, err
	}
	for rows.Next() {
		var id int64
		var v [8]int64
		if err := rows.Scan(&id, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]); err != nil {
			rows.Close()
			return snap, err
		}
		snap.Keys[id] = budget.KeySpend{
			Total: money.Nanos(v[0]), Day: money.Nanos(v[1]), Week: money.Nanos(v[2]), Month: money.Nanos(v[3]),
			BYOKTotal: money.Nanos(v[4]), BYOKDay: money.Nanos(v[5]), BYOKWeek: money.Nanos(v[6]), BYOKMonth: money.Nanos(v[7]),
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return snap, err
	}

	for _, q := range []struct {
		sql  string
		used bool
	}{
		{"SELECT org_id, sum(cost_nanos)::bigint FROM usage_daily GROUP BY org_id", true},
		{"SELECT org_id, sum(amount_nanos)::bigint FROM credit_grants GROUP BY org_id", false},
	} {
		rows, err := tx.Query(ctx, q.sql)
		if err != nil {
			return snap, err
		}
		for rows.Next() {
			var id, n int64
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return snap, err
			}
			b := snap.Orgs[id]
			if q.used {
				b.Used = money.Nanos(n)
			} else {
				b.Credits = money.Nanos(n)
			}
			snap.Orgs[id] = b
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return snap, err
		}
	}
	return snap, nil
}
