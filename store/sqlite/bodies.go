package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

// Prompt logging: an organization's or a key's opt-in (orgs.prompt_logging,
// api_keys.prompt_logging) and the bodies of logged requests (usage_bodies, written with their
// usage records and deleted with them).

const insertBodiesSQL = `INSERT INTO usage_bodies (generation_id, org_id, created_at, request, request_bytes, response, response_bytes)
	VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (generation_id) DO NOTHING`

// writeBodies stores the bodies of the records in recs that carry some, in tx: WriteUsage's
// transaction, so that a record and its bodies are stored together or not at all. Like the
// records, bodies already stored are skipped, which keeps a replayed batch harmless.
func writeBodies(ctx context.Context, tx *sql.Tx, recs []accounting.Record) error {
	var stmt *sql.Stmt
	for i := range recs {
		r := &recs[i]
		b := r.Bodies
		if b == nil {
			continue
		}
		if stmt == nil {
			var err error
			if stmt, err = tx.PrepareContext(ctx, insertBodiesSQL); err != nil {
				return err
			}
			defer stmt.Close()
		}
		if _, err := stmt.ExecContext(ctx, r.GenerationID.String(), r.OrgID, r.Time.UnixMicro(),
			blob(b.Request), max(b.RequestSize, int64(len(b.Request))),
			blob(b.Response), max(b.ResponseSize, int64(len(b.Response)))); err != nil {
			return fmt.Errorf("bodies of %s: %w", r.GenerationID.String(), err)
		}
	}
	return nil
}

// blob binds b as a BLOB: a nil slice would bind as NULL, which the NOT NULL column refuses.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// GenerationBodies returns the logged request and answer of generation id, if the record
// belongs to orgID. Anything else (no such record, another organization's, a request that was
// not logged, bodies deleted by retention) is an error wrapping accounting.ErrRecordNotFound,
// so that callers cannot tell those apart.
func (s *Store) GenerationBodies(ctx context.Context, id string, orgID int64) (*accounting.Bodies, error) {
	var b accounting.Bodies
	err := s.r.QueryRowContext(ctx, `SELECT request, request_bytes, response, response_bytes
		FROM usage_bodies WHERE generation_id = ? AND org_id = ?`, id, orgID).
		Scan(&b.Request, &b.RequestSize, &b.Response, &b.ResponseSize)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("bodies of generation %q: %w", id, ErrRecordNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load bodies of generation %q: %w", id, err)
	}
	return &b, nil
}

// CountBodies returns the number of logged requests stored.
func (s *Store) CountBodies(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM usage_bodies").Scan(&n); err != nil {
		return 0, fmt.Errorf("count bodies: %w", err)
	}
	return n, nil
}

// orgLogsPrompts reports whether organization orgID has opted in to prompt logging; an unknown
// organization (a key of context 0) has not.
func orgLogsPrompts(ctx context.Context, q querier, orgID int64) (bool, error) {
	var on int64
	err := q.QueryRowContext(ctx, "SELECT prompt_logging FROM orgs WHERE id = ?", orgID).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return on != 0, err
}

// UpdateOrg applies change to organization orgID and stores the fields that may change: Name
// and PromptLogging. change runs inside the write transaction; an error from it aborts the
// update and is returned as it is. It returns the organization as stored and the hashes of
// its live inference keys, whose cached records the caller must drop when PromptLogging
// changed (each key's LogPrompts depends on it). An unknown orgID wraps tenancy.ErrNotFound.
func (s *Store) UpdateOrg(ctx context.Context, orgID int64, change func(*tenancy.Org) error) (*tenancy.Org, []apikey.Hash, error) {
	var (
		out  tenancy.Org
		keys []apikey.Hash
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := orgByID(ctx, tx, orgID)
		if err != nil {
			return err
		}
		next := *cur
		if err := change(&next); err != nil {
			return changeError{err}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE orgs SET name = ?, prompt_logging = ? WHERE id = ?",
			next.Name, boolInt(next.PromptLogging), orgID); err != nil {
			return err
		}
		next.ID, next.Personal, next.CreatedAt = cur.ID, cur.Personal, cur.CreatedAt
		out = next
		rows, err := tx.QueryContext(ctx, "SELECT hash FROM api_keys WHERE org_id = ? AND deleted_at IS NULL", orgID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h []byte
			if err := rows.Scan(&h); err != nil {
				return err
			}
			var kh apikey.Hash
			copy(kh[:], h)
			keys = append(keys, kh)
		}
		return rows.Err()
	})
	var ce changeError
	if errors.As(err, &ce) {
		return nil, nil, ce.err
	}
	if err != nil {
		if errors.Is(err, tenancy.ErrNotFound) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("update organization %d: %w", orgID, err)
	}
	return &out, keys, nil
}

func orgByID(ctx context.Context, q querier, orgID int64) (*tenancy.Org, error) {
	var (
		o                 tenancy.Org
		personal, created int64
		promptLogging     int64
	)
	err := q.QueryRowContext(ctx, "SELECT id, name, personal, created_at, prompt_logging FROM orgs WHERE id = ?", orgID).
		Scan(&o.ID, &o.Name, &personal, &created, &promptLogging)
	if err != nil {
		return nil, notFound(err, "organization %d", orgID)
	}
	o.Personal, o.CreatedAt, o.PromptLogging = personal != 0, time.UnixMilli(created).UTC(), promptLogging != 0
	return &o, nil
}
