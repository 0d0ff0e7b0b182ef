package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// migrations is the schema history. Entry i is version i+1. Append only: never edit or reorder
// an entry that has shipped, because databases in the field record which versions they applied.
//
// Version 1 is the SQLite store's schema as its ninth migration left it, in PostgreSQL types:
// the same tables, columns, constraints and indexes, so that the two stores' code and the data
// moved between them map one to one. Later changes are new entries, as in SQLite.
var migrations = []string{
	// 1: everything. schemaCore (below) holds tenancy, inference keys, credit grants, BYOK
	// credentials and invitations; schemaUsage (schema_usage.go) the usage records, their
	// roll-ups and logged bodies.
	schemaCore + schemaUsage,
}

// emailKey is the form of users.email that is unique and that lookups compare: the address
// with ASCII letters in lower case, which is what SQLite's COLLATE NOCASE compares. (lower()
// would also fold non-ASCII letters, per the database's locale, and so could refuse or match
// addresses that the SQLite store keeps apart.) The unique index users_email is on this
// expression, so a lookup written with the same expression uses it.
const emailKey = "translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"

// emailKeyOf is emailKey applied to a query parameter.
const emailKeyOf = "translate($1, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"

// schemaCore is the DDL of everything but usage. Types follow the SQLite schema: INTEGER is
// BIGINT, BLOB is BYTEA, TEXT is TEXT. Times are unix milliseconds, UTC, in BIGINT; flags are
// BIGINT 0 or 1 and checked so. Row ids that code relies on (a key's id is its default budget, a
// credential's id is never reused) are identity columns, which never hand out an id twice, even
// after a rollback or a deletion.
const schemaCore = `
-- Organizations ("contexts"): each user has a personal one, created with them.
CREATE TABLE orgs (
	id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name           TEXT   NOT NULL,
	personal       BIGINT NOT NULL DEFAULT 0 CHECK (personal IN (0, 1)),
	created_at     BIGINT NOT NULL,
	prompt_logging BIGINT NOT NULL DEFAULT 0 CHECK (prompt_logging IN (0, 1))
);

CREATE TABLE users (
	id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email           TEXT   NOT NULL,
	name            TEXT   NOT NULL,
	instance_admin  BIGINT NOT NULL DEFAULT 0 CHECK (instance_admin IN (0, 1)),
	personal_org_id BIGINT NOT NULL REFERENCES orgs (id),
	created_at      BIGINT NOT NULL
);
-- Emails are unique regardless of ASCII case (see emailKey in migrations.go).
CREATE UNIQUE INDEX users_email ON users (` + emailKey + `);
-- At most one instance admin, even when two processes bootstrap a fresh store at once.
CREATE UNIQUE INDEX users_instance_admin ON users (instance_admin) WHERE instance_admin = 1;

CREATE TABLE memberships (
	org_id     BIGINT NOT NULL REFERENCES orgs (id),
	user_id    BIGINT NOT NULL REFERENCES users (id),
	role       TEXT   NOT NULL CHECK (role IN ('admin', 'member')),
	created_at BIGINT NOT NULL,
	PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_id ON memberships (user_id);

-- Management API keys, by SHA-256 hash. A deleted key keeps its row, so its hash is never reused.
CREATE TABLE management_keys (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	hash       BYTEA  NOT NULL UNIQUE CHECK (length(hash) = 32),
	name       TEXT   NOT NULL,
	label      TEXT   NOT NULL,
	user_id    BIGINT NOT NULL REFERENCES users (id),
	org_id     BIGINT NOT NULL REFERENCES orgs (id),
	created_at BIGINT NOT NULL,
	deleted_at BIGINT NULL
);
CREATE INDEX management_keys_org_user ON management_keys (org_id, user_id);
-- Redeeming an invitation asks whether the user ever held a management key.
CREATE INDEX management_keys_user_id ON management_keys (user_id);

-- Credit grants, one row each, never summed in place. user_id 0 is the gateway itself.
CREATE TABLE credit_grants (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id       BIGINT NOT NULL REFERENCES orgs (id),
	amount_nanos BIGINT NOT NULL,
	user_id      BIGINT NOT NULL,
	created_at   BIGINT NOT NULL
);
CREATE INDEX credit_grants_org_id ON credit_grants (org_id);

-- Inference API keys, by SHA-256 hash. org_id 0 is "no context yet" (keys made before
-- organizations existed), so it has no foreign key. budget_id is the key whose spend limit this
-- key shares: its own id unless it was rotated from another key. limit_nanos NULL means no
-- limit, expires_at NULL never. A deleted key keeps its row, so that usage records keep naming
-- it and its hash is never reused. allowed_models is a JSON array of model patterns.
CREATE TABLE api_keys (
	id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	hash                  BYTEA  NOT NULL UNIQUE CHECK (length(hash) = 32),
	name                  TEXT   NOT NULL,
	label                 TEXT   NOT NULL,
	disabled              BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	created_at            BIGINT NOT NULL,
	expires_at            BIGINT NULL,
	org_id                BIGINT NOT NULL DEFAULT 0,
	creator_id            BIGINT NOT NULL DEFAULT 0,
	budget_id             BIGINT NOT NULL DEFAULT 0,
	limit_nanos           BIGINT NULL,
	limit_reset           TEXT   NOT NULL DEFAULT '' CHECK (limit_reset IN ('', 'daily', 'weekly', 'monthly')),
	allowed_models        TEXT   NOT NULL DEFAULT '[]' CHECK (json_typeof(allowed_models::json) = 'array'),
	include_byok_in_limit BIGINT NOT NULL DEFAULT 0 CHECK (include_byok_in_limit IN (0, 1)),
	updated_at            BIGINT NOT NULL DEFAULT 0,
	deleted_at            BIGINT NULL,
	prompt_logging        BIGINT NOT NULL DEFAULT 0 CHECK (prompt_logging IN (0, 1))
);
CREATE INDEX api_keys_org_id ON api_keys (org_id, id);
CREATE INDEX api_keys_budget_id ON api_keys (budget_id);

-- Organizations' own provider credentials (BYOK), sealed by package byok. A deleted credential
-- keeps its row (its id stays unique, for logs) but loses its ciphertext; at most one live
-- credential per organization and provider.
CREATE TABLE byok_credentials (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id     BIGINT NOT NULL REFERENCES orgs (id),
	provider   TEXT   NOT NULL,
	label      TEXT   NOT NULL,
	mode       TEXT   NOT NULL CHECK (mode IN ('prefer', 'fallback', 'only')),
	ciphertext BYTEA  NOT NULL,
	created_at BIGINT NOT NULL,
	deleted_at BIGINT NULL
);
CREATE UNIQUE INDEX byok_credentials_live ON byok_credentials (org_id, provider) WHERE deleted_at IS NULL;

-- Invitations: one-time codes, stored as SHA-256 hashes, with which an added member obtains
-- their own management key. Live while redeemed_at and voided_at are NULL and expires_at is in
-- the future. Rows are kept, so a hash is never reused.
CREATE TABLE invitations (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	hash        BYTEA  NOT NULL UNIQUE CHECK (length(hash) = 32),
	org_id      BIGINT NOT NULL REFERENCES orgs (id),
	user_id     BIGINT NOT NULL REFERENCES users (id),
	invited_by  BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL,
	redeemed_at BIGINT NULL,
	voided_at   BIGINT NULL
);
CREATE INDEX invitations_org_user ON invitations (org_id, user_id);
`

