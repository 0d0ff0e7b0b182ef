package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/arouter/arouter/apikey"
)

// ErrKeyExists is returned by InsertKey when a key with the same hash is already stored.
var ErrKeyExists = errors.New("api key with this hash already exists")

const keyColumns = "id, hash, name, label, disabled, created_at, expires_at"

const loadKeySQL = "SELECT " + keyColumns + " FROM api_keys WHERE hash = ?"

// InsertKey stores k and sets k.ID. Times are stored in unix milliseconds, so InsertKey also
// rounds k.CreatedAt and k.ExpiresAt to the millisecond in UTC: afterwards k equals what
// LoadKey returns. A zero CreatedAt is set to now. k must not yet be published to readers.
func (s *Store) InsertKey(ctx context.Context, k *apikey.Key) error {
	created := k.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	createdMS := created.UnixMilli()
	var expires any // nil binds NULL: never expires
	if !k.ExpiresAt.IsZero() {
		expires = k.ExpiresAt.UnixMilli()
	}
	res, err := s.w.ExecContext(ctx,
		"INSERT INTO api_keys (hash, name, label, disabled, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
		k.Hash[:], k.Name, k.Label, boolInt(k.Disabled), createdMS, expires)
	if err != nil {
		if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) {
			return fmt.Errorf("insert key %q: %w", k.Label, ErrKeyExists)
		}
		return fmt.Errorf("insert key %q: %w", k.Label, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("insert key %q: %w", k.Label, err)
	}
	k.ID = id
	k.CreatedAt = time.UnixMilli(createdMS).UTC()
	if expires != nil {
		k.ExpiresAt = time.UnixMilli(expires.(int64)).UTC()
	}
	return nil
}

// LoadKey returns the key with hash h, or an error wrapping apikey.ErrNotFound.
func (s *Store) LoadKey(ctx context.Context, h apikey.Hash) (*apikey.Key, error) {
	k, err := scanKey(s.loadKey.QueryRowContext(ctx, h[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("key %s: %w", h, apikey.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", h, err)
	}
	return k, nil
}

// ListKeys returns every key, oldest (lowest id) first.
func (s *Store) ListKeys(ctx context.Context) ([]*apikey.Key, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+keyColumns+" FROM api_keys ORDER BY id")
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

// SetKeyDisabled disables or re-enables the key with hash h. It returns an error wrapping
// apikey.ErrNotFound when there is no such key. Setting the current state again is not an error.
func (s *Store) SetKeyDisabled(ctx context.Context, h apikey.Hash, disabled bool) error {
	res, err := s.w.ExecContext(ctx, "UPDATE api_keys SET disabled = ? WHERE hash = ?", boolInt(disabled), h[:])
	if err != nil {
		return fmt.Errorf("update key %s: %w", h, err)
	}
	// SQLite counts matched rows, even when the value does not change.
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update key %s: %w", h, err)
	}
	if n == 0 {
		return fmt.Errorf("key %s: %w", h, apikey.ErrNotFound)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanKey(row scanner) (*apikey.Key, error) {
	var (
		k                   apikey.Key
		hash                []byte
		disabled, createdMS int64
		expiresMS           sql.NullInt64
	)
	if err := row.Scan(&k.ID, &hash, &k.Name, &k.Label, &disabled, &createdMS, &expiresMS); err != nil {
		return nil, err
	}
	if len(hash) != len(k.Hash) {
		return nil, fmt.Errorf("key %d: stored hash has %d bytes, want %d", k.ID, len(hash), len(k.Hash))
	}
	copy(k.Hash[:], hash)
	k.Disabled = disabled != 0
	k.CreatedAt = time.UnixMilli(createdMS).UTC()
	if expiresMS.Valid {
		k.ExpiresAt = time.UnixMilli(expiresMS.Int64).UTC()
	}
	return &k, nil
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
