package sqlite

import (
	"strings"
	"testing"

	"github.com/arouter/arouter/store/storetest"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	storetest.TestKeys(t, harness)
}

// The hot lookups use their indexes; a table scan would pass every test and fail at scale.
func TestKeyQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	for _, c := range []struct {
		query string
		args  []any
		index string
	}{
		{loadKeySQL, []any{[]byte("x")}, "sqlite_autoindex_api_keys_1"},
		{keyInOrgSQL, []any{[]byte("x"), 1}, "sqlite_autoindex_api_keys_1"},
		{"SELECT id FROM api_keys WHERE org_id = ? AND deleted_at IS NULL ORDER BY id DESC", []any{1}, "api_keys_org_id"},
		{principalSQL, []any{[]byte("x")}, "sqlite_autoindex_management_keys_1"},
		{"SELECT budget_id FROM usage_daily WHERE budget_id = ? AND day >= ?", []any{1, 2}, "usage_daily_budget_day"},
		{"SELECT org_id FROM usage_daily WHERE org_id = ? AND day >= ?", []any{1, 2}, "PRIMARY KEY (org_id=? AND day>?)"},
	} {
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+c.query, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			must(t, rows.Scan(&id, &parent, &unused, &detail))
			plan += detail + "; "
		}
		must(t, closeRows(rows))
		if !strings.Contains(plan, c.index) {
			t.Errorf("%s\nplan %q does not use %s", c.query, plan, c.index)
		}
	}
}
