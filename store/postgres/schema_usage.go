package postgres

// schemaUsage is the usage half of migration 1: the tables of usage records, their daily
// roll-ups and prompt-logging bodies, as store/sqlite's schema stands after its ninth
// migration, with the same table and column names. Types map INTEGER to BIGINT, BLOB to BYTEA
// and TEXT to TEXT; times stay integers in the same units (created_at is unix microseconds,
// UTC; day is created_at / 86400000000), so that both stores answer alike and data can move
// between them as it is.
//
// Differences from SQLite, each for a reason:
//
//   - Text columns in primary keys are COLLATE "C": byte order, as SQLite's BINARY, and
//     comparisons that are a memcmp, on the indexes every insert and upsert walks.
//   - The roll-ups leave free room in each page (fillfactor 80): the rows of the current day
//     are updated by every batch, and an update that fits in its page touches no index (a HOT
//     update), since no indexed column changes.
//   - usage_bodies references usage_records with ON DELETE CASCADE, where SQLite has the
//     trigger usage_records_delete_bodies: a record's bodies are deleted in the statement that
//     deletes the record, whoever deletes it, and a body can never outlive or precede its
//     record. The key of usage_bodies is the index the cascade looks bodies up through.
//   - There is no roll-up trigger: the batch writer keeps the roll-ups (rollup.go), as
//     SQLite's migration 8 decided, summing a batch in memory and upserting each roll-up row
//     once.
//
// usage_records has only the indexes SQLite's final schema kept: its key (generation lookups,
// idempotent inserts) and created_at (retention deletes the oldest first). Activity reports
// read the roll-ups, whose keys lead with org_id and day, so that one organization's days are
// one contiguous range; usage_daily_budget_day serves per-budget reads.
const schemaUsage = `
CREATE TABLE usage_records (
	generation_id        TEXT COLLATE "C" PRIMARY KEY,
	created_at           BIGINT NOT NULL,
	key_id               BIGINT NOT NULL,
	model                TEXT   NOT NULL,
	provider             TEXT   NOT NULL,
	upstream_model       TEXT   NOT NULL,
	prompt_tokens        BIGINT NOT NULL,
	completion_tokens    BIGINT NOT NULL,
	reasoning_tokens     BIGINT NOT NULL,
	cached_tokens        BIGINT NOT NULL,
	cache_write_tokens   BIGINT NOT NULL,
	cost_nanos           BIGINT NOT NULL,
	latency_us           BIGINT NOT NULL,
	ttfb_us              BIGINT NOT NULL,
	status               BIGINT NOT NULL,
	streamed             BIGINT NOT NULL,
	cancelled            BIGINT NOT NULL,
	error_code           TEXT   NOT NULL DEFAULT '',
	org_id               BIGINT NOT NULL DEFAULT 0,
	budget_id            BIGINT NOT NULL DEFAULT 0,
	cache_discount_nanos BIGINT NOT NULL DEFAULT 0,
	is_byok              BIGINT NOT NULL DEFAULT 0 CHECK (is_byok IN (0, 1)),
	byok_cost_nanos      BIGINT NOT NULL DEFAULT 0,
	upstream_id          TEXT   NOT NULL DEFAULT '',
	finish_reason        TEXT   NOT NULL DEFAULT '',
	native_finish_reason TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX usage_records_created_at ON usage_records (created_at);

CREATE TABLE usage_daily (
	org_id             BIGINT NOT NULL,
	day                BIGINT NOT NULL,
	key_id             BIGINT NOT NULL,
	model              TEXT COLLATE "C" NOT NULL,
	provider           TEXT COLLATE "C" NOT NULL,
	budget_id          BIGINT NOT NULL,
	requests           BIGINT NOT NULL,
	prompt_tokens      BIGINT NOT NULL,
	completion_tokens  BIGINT NOT NULL,
	reasoning_tokens   BIGINT NOT NULL,
	cached_tokens      BIGINT NOT NULL,
	cache_write_tokens BIGINT NOT NULL,
	cost_nanos         BIGINT NOT NULL,
	byok_requests      BIGINT NOT NULL DEFAULT 0,
	byok_cost_nanos    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (org_id, day, key_id, model, provider, budget_id)
) WITH (fillfactor = 80);
CREATE INDEX usage_daily_budget_day ON usage_daily (budget_id, day);

CREATE TABLE usage_daily_models (
	org_id             BIGINT NOT NULL,
	day                BIGINT NOT NULL,
	model              TEXT COLLATE "C" NOT NULL,
	provider           TEXT COLLATE "C" NOT NULL,
	requests           BIGINT NOT NULL,
	prompt_tokens      BIGINT NOT NULL,
	completion_tokens  BIGINT NOT NULL,
	reasoning_tokens   BIGINT NOT NULL,
	cached_tokens      BIGINT NOT NULL,
	cache_write_tokens BIGINT NOT NULL,
	cost_nanos         BIGINT NOT NULL,
	byok_requests      BIGINT NOT NULL,
	byok_cost_nanos    BIGINT NOT NULL,
	PRIMARY KEY (org_id, day, model, provider)
) WITH (fillfactor = 80);

CREATE TABLE usage_daily_keys (
	org_id             BIGINT NOT NULL,
	day                BIGINT NOT NULL,
	key_id             BIGINT NOT NULL,
	requests           BIGINT NOT NULL,
	prompt_tokens      BIGINT NOT NULL,
	completion_tokens  BIGINT NOT NULL,
	reasoning_tokens   BIGINT NOT NULL,
	cached_tokens      BIGINT NOT NULL,
	cache_write_tokens BIGINT NOT NULL,
	cost_nanos         BIGINT NOT NULL,
	byok_requests      BIGINT NOT NULL,
	byok_cost_nanos    BIGINT NOT NULL,
	PRIMARY KEY (org_id, day, key_id)
) WITH (fillfactor = 80);

CREATE TABLE usage_bodies (
	generation_id  TEXT COLLATE "C" PRIMARY KEY
		REFERENCES usage_records (generation_id) ON DELETE CASCADE,
	org_id         BIGINT NOT NULL,
	created_at     BIGINT NOT NULL,
	request        BYTEA  NOT NULL,
	request_bytes  BIGINT NOT NULL,
	response       BYTEA  NOT NULL,
	response_bytes BIGINT NOT NULL
);
`
