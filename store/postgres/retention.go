package postgres

import (
	"context"
	"fmt"
	"time"
)

// maxDeleteBatch bounds one DeleteUsageBefore statement, which holds its rows' locks (and the
// bodies it cascades to) until it commits.
const maxDeleteBatch = 100_000

// deleteUsageSQL deletes the oldest records before a cutoff, found through
// usage_records_created_at, so a call costs the rows it deletes, not the size of the table.
//
// FOR UPDATE SKIP LOCKED: when the pruners of several replicas run at once, each takes rows the
// others have not locked instead of queueing behind them, and since nobody waits, two pruners
// can never deadlock over rows they lock in different orders. A row skipped this way is left
// for the next call (or the next run): a call that skipped rows may return less than batch
// while older records remain, which only ends this run's pass early.
//
// The records' prompt-logging bodies go in the same statement (usage_bodies' foreign key is ON
// DELETE CASCADE). PostgreSQL has no secure_delete: a deleted body stays in the table's files
// until VACUUM reclaims its space and new rows overwrite it.
const deleteUsageSQL = `DELETE FROM usage_records WHERE generation_id IN (
	SELECT generation_id FROM usage_records WHERE created_at < $1
	ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`

// DeleteUsageBefore deletes up to batch usage records created before t, oldest first, in one
// transaction, and returns how many it deleted. The daily roll-ups are left as they are (the
// writer adds to them on insert only), so activity reports keep every day's figures after the
// records behind them are gone. The prompt-logging bodies of the records go with them.
//
// A backlog is deleted by calling it until it returns less than batch, pausing in between, so
// that each call's locks and its share of the server's I/O stay small.
func (s *Store) DeleteUsageBefore(ctx context.Context, t time.Time, batch int) (int64, error) {
	if batch <= 0 || batch > maxDeleteBatch {
		return 0, fmt.Errorf("delete usage: batch %d is outside 1..%d", batch, maxDeleteBatch)
	}
	tag, err := s.pool.Exec(ctx, deleteUsageSQL, t.UnixMicro(), batch)
	if err != nil {
		return 0, fmt.Errorf("delete usage records before %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}
