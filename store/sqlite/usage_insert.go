package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"modernc.org/sqlite"

	"github.com/arouter/arouter/accounting"
)

// writeConn is the write pool's connection: the driver's connection, plus the usage inserts
// prepared on it, which live and die with it. The driver's documented wrapping pattern: it
// forwards the optional interfaces the driver's connections implement (sqliteConn) and
// unwraps to the driver's connection.
type writeConn struct {
	sqliteConn
	inserts usageInserts
}

// sqliteConn is what database/sql uses of the driver's connections.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// Close finalizes the usage inserts, which the connection must outlive, and closes it.
// database/sql calls it under the connection's lock.
func (c *writeConn) Close() error {
	return errors.Join(c.inserts.close(), c.sqliteConn.Close())
}

// Unwrap returns the driver's connection.
func (c *writeConn) Unwrap() driver.Conn { return c.sqliteConn }

// writeConnector opens writeConns.
type writeConnector struct{ driver.Connector }

// newWriteConnector returns the write pool's connector for dsn.
func newWriteConnector(dsn string) (driver.Connector, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return writeConnector{c}, nil
}

func (w writeConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := w.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := dc.(sqliteConn)
	if !ok {
		dc.Close()
		return nil, fmt.Errorf("sqlite driver connection %T lacks the interfaces the store uses", dc)
	}
	wc := &writeConn{sqliteConn: sc}
	wc.inserts.conn = sc
	return wc, nil
}

// usageInserts runs the usage_records inserts below database/sql, on statements prepared once
// per connection.
//
// Why: database/sql converts each call's arguments into a fresh []driver.NamedValue. At 1,300
// parameters per chunk that was 1.2 KB of garbage per record, two thirds of everything the
// accounting writer allocated, and the collections it caused showed in the gateway's tail
// latency. Here the argument slices are reused. The statements are executed with a context
// that cannot be cancelled, which spares the driver a watcher goroutine per statement;
// cancellation is checked between chunks instead, and a chunk is a fraction of a millisecond.
//
// Ownership: a usageInserts belongs to its writeConn. It is used inside sql.Conn.Raw, and
// closed by database/sql closing the connection, both under the connection's lock.
type usageInserts struct {
	conn  driver.ConnPrepareContext
	stmts map[int]insertStmt // by rows: chunkRows, and the powers of two below it
	vals  []any
	args  []driver.NamedValue
}

// insertStmt is what the driver's prepared statements implement.
type insertStmt interface {
	driver.Stmt
	driver.StmtExecContext
}

// stmt returns the insert of rows rows, preparing it on first use. A statement costs about
// 0.25 ms to prepare, as much as inserting 50 rows, so it is prepared once per connection,
// not per batch. That limits the sizes kept: a batch's tail is inserted as a sum of powers of
// two (23 rows as 16, 4, 2 and 1), which needs six statements and at most six executions.
func (u *usageInserts) stmt(ctx context.Context, rows int) (insertStmt, error) {
	if st := u.stmts[rows]; st != nil {
		return st, nil
	}
	ds, err := u.conn.PrepareContext(ctx, insertUsageSQL(rows))
	if err != nil {
		return nil, err
	}
	st, ok := ds.(insertStmt)
	if !ok {
		ds.Close()
		return nil, fmt.Errorf("sqlite driver statement %T cannot execute with a context", ds)
	}
	if u.stmts == nil {
		u.stmts = map[int]insertStmt{}
	}
	u.stmts[rows] = st
	return st, nil
}

// rowsPerStatement is how many of n records the next statement inserts: a whole chunk, or
// the largest power of two n holds.
func rowsPerStatement(n int) int {
	if n >= chunkRows {
		return chunkRows
	}
	return 1 << (bits.Len(uint(n)) - 1)
}

// close finalizes the statements.
func (u *usageInserts) close() error {
	var errs []error
	for _, st := range u.stmts {
		errs = append(errs, st.Close())
	}
	clear(u.stmts)
	return errors.Join(errs...)
}

// exec runs st with recs' rows and returns how many were inserted.
func (u *usageInserts) exec(st insertStmt, recs []accounting.Record) (int64, error) {
	u.vals = appendUsageArgs(u.vals[:0], recs)
	u.args = u.args[:0]
	for i, v := range u.vals {
		u.args = append(u.args, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	// Background: no watcher goroutine (see usageInserts); the caller checks its context.
	res, err := st.ExecContext(context.Background(), u.args)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// insertChunks inserts recs chunkRows at a time (the tail in fewer) and sums them, resting
// after each chunk when ctx asks for pacing. It returns errStoredBefore as soon as a
// statement inserts fewer rows than it holds: a multi-row insert tells how many rows are new,
// not which.
func (u *usageInserts) insertChunks(ctx context.Context, recs []accounting.Record, sums *batchSums) error {
	for rest := recs; len(rest) > 0; {
		if err := ctx.Err(); err != nil {
			return err
		}
		stepStart := time.Now()
		n := rowsPerStatement(len(rest))
		st, err := u.stmt(ctx, n)
		if err != nil {
			return err
		}
		inserted, err := u.exec(st, rest[:n])
		if err != nil {
			return err
		}
		if inserted != int64(n) {
			return errStoredBefore
		}
		for i := range n {
			sums.add(&rest[i])
		}
		rest = rest[n:]
		if n == chunkRows || len(rest) == 0 {
			// Resting holds the write lock a little longer; requests never take it, and
			// the Management API's writes wait far less than their busy timeout.
			accounting.Pause(ctx, stepStart)
		}
	}
	return nil
}

// insertEach inserts recs one at a time, summing those that were not stored yet.
func (u *usageInserts) insertEach(ctx context.Context, recs []accounting.Record, sums *batchSums) error {
	one, err := u.stmt(ctx, 1)
	if err != nil {
		return err
	}
	for i := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		inserted, err := u.exec(one, recs[i:i+1])
		if err != nil {
			return err
		}
		if inserted == 1 {
			sums.add(&recs[i])
		}
	}
	return nil
}

// withInserts runs fn with the usage inserts of conn's connection.
func withInserts(conn *sql.Conn, fn func(u *usageInserts) error) error {
	return conn.Raw(func(dc any) error {
		wc, ok := dc.(*writeConn)
		if !ok {
			return fmt.Errorf("usage insert on a %T, not the write connection", dc)
		}
		return fn(&wc.inserts)
	})
}
