package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func schemaVersions(t *testing.T, s *Store) map[int]int64 {
	t.Helper()
	rows, err := s.r.Query("SELECT version, applied_at FROM schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int]int64{}
	for rows.Next() {
		var v int
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		got[v] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestOpenCreatesSchema(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	if got := schemaVersions(t, s); len(got) != len(migrations) {
		t.Fatalf("schema_migrations has %d rows, want %d", len(got), len(migrations))
	}
	for _, name := range []string{
		"api_keys", "usage_records", "usage_records_created_at",
		"orgs", "users", "users_instance_admin", "memberships", "memberships_user_id",
		"management_keys", "management_keys_org_user", "credit_grants", "credit_grants_org_id",
		"api_keys_org_id", "api_keys_budget_id", "usage_daily", "usage_daily_models", "usage_daily_keys",
		"usage_daily_budget_day", "byok_credentials", "byok_credentials_live",
	} {
		var n int
		if err := s.r.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = ?", name).Scan(&n); err != nil || n != 1 {
			t.Errorf("schema object %s: count %d, err %v", name, n, err)
		}
	}
	// Dropped when the writer took over the roll-ups: they only slowed every insert.
	for _, name := range []string{"usage_records_roll_up", "usage_records_key_created_at", "usage_records_model_created_at"} {
		var n int
		if err := s.r.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = ?", name).Scan(&n); err != nil || n != 0 {
			t.Errorf("schema object %s still exists (count %d, err %v)", name, n, err)
		}
	}
	var mode string
	if err := s.r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	for _, c := range []struct {
		pool, pragma string
		want         int
	}{{"w", "foreign_keys", 1}, {"w", "busy_timeout", busyTimeoutMS}, {"w", "synchronous", 1}, {"w", "wal_autocheckpoint", walCheckpointPages}, {"r", "query_only", 1}, {"r", "busy_timeout", busyTimeoutMS}} {
		db := s.w
		if c.pool == "r" {
			db = s.r
		}
		var got int
		if err := db.QueryRow("PRAGMA " + c.pragma).Scan(&got); err != nil || got != c.want {
			t.Errorf("%s pool: PRAGMA %s = %d, %v; want %d", c.pool, c.pragma, got, err, c.want)
		}
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestReopenIsNoop(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "arouter.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	before := schemaVersions(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	after := schemaVersions(t, s)
	if len(after) != len(before) {
		t.Fatalf("versions after reopen %v, before %v", after, before)
	}
	for v, at := range before {
		if after[v] != at {
			t.Errorf("migration %d re-applied: applied_at %d, was %d", v, after[v], at)
		}
	}
}

func TestConcurrentOpenFreshFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "new", "arouter.db")
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(path)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	var rows, distinct int
	if err := stores[0].r.QueryRow("SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != len(migrations) || distinct != len(migrations) {
		t.Errorf("schema_migrations: %d rows, %d distinct; want %d", rows, distinct, len(migrations))
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "arouter.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec("INSERT INTO schema_migrations VALUES (?, 0)", len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(path); err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	} else if !strings.Contains(err.Error(), "upgrade arouter") {
		t.Errorf("error does not say what to do: %v", err)
	}
}

func TestOpenErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"", junk, dir, filepath.Join(notDir, "arouter.db")} {
		s, err := Open(path)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
			continue
		}
		if !strings.Contains(err.Error(), "; ") || !strings.Contains(err.Error(), "check") && !strings.Contains(err.Error(), "set the store path") {
			t.Errorf("Open(%q): error has no hint: %v", path, err)
		}
		t.Logf("Open(%q): %v", path, err)
	}
}

func TestOpenOddPath(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "we?ird #dir %41", "a?b#c.db")
	s := openAt(t, path)
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("store file not at the given path: %v", err)
	}
}
