package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/tenancy"
)

// ErrKeyExists is returned by InsertKey when a key with the same hash is already stored. The
// error also wraps tenancy.ErrExists, as admin.Store promises.
var ErrKeyExists = errors.New("api key with this hash already exists")

// Inference-key errors wrap both apikey.ErrNotFound (what the key cache tests for) and
// tenancy.ErrNotFound (what the Management API tests for), so either check works.
func errKeyNotFound(h apikey.Hash) error {
	return fmt.Errorf("key %s: %w (%w)", h, apikey.ErrNotFound, tenancy.ErrNotFound)
}

// The last column is the key's effective prompt logging: its own opt-in or its organization's
// (apikey.Key.LogPrompts), looked up through the orgs primary key with every load, so that an
// organization's change reaches each key at its next load or refresh.
const keyColumns = "id, hash, name, label, org_id, creator_id, budget_id, disabled, limit_nanos, limit_reset, " +
	"allowed_models, include_byok_in_limit, created_at, updated_at, expires_at, prompt_logging, " +
	"prompt_logging OR coalesce((SELECT o.prompt_logging FROM orgs o WHERE o.id = api_keys.org_id), 0)"

// loadKeySQL is the key cache's miss and refresh path: the hash index, one row. Deleted keys
// are not found, so a refresh drops them from the cache.
const loadKeySQL = "SELECT " + keyColumns + " FROM api_keys WHERE hash = ? AND deleted_at IS NULL"

const keyInOrgSQL = "SELECT " + keyColumns + " FROM api_keys WHERE hash = ? AND org_id = ? AND deleted_at IS NULL"

// InsertKey stores k and sets k.ID; a zero k.BudgetID becomes k.ID, in the same transaction.
// Times are stored in unix milliseconds, so InsertKey also rounds k.CreatedAt, k.UpdatedAt and
// k.ExpiresAt to the millisecond in UTC, and normalises the fields that have one stored form
// (an empty AllowedModels is nil, Limit is 0 without HasLimit): afterwards k equals what
// LoadKey returns. A zero CreatedAt is set to now, a zero UpdatedAt to CreatedAt. k must not
// yet be published to readers; on error it is left unchanged.
func (s *Store) InsertKey(ctx context.Context, k *apikey.Key) error {
	var stored apikey.Key
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		stored, err = insertKey(ctx, tx, k)
		return err
	})
	if err != nil {
		return fmt.Errorf("insert key %q: %w", k.Label, err)
	}
	*k = stored
	return nil
}

// insertKey inserts k in tx and returns the key as stored, without changing k: the caller
// publishes the result only once the transaction commits.
func insertKey(ctx context.Context, tx *sql.Tx, k *apikey.Key) (apikey.Key, error) {
	n := normaliseKey(*k)
	if n.CreatedAt.IsZero() {
		n.CreatedAt = time.UnixMilli(time.Now().UnixMilli()).UTC()
	}
	if n.UpdatedAt.IsZero() {
		n.UpdatedAt = n.CreatedAt
	}
	models, err := encodeModels(n.AllowedModels)
	if err != nil {
		return n, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO api_keys (hash, name, label, org_id, creator_id, budget_id,
		disabled, limit_nanos, limit_reset, allowed_models, include_byok_in_limit, created_at, updated_at, expires_at,
		prompt_logging)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.Hash[:], n.Name, n.Label, n.OrgID, n.CreatorID, n.BudgetID,
		boolInt(n.Disabled), limitArg(&n), n.LimitReset.String(), models, boolInt(n.IncludeBYOKInLimit),
		n.CreatedAt.UnixMilli(), n.UpdatedAt.UnixMilli(), msOrNull(n.ExpiresAt), boolInt(n.PromptLogging))
	if err != nil {
		if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) {
			return n, fmt.Errorf("%w (%w)", ErrKeyExists, tenancy.ErrExists)
		}
		return n, err
	}
	if n.ID, err = res.LastInsertId(); err != nil {
		return n, err
	}
	if n.LogPrompts, err = orgLogsPrompts(ctx, tx, n.OrgID); err != nil {
		return n, err
	}
	n.LogPrompts = n.LogPrompts || n.PromptLogging
	if n.BudgetID == 0 {
		n.BudgetID = n.ID
		if _, err := tx.ExecContext(ctx, "UPDATE api_keys SET budget_id = id WHERE id = ?", n.ID); err != nil {
			return n, err
		}
	}
	return n, nil
}

