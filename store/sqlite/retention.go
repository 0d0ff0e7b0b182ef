package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// maxDeleteBatch bounds one DeleteUsageBefore transaction, which holds the store's only write
// lock for its whole length.
const maxDeleteBatch = 100_000

// DeleteUsageBefore deletes up to batch usage records created before t, oldest first, in one
// write transaction, and returns how many it deleted. The daily roll-ups are left as they are
// (the writer adds to them on insert only), so activity reports keep every day's figures
// after the records behind them are gone. The prompt-logging bodies of the records go with them,
// in the same statement (trigger usage_records_delete_bodies), overwritten with zeros in the
// file (secure_delete).
//
// A backlog is deleted by calling it until it returns less than batch, pausing in between:
// every call holds the write lock that the accounting writer needs, so small batches keep its
// wait short. It finds the records through the created_at index, so a call costs the rows it
// deletes, not the size of the table.
func (s *Store) DeleteUsageBefore(ctx context.Context, t time.Time, batch int) (int64, error) {
	if batch <= 0 || batch > maxDeleteBatch {
		return 0, fmt.Errorf("delete usage: batch %d is outside 1..%d", batch, maxDeleteBatch)
	}
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM usage_records WHERE rowid IN (
			SELECT rowid FROM usage_records WHERE created_at < ? ORDER BY created_at LIMIT ?)`, t.UnixMicro(), batch)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete usage records before %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}
