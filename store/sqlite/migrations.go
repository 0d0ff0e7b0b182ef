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

	// 3: users, organizations, memberships, management keys and credit grants; who owns an
	// inference key, its spend limit and model restrictions, and soft deletion (a deleted key
	// keeps its row so that its usage records keep naming it); which context and key budget
	// each usage record charged; and usage_daily, a daily roll-up that start-up and activity
	// queries read instead of scanning every record.
	//
	// Existing keys become their own budget and belong to context 0 until AssignOrphanKeys
	// moves them. Existing usage records keep budget_id 0 (rewriting every record would make
	// the upgrade as slow as the table is large); their budget is their key, which is what the
	// roll-up backfill records.
	//
	// usage_daily is maintained by a trigger, so it can never disagree with usage_records: a
	// record skipped by WriteUsage's ON CONFLICT DO NOTHING fires no trigger, so a replayed
	// batch adds nothing. Its key includes org_id and budget_id, so a row never mixes spend
	// charged to different contexts or budgets (a key moved by AssignOrphanKeys during a day
	// gets a second row for that day instead of carrying its old context's attribution).
	`CREATE TABLE orgs (
		id         INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		personal   INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL
	) STRICT;
	CREATE TABLE users (
		id              INTEGER PRIMARY KEY,
		email           TEXT    NOT NULL COLLATE NOCASE UNIQUE,
		name            TEXT    NOT NULL,
		instance_admin  INTEGER NOT NULL DEFAULT 0,
		personal_org_id INTEGER NOT NULL REFERENCES orgs (id),
		created_at      INTEGER NOT NULL
	) STRICT;
	-- At most one instance admin, even when two processes bootstrap a fresh store at once.
	CREATE UNIQUE INDEX users_instance_admin ON users (instance_admin) WHERE instance_admin = 1;
	CREATE TABLE memberships (
		org_id     INTEGER NOT NULL REFERENCES orgs (id),
		user_id    INTEGER NOT NULL REFERENCES users (id),
		role       TEXT    NOT NULL CHECK (role IN ('admin', 'member')),
		created_at INTEGER NOT NULL,
		PRIMARY KEY (org_id, user_id)
	) STRICT, WITHOUT ROWID;
	CREATE INDEX memberships_user_id ON memberships (user_id);
	CREATE TABLE management_keys (
		id         INTEGER PRIMARY KEY,
		hash       BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
		name       TEXT    NOT NULL,
		label      TEXT    NOT NULL,
		user_id    INTEGER NOT NULL REFERENCES users (id),
		org_id     INTEGER NOT NULL REFERENCES orgs (id),
		created_at INTEGER NOT NULL,
		deleted_at INTEGER NULL
	) STRICT;
	CREATE INDEX management_keys_org_user ON management_keys (org_id, user_id);
	CREATE TABLE credit_grants (
		id           INTEGER PRIMARY KEY,
		org_id       INTEGER NOT NULL REFERENCES orgs (id),
		amount_nanos INTEGER NOT NULL,
		user_id      INTEGER NOT NULL,
		created_at   INTEGER NOT NULL
	) STRICT;
	CREATE INDEX credit_grants_org_id ON credit_grants (org_id);

	ALTER TABLE api_keys ADD COLUMN org_id INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE api_keys ADD COLUMN creator_id INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE api_keys ADD COLUMN budget_id INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE api_keys ADD COLUMN limit_nanos INTEGER NULL; -- NULL: no limit
	ALTER TABLE api_keys ADD COLUMN limit_reset TEXT NOT NULL DEFAULT ''
		CHECK (limit_reset IN ('', 'daily', 'weekly', 'monthly'));
	ALTER TABLE api_keys ADD COLUMN allowed_models TEXT NOT NULL DEFAULT '[]'
		CHECK (json_valid(allowed_models) AND json_type(allowed_models) = 'array');
	ALTER TABLE api_keys ADD COLUMN include_byok_in_limit INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE api_keys ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE api_keys ADD COLUMN deleted_at INTEGER NULL;
	UPDATE api_keys SET budget_id = id, updated_at = created_at;
	CREATE INDEX api_keys_org_id ON api_keys (org_id, id);
	CREATE INDEX api_keys_budget_id ON api_keys (budget_id);

	ALTER TABLE usage_records ADD COLUMN org_id INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE usage_records ADD COLUMN budget_id INTEGER NOT NULL DEFAULT 0;

	-- day is the unix day number, UTC: created_at (microseconds) / 86400000000.
	CREATE TABLE usage_daily (
		day                INTEGER NOT NULL,
		key_id             INTEGER NOT NULL,
		model              TEXT    NOT NULL,
		provider           TEXT    NOT NULL,
		org_id             INTEGER NOT NULL,
		budget_id          INTEGER NOT NULL,
		requests           INTEGER NOT NULL,
		prompt_tokens      INTEGER NOT NULL,
		completion_tokens  INTEGER NOT NULL,
		reasoning_tokens   INTEGER NOT NULL,
		cached_tokens      INTEGER NOT NULL,
		cache_write_tokens INTEGER NOT NULL,
		cost_nanos         INTEGER NOT NULL,
		PRIMARY KEY (day, key_id, model, provider, org_id, budget_id)
	) STRICT, WITHOUT ROWID;
	CREATE INDEX usage_daily_org_day ON usage_daily (org_id, day);
	CREATE INDEX usage_daily_budget_day ON usage_daily (budget_id, day);

	CREATE TRIGGER usage_records_roll_up AFTER INSERT ON usage_records BEGIN
		INSERT INTO usage_daily (day, key_id, model, provider, org_id, budget_id, requests,
			prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos)
		VALUES (NEW.created_at / 86400000000, NEW.key_id, NEW.model, NEW.provider, NEW.org_id, NEW.budget_id, 1,
			NEW.prompt_tokens, NEW.completion_tokens, NEW.reasoning_tokens, NEW.cached_tokens,
			NEW.cache_write_tokens, NEW.cost_nanos)
		ON CONFLICT (day, key_id, model, provider, org_id, budget_id) DO UPDATE SET
			requests           = requests + 1,
			prompt_tokens      = prompt_tokens + excluded.prompt_tokens,
			completion_tokens  = completion_tokens + excluded.completion_tokens,
			reasoning_tokens   = reasoning_tokens + excluded.reasoning_tokens,
			cached_tokens      = cached_tokens + excluded.cached_tokens,
			cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
			cost_nanos         = cost_nanos + excluded.cost_nanos;
	END;

	INSERT INTO usage_daily (day, key_id, model, provider, org_id, budget_id, requests,
		prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos)
	SELECT created_at / 86400000000, key_id, model, provider, org_id, key_id, count(*),
		sum(prompt_tokens), sum(completion_tokens), sum(reasoning_tokens), sum(cached_tokens),
		sum(cache_write_tokens), sum(cost_nanos)
	FROM usage_records
	GROUP BY created_at / 86400000000, key_id, model, provider, org_id;`,

	// 4: organizations' own provider credentials (BYOK), sealed by package byok; and, on usage
	// records, the prompt-cache discount and whether the request used the organization's own
	// key (cost_nanos is then the gateway's fee, byok_cost_nanos the provider's list price the
	// organization pays directly). usage_daily gains BYOK sums so that BYOK usage can be
	// reported apart; existing records were all on the platform's keys, so the defaults (0) are
	// exact for the rows already rolled up. The trigger is recreated to maintain them.
	//
	// A deleted credential keeps its row (its id stays unique, for logs) but loses its
	// ciphertext; at most one live credential per organization and provider.
	`CREATE TABLE byok_credentials (
		id         INTEGER PRIMARY KEY,
		org_id     INTEGER NOT NULL REFERENCES orgs (id),
		provider   TEXT    NOT NULL,
		label      TEXT    NOT NULL,
		mode       TEXT    NOT NULL CHECK (mode IN ('prefer', 'fallback', 'only')),
		ciphertext BLOB    NOT NULL,
		created_at INTEGER NOT NULL,
		deleted_at INTEGER NULL
	) STRICT;
	CREATE UNIQUE INDEX byok_credentials_live ON byok_credentials (org_id, provider) WHERE deleted_at IS NULL;

	ALTER TABLE usage_records ADD COLUMN cache_discount_nanos INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE usage_records ADD COLUMN is_byok INTEGER NOT NULL DEFAULT 0 CHECK (is_byok IN (0, 1));
	ALTER TABLE usage_records ADD COLUMN byok_cost_nanos INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE usage_daily ADD COLUMN byok_requests INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE usage_daily ADD COLUMN byok_cost_nanos INTEGER NOT NULL DEFAULT 0;

	DROP TRIGGER usage_records_roll_up;
	CREATE TRIGGER usage_records_roll_up AFTER INSERT ON usage_records BEGIN
		INSERT INTO usage_daily (day, key_id, model, provider, org_id, budget_id, requests,
			prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos,
			byok_requests, byok_cost_nanos)
		VALUES (NEW.created_at / 86400000000, NEW.key_id, NEW.model, NEW.provider, NEW.org_id, NEW.budget_id, 1,
			NEW.prompt_tokens, NEW.completion_tokens, NEW.reasoning_tokens, NEW.cached_tokens,
			NEW.cache_write_tokens, NEW.cost_nanos, NEW.is_byok, NEW.byok_cost_nanos)
		ON CONFLICT (day, key_id, model, provider, org_id, budget_id) DO UPDATE SET
			requests           = requests + 1,
			prompt_tokens      = prompt_tokens + excluded.prompt_tokens,
			completion_tokens  = completion_tokens + excluded.completion_tokens,
			reasoning_tokens   = reasoning_tokens + excluded.reasoning_tokens,
			cached_tokens      = cached_tokens + excluded.cached_tokens,
			cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
			cost_nanos         = cost_nanos + excluded.cost_nanos,
			byok_requests      = byok_requests + excluded.byok_requests,
			byok_cost_nanos    = byok_cost_nanos + excluded.byok_cost_nanos;
	END;`,

	// 5: activity reports. usage_daily is rebuilt with org_id first in its key, so that one
	// organization's days are one contiguous range of the table (they were spread among every
	// organization's rows of the same days, read through usage_daily_org_day, one lookup per
	// row); that index is then redundant and goes. Two coarser roll-ups join it, because the
	// number of usage_daily rows grows with the key × model × provider pairs in use, up to one
	// row per record: usage_daily_models (per organization, day, model and provider) serves
	// reports that need no key, usage_daily_keys (per organization, day and key) those that
	// need no model. Both are backfilled from usage_daily, which holds exactly the records' sums,
	// and the trigger maintains all three in the statement that inserts the record, so a record
	// that ON CONFLICT DO NOTHING skips still adds nothing anywhere.
	`CREATE TABLE usage_daily_v5 (
		org_id             INTEGER NOT NULL,
		day                INTEGER NOT NULL,
		key_id             INTEGER NOT NULL,
		model              TEXT    NOT NULL,
		provider           TEXT    NOT NULL,
		budget_id          INTEGER NOT NULL,
		requests           INTEGER NOT NULL,
		prompt_tokens      INTEGER NOT NULL,
		completion_tokens  INTEGER NOT NULL,
		reasoning_tokens   INTEGER NOT NULL,
		cached_tokens      INTEGER NOT NULL,
		cache_write_tokens INTEGER NOT NULL,
		cost_nanos         INTEGER NOT NULL,
		byok_requests      INTEGER NOT NULL,
		byok_cost_nanos    INTEGER NOT NULL,
		PRIMARY KEY (org_id, day, key_id, model, provider, budget_id)
	) STRICT, WITHOUT ROWID;
	INSERT INTO usage_daily_v5 (org_id, day, key_id, model, provider, budget_id, requests, prompt_tokens,
		completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos, byok_requests, byok_cost_nanos)
	SELECT org_id, day, key_id, model, provider, budget_id, requests, prompt_tokens,
		completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos, byok_requests, byok_cost_nanos
	FROM usage_daily;
	DROP TRIGGER usage_records_roll_up;
	DROP TABLE usage_daily;
	ALTER TABLE usage_daily_v5 RENAME TO usage_daily;
	CREATE INDEX usage_daily_budget_day ON usage_daily (budget_id, day);

	CREATE TABLE usage_daily_models (
		org_id             INTEGER NOT NULL,
		day                INTEGER NOT NULL,
		model              TEXT    NOT NULL,
		provider           TEXT    NOT NULL,
		requests           INTEGER NOT NULL,
		prompt_tokens      INTEGER NOT NULL,
		completion_tokens  INTEGER NOT NULL,
		reasoning_tokens   INTEGER NOT NULL,
		cached_tokens      INTEGER NOT NULL,
		cache_write_tokens INTEGER NOT NULL,
		cost_nanos         INTEGER NOT NULL,
		byok_requests      INTEGER NOT NULL,
		byok_cost_nanos    INTEGER NOT NULL,
		PRIMARY KEY (org_id, day, model, provider)
	) STRICT, WITHOUT ROWID;
	INSERT INTO usage_daily_models (org_id, day, model, provider, requests, prompt_tokens, completion_tokens,
		reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos, byok_requests, byok_cost_nanos)
	SELECT org_id, day, model, provider, sum(requests), sum(prompt_tokens), sum(completion_tokens),
		sum(reasoning_tokens), sum(cached_tokens), sum(cache_write_tokens), sum(cost_nanos), sum(byok_requests), sum(byok_cost_nanos)
	FROM usage_daily GROUP BY org_id, day, model, provider;

	CREATE TABLE usage_daily_keys (
		org_id             INTEGER NOT NULL,
		day                INTEGER NOT NULL,
		key_id             INTEGER NOT NULL,
		requests           INTEGER NOT NULL,
		prompt_tokens      INTEGER NOT NULL,
		completion_tokens  INTEGER NOT NULL,
		reasoning_tokens   INTEGER NOT NULL,
		cached_tokens      INTEGER NOT NULL,
		cache_write_tokens INTEGER NOT NULL,
		cost_nanos         INTEGER NOT NULL,
		byok_requests      INTEGER NOT NULL,
		byok_cost_nanos    INTEGER NOT NULL,
		PRIMARY KEY (org_id, day, key_id)
	) STRICT, WITHOUT ROWID;
	INSERT INTO usage_daily_keys (org_id, day, key_id, requests, prompt_tokens, completion_tokens,
		reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos, byok_requests, byok_cost_nanos)
	SELECT org_id, day, key_id, sum(requests), sum(prompt_tokens), sum(completion_tokens),
		sum(reasoning_tokens), sum(cached_tokens), sum(cache_write_tokens), sum(cost_nanos), sum(byok_requests), sum(byok_cost_nanos)
	FROM usage_daily GROUP BY org_id, day, key_id;

	CREATE TRIGGER usage_records_roll_up AFTER INSERT ON usage_records BEGIN
		INSERT INTO usage_daily (org_id, day, key_id, model, provider, budget_id, requests,
			prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos,
			byok_requests, byok_cost_nanos)
		VALUES (NEW.org_id, NEW.created_at / 86400000000, NEW.key_id, NEW.model, NEW.provider, NEW.budget_id, 1,
			NEW.prompt_tokens, NEW.completion_tokens, NEW.reasoning_tokens, NEW.cached_tokens,
			NEW.cache_write_tokens, NEW.cost_nanos, NEW.is_byok, NEW.byok_cost_nanos)
		ON CONFLICT (org_id, day, key_id, model, provider, budget_id) DO UPDATE SET
			requests           = requests + 1,
			prompt_tokens      = prompt_tokens + excluded.prompt_tokens,
			completion_tokens  = completion_tokens + excluded.completion_tokens,
			reasoning_tokens   = reasoning_tokens + excluded.reasoning_tokens,
			cached_tokens      = cached_tokens + excluded.cached_tokens,
			cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
			cost_nanos         = cost_nanos + excluded.cost_nanos,
			byok_requests      = byok_requests + excluded.byok_requests,
			byok_cost_nanos    = byok_cost_nanos + excluded.byok_cost_nanos;
		INSERT INTO usage_daily_models (org_id, day, model, provider, requests,
			prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos,
			byok_requests, byok_cost_nanos)
		VALUES (NEW.org_id, NEW.created_at / 86400000000, NEW.model, NEW.provider, 1,
			NEW.prompt_tokens, NEW.completion_tokens, NEW.reasoning_tokens, NEW.cached_tokens,
			NEW.cache_write_tokens, NEW.cost_nanos, NEW.is_byok, NEW.byok_cost_nanos)
		ON CONFLICT (org_id, day, model, provider) DO UPDATE SET
			requests           = requests + 1,
			prompt_tokens      = prompt_tokens + excluded.prompt_tokens,
			completion_tokens  = completion_tokens + excluded.completion_tokens,
			reasoning_tokens   = reasoning_tokens + excluded.reasoning_tokens,
			cached_tokens      = cached_tokens + excluded.cached_tokens,
			cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
			cost_nanos         = cost_nanos + excluded.cost_nanos,
			byok_requests      = byok_requests + excluded.byok_requests,
			byok_cost_nanos    = byok_cost_nanos + excluded.byok_cost_nanos;
		INSERT INTO usage_daily_keys (org_id, day, key_id, requests,
			prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos,
			byok_requests, byok_cost_nanos)
		VALUES (NEW.org_id, NEW.created_at / 86400000000, NEW.key_id, 1,
			NEW.prompt_tokens, NEW.completion_tokens, NEW.reasoning_tokens, NEW.cached_tokens,
			NEW.cache_write_tokens, NEW.cost_nanos, NEW.is_byok, NEW.byok_cost_nanos)
		ON CONFLICT (org_id, day, key_id) DO UPDATE SET
			requests           = requests + 1,
			prompt_tokens      = prompt_tokens + excluded.prompt_tokens,
			completion_tokens  = completion_tokens + excluded.completion_tokens,
			reasoning_tokens   = reasoning_tokens + excluded.reasoning_tokens,
			cached_tokens      = cached_tokens + excluded.cached_tokens,
			cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
			cost_nanos         = cost_nanos + excluded.cost_nanos,
			byok_requests      = byok_requests + excluded.byok_requests,
			byok_cost_nanos    = byok_cost_nanos + excluded.byok_cost_nanos;
	END;`,

	// 6: invitations. Adding a member issues a one-time code (stored only as its SHA-256 hash)
	// that the invited user redeems for a management key in the organization; the Admin who
	// adds them never holds a key of theirs. A code is live while redeemed_at and voided_at
	// are NULL and expires_at (unix milliseconds, UTC) is in the future; removing the member
	// voids it. Rows are kept, so a hash is never reused. Redeeming asks whether the user ever
	// held a management key, hence the index on management_keys (user_id).
	`CREATE TABLE invitations (
		id          INTEGER PRIMARY KEY,
		hash        BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
		org_id      INTEGER NOT NULL REFERENCES orgs (id),
		user_id     INTEGER NOT NULL REFERENCES users (id),
		invited_by  INTEGER NOT NULL,
		created_at  INTEGER NOT NULL,
		expires_at  INTEGER NOT NULL,
		redeemed_at INTEGER NULL,
		voided_at   INTEGER NULL
	) STRICT;
	CREATE INDEX invitations_org_user ON invitations (org_id, user_id);
	CREATE INDEX management_keys_user_id ON management_keys (user_id);`,

	// 7: prompt logging, off unless an organization or a key opts in. usage_bodies holds the
	// request and the answer of a logged request, apart from usage_records so that activity
	// queries and retention's index scans never read through blobs. Each body is capped; the
	// *_bytes columns count every byte, so a shorter blob was truncated. org_id is the
	// context of the record, the only one whose Admins may read the row. The trigger deletes a
	// record's bodies in the statement that deletes the record, so retention (or anything else)
	// can never leave bodies behind.
	`ALTER TABLE orgs ADD COLUMN prompt_logging INTEGER NOT NULL DEFAULT 0 CHECK (prompt_logging IN (0, 1));
	ALTER TABLE api_keys ADD COLUMN prompt_logging INTEGER NOT NULL DEFAULT 0 CHECK (prompt_logging IN (0, 1));
	CREATE TABLE usage_bodies (
		generation_id  TEXT    PRIMARY KEY,
		org_id         INTEGER NOT NULL,
		created_at     INTEGER NOT NULL,
		request        BLOB    NOT NULL,
		request_bytes  INTEGER NOT NULL,
		response       BLOB    NOT NULL,
		response_bytes INTEGER NOT NULL
	) STRICT;
	CREATE TRIGGER usage_records_delete_bodies AFTER DELETE ON usage_records BEGIN
		DELETE FROM usage_bodies WHERE generation_id = OLD.generation_id;
	END;`,

	// 8: the batch writer keeps the roll-ups (store/sqlite/rollup.go): it sums a batch in
	// memory and upserts each roll-up row once, where the trigger upserted three rows per
	// record, most of a request's cost to the gateway. Activity reads the roll-ups, so the
	// indexes of usage_records by key and by model serve nothing and only slow every insert;
	// retention keeps the one by time, generation lookups the unique one.
	`DROP TRIGGER usage_records_roll_up;
	DROP INDEX usage_records_key_created_at;
	DROP INDEX usage_records_model_created_at;`,

	// 9: what the provider said about its answer: its own response id ("chatcmpl-…",
	// "msg_…"), the finish reason in OpenAI's terms ("stop", "length", "tool_calls",
	// "content_filter", "error", "other"; '' when none was reported, as for a stream the client
	// cancelled first) and the provider's own word for it. Older records keep ''.
	`ALTER TABLE usage_records ADD COLUMN upstream_id TEXT NOT NULL DEFAULT '';
	ALTER TABLE usage_records ADD COLUMN finish_reason TEXT NOT NULL DEFAULT '';
	ALTER TABLE usage_records ADD COLUMN native_finish_reason TEXT NOT NULL DEFAULT '';`,
}

// migrate brings the schema up to date. db must be the write pool, whose transactions begin
// IMMEDIATE: each migration takes the write lock before checking whether its version is
// recorded, so when several processes open a fresh file at once exactly one applies it and the
// others, once they get the lock, see its row and skip it.
func migrate(ctx context.Context, db *sql.DB) error {
	return migrateTo(ctx, db, len(migrations))
}

// migrateTo applies the migrations up to version target; tests use it to build a store as an
// older binary left it.
func migrateTo(ctx context.Context, db *sql.DB, target int) error {
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
	for i := current; i < target; i++ {
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