// migrationLockClass is the first key of the advisory lock that serialises migrations; the
// second is a hash of the schema being migrated, so that stores in different schemas of one
// database (tests do this) do not wait for each other. The value spells "ARou".
const migrationLockClass = 0x41526f75

// migrate brings the schema up to date over conn. Each migration is applied in its own
// transaction holding a transaction-level advisory lock, taken before reading the schema version:
// when several replicas start at once against a fresh database, exactly one applies each
// migration and the others, once they get the lock, see its row and move on. The lock is
// released by the commit or rollback, even if the process dies.
func migrate(ctx context.Context, conn *pgx.Conn) error {
	return migrateTo(ctx, conn, len(migrations))
}

// migrateTo applies the migrations up to version target; tests use it to build a store as an
// older binary left it.
func migrateTo(ctx context.Context, conn *pgx.Conn, target int) error {
	for {
		done, err := migrateOne(ctx, conn, target)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the first migration not yet applied, if its version is at most target, and
// reports whether there was nothing left to do.
func migrateOne(ctx context.Context, conn *pgx.Conn, target int) (done bool, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit

	// current_schema() is where unqualified CREATE TABLE goes: the first schema of search_path
	// that exists. NULL (none exists) would make the lock a no-op, hence coalesce; the CREATE
	// below then fails with a clear error.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))",
		int32(migrationLockClass)); err != nil {
		return false, fmt.Errorf("lock the schema for migration: %w", err)
	}
	const ddl = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`
	if _, err := tx.Exec(ctx, ddl); err != nil {
		return false, fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	if current > len(migrations) {
		return false, fmt.Errorf("%w: schema version %d is newer than this binary supports (%d); upgrade arouter "+
			"to the version that last migrated this database, or newer", errNewerSchema, current, len(migrations))
	}
	if current >= target {
		return true, tx.Commit(ctx)
	}
	version := current + 1
	if _, err := tx.Exec(ctx, migrations[version-1]); err != nil {
		return false, fmt.Errorf("apply migration %d: %w", version, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
		version, time.Now().UnixMilli()); err != nil {
		return false, fmt.Errorf("record migration %d: %w", version, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("commit migration %d: %w", version, err)
	}
	return false, nil
}

// errNewerSchema marks a database migrated by a newer binary; Open adds nothing to its advice.
var errNewerSchema = errors.New("database schema is too new")
