package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations is the schema history. Entry i is version i+1. Append only: never edit or reorder
// an entry that has shipped, because stores in the field record which versions they applied.
//
// Tables are STRICT so that a value of the wrong type (a []byte bound to a TEXT column, say) is
// an error at write time rather than a row that no query can find.
var migrations = []string{
	// 1: inference API keys. Times are unix milliseconds, UTC; expires_at NULL means never.
	`CREATE TABLE api_keys (
		id         INTEGER PRIMARY KEY,
		hash       BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
		name       TEXT    NOT NULL,
		label      TEXT    NOT NULL,
		disabled   INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NULL
	) STRICT;`,

	// 2: usage records, one per request that reached a provider. created_at is unix
	// microseconds, UTC. The indexes serve activity queries: by time, by key over time, by model
	// over time.
	`CREATE TABLE usage_records (
		generation_id      TEXT    PRIMARY KEY,
		created_at         INTEGER NOT NULL,
		key_id             INTEGER NOT NULL,
		model              TEXT    NOT NULL,
		provider           TEXT    NOT NULL,
		upstream_model     TEXT    NOT NULL,
		prompt_tokens      INTEGER NOT NULL,
		completion_tokens  INTEGER NOT NULL,
		reasoning_tokens   INTEGER NOT NULL,
		cached_tokens      INTEGER NOT NULL,
		cache_write_tokens INTEGER NOT NULL,
		cost_nanos         INTEGER NOT NULL,
		latency_us         INTEGER NOT NULL,
		ttfb_us            INTEGER NOT NULL,
		status             INTEGER NOT NULL,
		streamed           INTEGER NOT NULL,
		cancelled          INTEGER NOT NULL,
		error_code         TEXT    NOT NULL DEFAULT ''
	) STRICT;
	CREATE INDEX usage_records_created_at ON usage_records (created_at);
	CREATE INDEX usage_records_key_created_at ON usage_records (key_id, created_at);
	CREATE INDEX usage_records_model_created_at ON usage_records (model, created_at);`,
}

// migrate brings the schema up to date. db must be the write pool, whose transactions begin
// IMMEDIATE: each migration takes the write lock before checking whether its version is
// recorded, so when several processes open a fresh file at once exactly one applies it and the
// others, once they get the lock, see its row and skip it.
func migrate(ctx context.Context, db *sql.DB) error {
	const ddl = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this binary supports (%d); upgrade arouter", current, len(migrations))
	}
	for i := current; i < len(migrations); i++ {
		if err := applyMigration(ctx, db, i+1, migrations[i]); err != nil {
			return fmt.Errorf("apply migration %d: %w", i+1, err)
		}
	}
	return nil
}

// applyMigration applies one migration and records its version in the same transaction, so a
// crash leaves either both or neither.
func applyMigration(ctx context.Context, db *sql.DB, version int, ddl string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var applied int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", version).Scan(&applied); err != nil {
		return err
	}
	if applied > 0 {
		return nil // another process got there first
	}
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", version, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}
