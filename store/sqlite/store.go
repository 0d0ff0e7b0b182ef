// Package sqlite is ARouter's embedded default store: one SQLite file in WAL mode, shared by the
// gateway and by CLI commands running in other processes at the same time.
//
// Each Store keeps two connection pools on the file. Writes go through a pool of exactly one
// connection, so writers inside this process queue in Go (cheap, fair, cancellable) instead of
// spinning in SQLite's busy handler; busy_timeout is then only needed for writers in other
// processes. Every write transaction starts with BEGIN IMMEDIATE, so it takes the write lock
// before reading and can never fail half-way with an unresolvable lock upgrade. Reads go through
// a separate, read-only pool that WAL lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeoutMS bounds how long a statement waits for another process's write lock. Write
// transactions here last milliseconds, so five seconds means something is wrong.
const busyTimeoutMS = 5000

// maxReaders caps the read pool. Reads are short, and the gateway's hot reads are cached above
// the store, so a few connections suffice.
const maxReaders = 4

// Store is an open SQLite store. It is safe for concurrent use.
type Store struct {
	path string
	w    *sql.DB // exactly one connection (a writeConn): all writes
	r    *sql.DB // read-only connections

	// upsertRollUp adds a batch's sums to usage_daily, usage_daily_models and
	// usage_daily_keys (see rollup.go); prepared on w.
	upsertRollUp [3]*sql.Stmt
	loadKey      *sql.Stmt // prepared on r; the key cache's miss path
	principal    *sql.Stmt // prepared on r; every Management API request
}

// Open opens the store at path, creating the file and its parent directory if needed, and
// brings the schema up to date. Several processes may open the same path at once.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open store: empty path; set the store path in the configuration")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create store directory: %w; check the store path in the configuration", err)
		}
	}
	// Creating the file ourselves gives a plain "open <path>: permission denied" instead of
	// SQLite's "unable to open database file". An empty file is a valid new database.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w; check the store path in the configuration", err)
	}
	f.Close()

	s := &Store{path: path}
	if err := s.open(context.Background()); err != nil {
		s.Close()
		return nil, explain(path, err)
	}
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	var err error
	wc, err := newWriteConnector(dsn(s.path, true))
	if err != nil {
		return err
	}
	s.w = sql.OpenDB(wc)
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0) // keep it, and its prepared statements, for the Store's life
	if err := s.w.PingContext(ctx); err != nil {
		return err
	}
	if err := migrate(ctx, s.w); err != nil {
		return err
	}

	if s.r, err = sql.Open("sqlite", dsn(s.path, false)); err != nil {
		return err
	}
	s.r.SetMaxOpenConns(maxReaders)
	s.r.SetMaxIdleConns(maxReaders)
	if err := s.r.PingContext(ctx); err != nil {
		return err
	}

	for i, q := range [3]string{upsertDailySQL, upsertModelsSQL, upsertKeysSQL} {
		if s.upsertRollUp[i], err = s.w.PrepareContext(ctx, q); err != nil {
			return fmt.Errorf("prepare roll-up upsert: %w", err)
		}
	}
	if s.loadKey, err = s.r.PrepareContext(ctx, loadKeySQL); err != nil {
		return fmt.Errorf("prepare key lookup: %w", err)
	}
	if s.principal, err = s.r.PrepareContext(ctx, principalSQL); err != nil {
		return fmt.Errorf("prepare management key lookup: %w", err)
	}
	return nil
}

// inTx runs fn in a write transaction and commits it if fn returns nil. The transaction begins
// IMMEDIATE, holding the file's write lock from its first statement, so what fn reads cannot
// change before it writes, in this process or any other: check-then-write is race-free. fn
// must use tx only: the write pool has one connection, which tx holds.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// walCheckpointPages is how many pages the write-ahead log holds before the writer copies them
// into the database file (see dsn).
const walCheckpointPages = 10_000

// uriEscaper escapes the characters that end or change a path in an SQLite URI filename.
var uriEscaper = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// dsn builds the driver's connection string. Pragmas are per connection, so they go in the DSN
// and apply to every connection the pool opens, not only the first. journal_mode=WAL is
// persistent in the file; only the writer sets it, because readers are query_only. The writer
// gets a larger page cache, since usage inserts touch three indexes spread over the file, and
// keeps the statement journal that multi-row INSERTs need in memory instead of a temp file.
// secure_delete makes the writer overwrite deleted rows with zeros, so that logged prompts
// deleted by retention do not linger in free pages of the file.
//
// wal_autocheckpoint is raised from SQLite's 1,000 pages to walCheckpointPages. Usage inserts
// dirty the same few pages (the tail of the table and of each index) batch after batch; a
// checkpoint copies each page once however many frames it has, so rarer checkpoints copy far
// fewer pages in all. Over 500,000 records BenchmarkWriteUsage wrote 40,000 records/s instead of
// 28,000, with 16% less CPU. The cost is a -wal file that grows to about 40 MB and stays that
// size: SQLite reuses it from the start after each checkpoint.
func dsn(path string, write bool) string {
	q := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)", busyTimeoutMS)
	if write {
		q += "&_pragma=cache_size(-16384)&_pragma=journal_mode(WAL)&_pragma=temp_store(MEMORY)&_pragma=secure_delete(1)" +
			fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)", walCheckpointPages) + "&_txlock=immediate"
	} else {
		q += "&_pragma=query_only(1)"
	}
	return "file:" + uriEscaper.Replace(filepath.ToSlash(filepath.Clean(path))) + "?" + q
}

// explain wraps an error from opening the store with what the operator can do about it.
func explain(path string, err error) error {
	hint := "check the store path in the configuration"
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			hint = "another process has held the store locked for more than " +
				fmt.Sprint(busyTimeoutMS/1000) + "s; retry, or stop it"
		case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			hint = "the file is not a valid ARouter store; check the store path in the configuration"
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_IOERR:
			hint = "check that the store file and its directory are writable by this user"
		case sqlite3.SQLITE_FULL:
			hint = "the disk is full; free some space"
		}
	}
	return fmt.Errorf("open %s: %w; %s", path, err, hint)
}

// Path returns the path the store was opened with.
func (s *Store) Path() string { return s.path }

// Ping reports whether the store answers queries; it is the readiness check. It reads a real
// table through the read pool, so it does not wait behind a long write.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM schema_migrations LIMIT 1)").Scan(&n)
	if err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	return nil
}

// Close closes the store. The last connection to close checkpoints the WAL into the main file.
func (s *Store) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.upsertRollUp[0], s.upsertRollUp[1], s.upsertRollUp[2], s.loadKey, s.principal} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	for _, db := range []*sql.DB{s.r, s.w} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}