// normaliseKey returns k as it will read back from the store: times at millisecond precision in
// UTC, the single stored form of "no models restriction" and "no limit".
func normaliseKey(k apikey.Key) apikey.Key {
	k.CreatedAt = roundMS(k.CreatedAt)
	k.UpdatedAt = roundMS(k.UpdatedAt)
	k.ExpiresAt = roundMS(k.ExpiresAt)
	if len(k.AllowedModels) == 0 {
		k.AllowedModels = nil
	}
	if !k.HasLimit {
		k.Limit = 0
	}
	if k.LimitReset > apikey.Monthly {
		k.LimitReset = apikey.NoReset // String() stores it as ""
	}
	return k
}

// LoadKey returns the live key with hash h, or an error wrapping apikey.ErrNotFound when there
// is none or it was deleted. It runs a statement prepared on the read pool: the key cache calls
// it on every miss and every refresh.
func (s *Store) LoadKey(ctx context.Context, h apikey.Hash) (*apikey.Key, error) {
	k, err := scanKey(s.loadKey.QueryRowContext(ctx, h[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errKeyNotFound(h)
	}
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", h, err)
	}
	return k, nil
}

// KeyInOrg returns the live key with hash h in orgID. A key of another organization, or a
// deleted one, is not found: the error wraps apikey.ErrNotFound and tenancy.ErrNotFound.
func (s *Store) KeyInOrg(ctx context.Context, h apikey.Hash, orgID int64) (*apikey.Key, error) {
	k, err := keyInOrg(ctx, s.r, h, orgID)
	if err != nil && !errors.Is(err, apikey.ErrNotFound) {
		return nil, fmt.Errorf("load key %s: %w", h, err)
	}
	return k, err
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func keyInOrg(ctx context.Context, q querier, h apikey.Hash, orgID int64) (*apikey.Key, error) {
	k, err := scanKey(q.QueryRowContext(ctx, keyInOrgSQL, h[:], orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errKeyNotFound(h)
	}
	return k, err
}

// defaultListLimit is the page size when a Filter asks for none.
const defaultListLimit = 100

// ListKeys returns the live keys of f.OrgID, newest (highest id) first: those created by
// f.CreatorID unless it is 0, disabled ones only with f.IncludeDisabled, f.Limit of them (100
// when 0) after skipping f.Offset. Keys made before organizations existed have OrgID 0 until
// AssignOrphanKeys moves them.
func (s *Store) ListKeys(ctx context.Context, f apikey.Filter) ([]*apikey.Key, error) {
	limit, offset := f.Limit, max(f.Offset, 0)
	if limit <= 0 {
		limit = defaultListLimit
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+keyColumns+` FROM api_keys
		WHERE org_id = ?1 AND deleted_at IS NULL AND (?2 = 0 OR creator_id = ?2) AND (?3 OR disabled = 0)
		ORDER BY id DESC LIMIT ?4 OFFSET ?5`,
		f.OrgID, f.CreatorID, f.IncludeDisabled, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var keys []*apikey.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// UpdateKey applies change to a copy of the live key with hash h in orgID and stores the
// fields the Management API may change: Name, Disabled, Limit and HasLimit, LimitReset,
// AllowedModels, ExpiresAt, IncludeBYOKInLimit and PromptLogging; changes to the other fields
// are ignored.
// UpdatedAt becomes now. It returns the key as stored. change runs inside the write
// transaction, so the read, the change and the write are atomic even against other processes;
// it must be quick and must not use the store. An error from change aborts the update and is
// returned as it is; a missing key is reported as KeyInOrg does.
func (s *Store) UpdateKey(ctx context.Context, h apikey.Hash, orgID int64, change func(*apikey.Key) error) (*apikey.Key, error) {
	var out *apikey.Key
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := keyInOrg(ctx, tx, h, orgID)
		if err != nil {
			return err
		}
		next := *cur
		next.AllowedModels = slices.Clone(cur.AllowedModels)
		if err := change(&next); err != nil {
			return changeError{err}
		}
		next = normaliseKey(next)
		models, err := encodeModels(next.AllowedModels)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE api_keys SET name = ?, disabled = ?, limit_nanos = ?, limit_reset = ?,
			allowed_models = ?, expires_at = ?, include_byok_in_limit = ?, prompt_logging = ?, updated_at = ? WHERE id = ?`,
			next.Name, boolInt(next.Disabled), limitArg(&next), next.LimitReset.String(),
			models, msOrNull(next.ExpiresAt), boolInt(next.IncludeBYOKInLimit), boolInt(next.PromptLogging),
			time.Now().UnixMilli(), cur.ID)
		if err != nil {
			return err
		}
		out, err = keyInOrg(ctx, tx, h, orgID)
		return err
	})
	var ce changeError
	if errors.As(err, &ce) {
		return nil, ce.err
	}
	if err != nil && !errors.Is(err, apikey.ErrNotFound) {
		return nil, fmt.Errorf("update key %s: %w", h, err)
	}
	return out, err
}

// changeError carries the caller's error out of UpdateKey's transaction untouched.
type changeError struct{ err error }

func (e changeError) Error() string { return e.err.Error() }

// DeleteKey deletes the live key with hash h in orgID. The row stays, marked deleted, so that
// usage records keep naming their key and its hash can never be reused; LoadKey no longer
// finds it.
func (s *Store) DeleteKey(ctx context.Context, h apikey.Hash, orgID int64) error {
	now := time.Now().UnixMilli()
	res, err := s.w.ExecContext(ctx,
		"UPDATE api_keys SET deleted_at = ?, updated_at = ? WHERE hash = ? AND org_id = ? AND deleted_at IS NULL",
		now, now, h[:], orgID)
	if err != nil {
		return fmt.Errorf("delete key %s: %w", h, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete key %s: %w", h, err)
	} else if n == 0 {
		return errKeyNotFound(h)
	}
	return nil
}

// rotatedSQL asks whether a key (budget_id, id) has a live successor: keys made by rotation
// share their predecessor's budget and come after it.
const rotatedSQL = "SELECT EXISTS (SELECT 1 FROM api_keys WHERE budget_id = ? AND id > ? AND deleted_at IS NULL)"

// RotateKey stores next as the successor of the live key with hash old in orgID, in one
// transaction: next takes the old key's OrgID and BudgetID (so rotation neither resets the
// spend counted against its limit nor doubles the limit during the grace period), and the old
// key expires at oldExpiresAt unless it already expires earlier. A zero oldExpiresAt means
// now. next is updated as InsertKey updates its key; the old key is returned as stored.
func (s *Store) RotateKey(ctx context.Context, old apikey.Hash, orgID int64, next *apikey.Key, oldExpiresAt time.Time) (*apikey.Key, error) {
	var (
		stored apikey.Key
		out    *apikey.Key
	)
	now := time.Now()
	if oldExpiresAt.IsZero() {
		oldExpiresAt = now
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := keyInOrg(ctx, tx, old, orgID)
		if err != nil {
			return err
		}
		var rotated bool
		if err := tx.QueryRowContext(ctx, rotatedSQL, cur.BudgetID, cur.ID).Scan(&rotated); err != nil {
			return err
		}
		if rotated {
			return apikey.ErrRotated
		}
		n := *next
		n.OrgID, n.BudgetID = cur.OrgID, cur.BudgetID
		if stored, err = insertKey(ctx, tx, &n); err != nil {
			return fmt.Errorf("insert key %q: %w", next.Label, err)
		}
		if exp := oldExpiresAt.UnixMilli(); cur.ExpiresAt.IsZero() || exp < cur.ExpiresAt.UnixMilli() {
			if _, err := tx.ExecContext(ctx, "UPDATE api_keys SET expires_at = ?, updated_at = ? WHERE id = ?",
				exp, now.UnixMilli(), cur.ID); err != nil {
				return err
			}
		}
		out, err = keyInOrg(ctx, tx, old, orgID)
		return err
	})
	if err != nil {
		if errors.Is(err, apikey.ErrNotFound) || errors.Is(err, apikey.ErrRotated) {
			return nil, err
		}
		return nil, fmt.Errorf("rotate key %s: %w", old, err)
	}
	*next = stored
	return out, nil
}

// SetKeyDisabled disables or re-enables the live key with hash h, in whatever context it is;
// it is the CLI's escape hatch. It returns an error wrapping apikey.ErrNotFound when there is
// no such key or it was deleted. Setting the current state again is not an error.
func (s *Store) SetKeyDisabled(ctx context.Context, h apikey.Hash, disabled bool) error {
	res, err := s.w.ExecContext(ctx, "UPDATE api_keys SET disabled = ?, updated_at = ? WHERE hash = ? AND deleted_at IS NULL",
		boolInt(disabled), time.Now().UnixMilli(), h[:])
	if err != nil {
		return fmt.Errorf("update key %s: %w", h, err)
	}
	// SQLite counts matched rows, even when the value does not change.
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update key %s: %w", h, err)
	}
	if n == 0 {
		return errKeyNotFound(h)
	}
	return nil
}

// AssignOrphanKeys moves every key without a context (OrgID 0: made before organizations
// existed, or by a CLI that set none) to orgID, with creatorID as their creator where they
// have none, and returns how many it moved. Their past usage stays charged to context 0, so
// the new context's credit pool does not start out spent by history it never granted.
// orgID must exist (else the error wraps tenancy.ErrNotFound).
func (s *Store) AssignOrphanKeys(ctx context.Context, orgID, creatorID int64) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := orgExists(ctx, tx, orgID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET org_id = ?1,
			creator_id = CASE WHEN creator_id = 0 THEN ?2 ELSE creator_id END, updated_at = ?3
			WHERE org_id = 0`, orgID, creatorID, time.Now().UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("assign keys to organization %d: %w", orgID, err)
	}
	return n, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanKey(row scanner) (*apikey.Key, error) {
	// One struct for the scan targets: each is passed by pointer through an interface, so
	// separate variables would each be a heap allocation on the key cache's refresh path.
	var v struct {
		k                                    apikey.Key
		hash                                 []byte
		disabled, byok, createdMS, updatedMS int64
		promptLogging, logPrompts            int64
		limit, expiresMS                     sql.NullInt64
		reset, models                        string
	}
	k := &v.k
	if err := row.Scan(&k.ID, &v.hash, &k.Name, &k.Label, &k.OrgID, &k.CreatorID, &k.BudgetID, &v.disabled,
		&v.limit, &v.reset, &v.models, &v.byok, &v.createdMS, &v.updatedMS, &v.expiresMS,
		&v.promptLogging, &v.logPrompts); err != nil {
		return nil, err
	}
	k.PromptLogging, k.LogPrompts = v.promptLogging != 0, v.logPrompts != 0
	if len(v.hash) != len(k.Hash) {
		return nil, fmt.Errorf("key %d: stored hash has %d bytes, want %d", k.ID, len(v.hash), len(k.Hash))
	}
	copy(k.Hash[:], v.hash)
	k.Disabled = v.disabled != 0
	k.Limit, k.HasLimit = money.Nanos(v.limit.Int64), v.limit.Valid
	var err error
	if k.LimitReset, err = apikey.ParsePeriod(v.reset); err != nil {
		return nil, fmt.Errorf("key %d: %w", k.ID, err)
	}
	if k.AllowedModels, err = decodeModels(v.models); err != nil {
		return nil, fmt.Errorf("key %d: allowed_models: %w", k.ID, err)
	}
	k.IncludeBYOKInLimit = v.byok != 0
	k.CreatedAt = time.UnixMilli(v.createdMS).UTC()
	k.UpdatedAt = time.UnixMilli(v.updatedMS).UTC()
	if v.expiresMS.Valid {
		k.ExpiresAt = time.UnixMilli(v.expiresMS.Int64).UTC()
	}
	return k, nil // keeps the scan buffers alive with the key: about 100 bytes
}

// encodeModels returns the stored form of a models restriction: a JSON array of strings,
// "[]" for none.
func encodeModels(models []string) (string, error) {
	if len(models) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(models)
	return string(b), err
}

// decodeModels reads encodeModels' output. Most keys have no restriction, and the key cache
// refreshes every key each second, so that case costs no decoding and no allocation.
func decodeModels(s string) ([]string, error) {
	if s == "[]" {
		return nil, nil
	}
	var models []string
	if err := json.Unmarshal([]byte(s), &models); err != nil {
		return nil, err
	}
	if len(models) == 0 {
		return nil, nil
	}
	return models, nil
}

// limitArg binds a key's limit: NULL for none.
func limitArg(k *apikey.Key) any {
	if !k.HasLimit {
		return nil
	}
	return int64(k.Limit)
}

// msOrNull binds a time that may be unset: NULL for the zero time.
func msOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// roundMS truncates t to the stored precision, in UTC; the zero time stays zero.
func roundMS(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// isConstraint reports whether err is the SQLite extended result code code.
func isConstraint(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == code
}

// KeyOwner returns the organization and creator of the key with id keyID, deleted or not (a
// deleted key's usage records are still its organization's).
func (s *Store) KeyOwner(ctx context.Context, keyID int64) (orgID, creatorID int64, err error) {
	err = s.r.QueryRowContext(ctx, "SELECT org_id, creator_id FROM api_keys WHERE id = ?", keyID).Scan(&orgID, &creatorID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("key %d: %w", keyID, apikey.ErrNotFound)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("key %d: %w", keyID, err)
	}
	return orgID, creatorID, nil
}
