package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/arouter/arouter/store/storetest"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	storetest.TestKeys(t, harness)
}

// The hot lookups use their indexes; a table scan would pass every test and fail at scale. On
// tables this small the planner prefers a scan, so sequential scans are priced out for the
// connection: a plan that still scans means no index can serve the query.
func TestKeyQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	// Statistics of organizations with many keys each, so that the planner knows a hash is
	// more selective than an organization: on an empty table it may pick any index.
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (hash, name, label, org_id, budget_id, created_at)
		SELECT sha256(i::text::bytea), 'k', 'l', i % 50 + 1, i, 0 FROM generate_series(1, 5000) AS i;
		ANALYZE api_keys`)
	must(t, err)
	conn, err := s.pool.Acquire(ctx)
	must(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "SET enable_seqscan = off")
	must(t, err)
	defer conn.Exec(ctx, "RESET enable_seqscan") //nolint:errcheck // back to the pool either way
	hash := make([]byte, 32)
	for _, c := range []struct {
		query string
		args  []any
		index string
	}{
		{loadKeySQL, []any{hash}, "api_keys_hash_key"},
		{keyInOrgSQL, []any{hash, 1}, "api_keys_hash_key"},
		{"SELECT id FROM api_keys WHERE org_id = $1 AND deleted_at IS NULL ORDER BY id DESC", []any{1}, "api_keys_org_id"},
		{principalSQL, []any{hash}, "management_keys_hash_key"},
		{"SELECT " + userColumns + " FROM users WHERE " + emailKey + " = " + emailKeyOf, []any{"A@example.com"}, "users_email"},
		{"SELECT count(*) FROM memberships WHERE org_id = $1 AND role = 'admin' AND user_id <> $2", []any{1, 2}, "memberships_pkey"},
		{"SELECT org_id FROM invitations WHERE hash = $1", []any{hash}, "invitations_hash_key"},
	} {
		rows, err := conn.Query(ctx, "EXPLAIN "+c.query, c.args...)
		must(t, err)
		var plan string
		for rows.Next() {
			var line string
			must(t, rows.Scan(&line))
			plan += line + "; "
		}
		must(t, rows.Err())
		if !strings.Contains(plan, c.index) {
			t.Errorf("%s\nplan %q does not use %s", c.query, plan, c.index)
		}
	}
}
