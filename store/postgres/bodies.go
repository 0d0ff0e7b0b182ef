package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

// Prompt logging: an organization's or a key's opt-in (orgs.prompt_logging,
// api_keys.prompt_logging) and the bodies of logged requests (usage_bodies, written with their
// usage records and deleted with them by the foreign key's ON DELETE CASCADE).

// insertBodiesSQL inserts bodies given as arrays, like insertUsageSQL, in id order so that
// concurrent writers of the same ids claim them in the same order. Like the records, bodies
// already stored are skipped, which keeps a replayed batch harmless.
const insertBodiesSQL = `INSERT INTO usage_bodies (generation_id, org_id, created_at, request, request_bytes, response, response_bytes)
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[], $5::bigint[], $6::bytea[], $7::bigint[])
	ORDER BY 1
	ON CONFLICT (generation_id) DO NOTHING`

// maxBodiesBytes bounds the bodies one insert carries. Each body is capped at
// accounting.MaxBodyBytes, so a batch of 500 logged records could carry a gigabyte, PostgreSQL's
// limit for one message, and the server holds a statement's arrays whole in memory: the bodies
// of a batch go in as many statements as this bound needs (pipelined, so no round trip more).
const maxBodiesBytes = 8 << 20

// bodiesChunk is the parameters of one insertBodiesSQL.
type bodiesChunk struct {
	gen                                       []string
	org, created, requestBytes, responseBytes []int64
	request, response                         [][]byte
	size                                      int
}

// queueBodies adds to b the inserts of the bodies of the records in recs (sorted by id) that
// carry some. It runs in WriteUsage's transaction, after the records are inserted (the
// foreign key needs them), so that a record and its bodies are stored together or not at all.
func queueBodies(b *pgx.Batch, recs []*accounting.Record) {
	var c bodiesChunk
	flush := func() {
		if len(c.gen) > 0 {
			b.Queue(insertBodiesSQL, c.gen, c.org, c.created, c.request, c.requestBytes, c.response, c.responseBytes)
		}
		c = bodiesChunk{}
	}
	for _, r := range recs {
		body := r.Bodies
		if body == nil {
			continue
		}
		size := len(body.Request) + len(body.Response)
		if c.size+size > maxBodiesBytes {
			flush()
		}
		c.gen = append(c.gen, r.GenerationID.String())
		c.org = append(c.org, r.OrgID)
		c.created = append(c.created, r.Time.UnixMicro())
		c.request = append(c.request, blob(body.Request))
		c.requestBytes = append(c.requestBytes, max(body.RequestSize, int64(len(body.Request))))
		c.response = append(c.response, blob(body.Response))
		c.responseBytes = append(c.responseBytes, max(body.ResponseSize, int64(len(body.Response))))
		c.size += size
	}
	flush()
}

// blob returns b, or an empty slice for nil: pgx sends a nil slice as NULL, which the NOT NULL
// column refuses.
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
	err := s.pool.QueryRow(ctx, `SELECT request, request_bytes, response, response_bytes
		FROM usage_bodies WHERE generation_id = $1 AND org_id = $2`, id, orgID).
		Scan(&b.Request, &b.RequestSize, &b.Response, &b.ResponseSize)
	if errors.Is(err, pgx.ErrNoRows) {
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
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM usage_bodies").Scan(&n); err != nil {
		return 0, fmt.Errorf("count bodies: %w", err)
	}
	return n, nil
}

// UpdateOrg applies change to organization orgID and stores the fields that may change: Name
// and PromptLogging. change runs inside the write transaction; an error from it aborts the
// update and is returned as it is. It returns the organization as stored and the hashes of
// its live inference keys, whose cached records the caller must drop when PromptLogging
// changed (each key's LogPrompts depends on it). An unknown orgID wraps tenancy.ErrNotFound.
//
// The organization's row is locked (FOR NO KEY UPDATE) before change sees it, so concurrent
// updates apply one after the other, each to what the previous one stored, as SQLite's single
// writer does. The keys are listed after the update, at READ COMMITTED, so the list includes
// every key committed before it; a key whose insert takes the organization's row FOR SHARE
// (lockKeep, tenancy.go) before reading the setting is either in the list or reads the new
// setting.
func (s *Store) UpdateOrg(ctx context.Context, orgID int64, change func(*tenancy.Org) error) (*tenancy.Org, []apikey.Hash, error) {
	var (
		out  tenancy.Org
		keys []apikey.Hash
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := orgForUpdate(ctx, tx, orgID)
		if err != nil {
			return err
		}
		next := *cur
		if err := change(&next); err != nil {
			return changeError{err}
		}
		if _, err := tx.Exec(ctx, "UPDATE orgs SET name = $1, prompt_logging = $2 WHERE id = $3",
			next.Name, boolInt(next.PromptLogging), orgID); err != nil {
			return err
		}
		next.ID, next.Personal, next.CreatedAt = cur.ID, cur.Personal, cur.CreatedAt
		out = next
		rows, err := tx.Query(ctx, "SELECT hash FROM api_keys WHERE org_id = $1 AND deleted_at IS NULL", orgID)
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (apikey.Hash, error) {
			var h []byte
			var kh apikey.Hash
			err := row.Scan(&h)
			copy(kh[:], h)
			return kh, err
		})
		return err
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

// orgForUpdate reads organization orgID and locks its row until the transaction ends.
func orgForUpdate(ctx context.Context, q querier, orgID int64) (*tenancy.Org, error) {
	var (
		o                 tenancy.Org
		personal, created int64
		promptLogging     int64
	)
	err := q.QueryRow(ctx, "SELECT id, name, personal, created_at, prompt_logging FROM orgs WHERE id = $1 FOR NO KEY UPDATE", orgID).
		Scan(&o.ID, &o.Name, &personal, &created, &promptLogging)
	if err != nil {
		return nil, notFound(err, "organization %d", orgID)
	}
	o.Personal, o.CreatedAt, o.PromptLogging = personal != 0, time.UnixMilli(created).UTC(), promptLogging != 0
	return &o, nil
}
