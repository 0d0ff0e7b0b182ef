package postgres

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/arouter/arouter/admin"
	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/cachekeys"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/store/postgres/pgtest"
)

// What the consumers declare of a store, for the methods of this half of the package.
var (
	_ cachekeys.Loader     = (*Store)(nil)
	_ byok.Loader          = (*Store)(nil)
	_ admin.BootstrapStore = (*Store)(nil)
	// cmd/arouter's creditTotals, which is unexported.
	_ interface {
		CreditTotals(ctx context.Context) (map[int64]money.Nanos, error)
	} = (*Store)(nil)
)

func schemaVersions(t *testing.T, s *Store) map[int]int64 {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), "SELECT version, applied_at FROM schema_migrations")
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

// checkSchemaObject fails the test unless the table, index or constraint name exists in the
// store's schema (want) or does not (!want).
func checkSchemaObject(t testing.TB, s *Store, name string, want bool) {
	t.Helper()
	var n int
	err := s.pool.QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace) +
			(SELECT count(*) FROM pg_constraint WHERE conname = $1 AND connamespace = current_schema()::regnamespace) +
			(SELECT count(*) FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
				WHERE tg.tgname = $1 AND c.relnamespace = current_schema()::regnamespace)`, name).Scan(&n)
	if err != nil || (n > 0) != want {
		t.Errorf("schema object %s: %d found, err %v; want present %v", name, n, err, want)
	}
}

func TestOpenCreatesSchema(t *testing.T) {
	t.Parallel()
	u := pgtest.URL(t)
	s := openAt(t, u)
	if got := schemaVersions(t, s); len(got) != len(migrations) {
		t.Fatalf("schema_migrations has %d rows, want %d", len(got), len(migrations))
	}
	for _, name := range []string{
		"api_keys", "api_keys_hash_key", "usage_records", "usage_records_created_at",
		"orgs", "users", "users_email", "users_instance_admin", "memberships", "memberships_user_id",
		"management_keys", "management_keys_org_user", "credit_grants", "credit_grants_org_id",
		"api_keys_org_id", "api_keys_budget_id", "usage_daily", "usage_daily_models", "usage_daily_keys",
		"usage_daily_budget_day", "byok_credentials", "byok_credentials_live", "usage_bodies",
		"invitations", "invitations_org_user", "management_keys_user_id",
	} {
		checkSchemaObject(t, s, name, true)
	}
	// What SQLite dropped when the writer took over the roll-ups never exists here.
	for _, name := range []string{"usage_records_roll_up", "usage_records_key_created_at", "usage_records_model_created_at"} {
		checkSchemaObject(t, s, name, false)
	}
	// The tables are in the schema the URL's search_path names, not in public.
	pu, err := url.Parse(u)
	must(t, err)
	var schema string
	must(t, s.pool.QueryRow(context.Background(), "SELECT relnamespace::regnamespace::text FROM pg_class WHERE relname = 'api_keys' AND relnamespace = current_schema()::regnamespace").Scan(&schema))
	if want := pu.Query().Get("search_path"); schema != want {
		t.Errorf("api_keys is in schema %q, want %q", schema, want)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestReopenIsNoop(t *testing.T) {
	t.Parallel()
	u := pgtest.URL(t)
	s, err := Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	before := schemaVersions(t, s)
	must(t, s.Close())
	s = openAt(t, u)
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

// Replicas starting at once against a fresh database all open it, and each migration is
// applied once: the advisory lock lets one migrate while the others wait, then see its rows.
func TestConcurrentOpenFreshSchema(t *testing.T) {
	t.Parallel()
	u := pgtest.URL(t)
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(context.Background(), u)
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
	if err := stores[0].pool.QueryRow(context.Background(),
		"SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != len(migrations) || distinct != len(migrations) {
		t.Errorf("schema_migrations: %d rows, %d distinct; want %d", rows, distinct, len(migrations))
	}
	// Every one of them works.
	for i, s := range stores {
		if err := s.Ping(context.Background()); err != nil {
			t.Errorf("Ping #%d: %v", i, err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	u := pgtest.URL(t)
	s, err := Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(context.Background(), "INSERT INTO schema_migrations VALUES ($1, 0)", len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(context.Background(), u); err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	} else if !strings.Contains(err.Error(), "upgrade arouter") {
		t.Errorf("error does not say what to do: %v", err)
	}
}

// Errors from Open say what to do and never show the password.
func TestOpenErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	base, err := url.Parse(pgtest.URL(t))
	must(t, err)
	const secret = "s3cret-pw"
	with := func(change func(u *url.URL)) string {
		u := *base
		u.User = url.UserPassword(base.User.Username(), secret)
		q := u.Query()
		q.Set("connect_timeout", "5")
		u.RawQuery = q.Encode()
		change(&u)
		return u.String()
	}
	cases := []struct {
		name, url, hint string
	}{
		{"empty", "", "set the store URL"},
		{"not a URL", "postgres://%zz", "check the store URL"},
		{"bad port", "postgres://u:" + secret + "@127.0.0.1:notaport/db", "check the store URL"},
		{"nothing listens", with(func(u *url.URL) { u.Host = "127.0.0.1:1" }), "check the host and port"},
		{"no such database", with(func(u *url.URL) { u.Path = "/no_such_database_arouter" }), "create it"},
		{"no such user", with(func(u *url.URL) { u.User = url.UserPassword("no_such_user_arouter", secret) }), "credentials"},
		{"no such schema", with(func(u *url.URL) {
			q := u.Query()
			q.Set("search_path", "no_such_schema_arouter")
			u.RawQuery = q.Encode()
		}), "search_path"},
	}
	for _, c := range cases {
		s, err := Open(context.Background(), c.url)
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.hint) {
			t.Errorf("%s: error has no hint %q: %v", c.name, c.hint, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows the password: %v", c.name, err)
		}
		t.Logf("%s: %v", c.name, err)
	}
}

func TestPathRedactsPassword(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"postgres://u:pw@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db"},
		{"postgres://u:p%40ss@h/db?password=x&search_path=s", "postgres://u:xxxxx@h/db?password=xxxxx&search_path=s"},
		{"postgres://h/db?sslpassword=x", "postgres://h/db?sslpassword=xxxxx"},
		{"host=h user=u password=pw dbname=db", "host=h user=u password=xxxxx dbname=db"},
		{"host=h password='p w\\'x' dbname=db", "host=h password=xxxxx dbname=db"},
		{"postgres://u:pw@%zz", "(unparseable PostgreSQL URL)"},
	} {
		if got := redact(c.in); got != c.want {
			t.Errorf("redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	u := pgtest.URL(t)
	pu, err := url.Parse(u)
	must(t, err)
	pu.User = url.UserPassword(pu.User.Username(), "hunter2")
	s := openAt(t, pu.String()) // trust authentication ignores the password
	if strings.Contains(s.Path(), "hunter2") || !strings.Contains(s.Path(), "xxxxx") {
		t.Errorf("Path() = %q", s.Path())
	}
}

// Ping reads the schema: a store whose tables are gone is not ready.
func TestPingNeedsTheSchema(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	must(t, s.Ping(ctx))
	_, err := s.pool.Exec(ctx, "ALTER TABLE schema_migrations RENAME TO schema_migrations_gone")
	must(t, err)
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping succeeded without schema_migrations")
	}
}
