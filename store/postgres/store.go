// Package postgres is ARouter's scale-out store: PostgreSQL through pgx, shared by every gateway
// replica and by CLI commands. It implements the same methods, with the same semantics, as the
// embedded SQLite store (package store/sqlite), over a schema with the same tables and columns.
//
// SQLite serialises every write transaction on the file's write lock (BEGIN IMMEDIATE), so its
// check-then-write transactions are race-free by construction. PostgreSQL runs transactions
// concurrently at READ COMMITTED, where each statement sees what had committed when it began.
// Every transaction here that checks something and then writes on the strength of it therefore
// first locks the row its check depends on (SELECT … FOR UPDATE / FOR NO KEY UPDATE / FOR
// SHARE): a concurrent transaction with the same check waits for the lock, and its following
// statements see what the first one committed. Each method's comment names the lock it takes.
// Uniqueness is left to UNIQUE constraints and indexes, whose violations (SQLSTATE 23505) map to
// tenancy.ErrExists as SQLite's constraint errors do.
//
// Conventions shared with the SQLite schema: times are integers (unix milliseconds, or
// microseconds where a column says so), money is integer nanos, and flags are BIGINT 0 or 1
// (with a CHECK where SQLite has one), so that rows map to Go values by the same code.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// defaultConnectTimeout bounds each connection attempt when the URL sets no connect_timeout,
// so that a server that drops packets fails Open in seconds rather than hanging start-up.
const defaultConnectTimeout = 10 * time.Second

// Names of the statements prepared on every pooled connection: the hot reads. pgx runs a query
// whose SQL is one of these names as that prepared statement.
const (
	stmtLoadKey   = "arouter_load_key"  // the key cache's miss and refresh path
	stmtPrincipal = "arouter_principal" // every Management API request
)

// preparedStatements are prepared on each connection as the pool opens it.
var preparedStatements = map[string]string{
	stmtLoadKey:   loadKeySQL,
	stmtPrincipal: principalSQL,
}

// Store is an open PostgreSQL store. It is safe for concurrent use, by several goroutines and by
// several processes on one database.
type Store struct {
	path string // the URL with its password redacted: what Path returns
	pool *pgxpool.Pool
}

// Open connects to the database at url (a postgres:// URL; pool settings such as
// pool_max_conns and runtime parameters such as search_path may be given as query parameters)
// and brings the schema up to date. Several processes may open one database at once: each
// migration is applied exactly once (see migrate). Errors say what the operator can do and
// never contain the password.
func Open(ctx context.Context, url string) (*Store, error) {
	s := &Store{path: redact(url)}
	if strings.TrimSpace(url) == "" {
		return nil, errors.New("open store: empty PostgreSQL URL; set the store URL in the configuration " +
			"(postgres://user:password@host:5432/database)")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors redact the password themselves.
		return nil, fmt.Errorf("open store %s: %w; check the store URL in the configuration "+
			"(postgres://user:password@host:5432/database)", s.path, err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}

	// Migrate over a connection of its own before the pool exists: the pool prepares the hot
	// statements on every connection it opens, which needs the tables.
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return nil, s.explain(err)
	}
	err = migrate(ctx, conn)
	if cerr := conn.Close(context.WithoutCancel(ctx)); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, s.explain(err)
	}

	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		for name, sql := range preparedStatements {
			if _, err := c.Prepare(ctx, name, sql); err != nil {
				return fmt.Errorf("prepare %s: %w", name, err)
			}
		}
		return nil
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, s.explain(err)
	}
	// The pool connects lazily; open one connection now so that a problem shows at start-up.
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, s.explain(err)
	}
	return s, nil
}

// explain wraps an error from opening the store with what the operator can do about it.
func (s *Store) explain(err error) error {
	hint := "check the store URL in the configuration and that the PostgreSQL server is running"
	var (
		pe *pgconn.PgError
		ne net.Error
	)
	switch {
	case errors.As(err, &pe):
		switch {
		case pe.Code == "28P01" || pe.Code == "28000":
			hint = "the server refused the credentials; check the user name and password in the store URL " +
				"and the server's pg_hba.conf"
		case pe.Code == "3D000":
			hint = "the database does not exist; create it (createdb) or fix the database name in the store URL"
		case pe.Code == "3F000":
			hint = "the schema named by search_path does not exist; create it or fix search_path in the store URL"
		case pe.Code == "42501":
			hint = "the user lacks a privilege the store needs (creating tables in its schema, the first time); " +
				"grant it or use another user"
		case pe.Code == "53300":
			hint = "the server has no connection slots left; raise max_connections or lower pool_max_conns"
		case pe.Code == "57P03":
			hint = "the server is starting up or shutting down; retry shortly"
		case strings.HasPrefix(pe.Code, "53"):
			hint = "the server is out of resources (disk, memory); see its log"
		}
	case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
		hint = "the server did not answer in time; check the host and port in the store URL, " +
			"that the server is running and that no firewall drops the connection"
	case errors.As(err, &ne):
		hint = "could not reach the server; check the host and port in the store URL and that the " +
			"PostgreSQL server is running and accepts TCP connections"
	case strings.Contains(err.Error(), "tls") || strings.Contains(err.Error(), "SSL"):
		hint = "the TLS handshake failed; check sslmode (and the certificates) in the store URL"
	}
	// pgx's connection errors name the host, user and database, never the password.
	return fmt.Errorf("open store %s: %w; %s", s.path, err, hint)
}

// inTx runs fn in a transaction and commits it if fn returns nil. The transaction runs at READ
// COMMITTED: fn must lock what its checks depend on before writing (see the package comment).
// An error from fn or from the commit rolls everything back.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Path returns the URL the store was opened with, its password replaced by "xxxxx": what the
// CLI prints to say which store it uses.
func (s *Store) Path() string { return s.path }

// Ping reports whether the store answers queries; it is the readiness check. It reads a real
// table, so a server that answers but lost the schema (or a wrong search_path) is not ready.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM (SELECT 1 FROM schema_migrations LIMIT 1) AS m").Scan(&n)
	if err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	return nil
}

// Close closes the pool's connections, waiting for those in use to be released.
func (s *Store) Close() error {
	if s.pool != nil {
		s.pool.Close()
	}
	return nil
}

// dsnPassword matches a password in a key=value connection string, quoted or not.
var dsnPassword = regexp.MustCompile(`((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

// redact returns connection string u with every password replaced by "xxxxx".
func redact(u string) string {
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		p, err := url.Parse(u)
		if err != nil {
			return "(unparseable PostgreSQL URL)"
		}
		if _, ok := p.User.Password(); ok {
			p.User = url.UserPassword(p.User.Username(), "xxxxx")
		}
		q := p.Query()
		changed := false
		for k := range q {
			if lk := strings.ToLower(k); lk == "password" || lk == "sslpassword" {
				q.Set(k, "xxxxx")
				changed = true
			}
		}
		if changed {
			p.RawQuery = q.Encode()
		}
		return p.String()
	}
	return dsnPassword.ReplaceAllString(u, "${1}xxxxx")
}
