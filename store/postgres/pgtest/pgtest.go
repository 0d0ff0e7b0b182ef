// Package pgtest gives tests a PostgreSQL database of their own: a fresh schema in the server
// named by AROUTER_TEST_POSTGRES_URL, dropped when the test ends. Tests that use it may run in
// parallel, in one package or several, without seeing each other's tables.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the URL of the server tests use. Every test
// gets its own schema there; the database must exist and the user must be allowed to create
// schemas in it.
const EnvURL = "AROUTER_TEST_POSTGRES_URL"

// cleanupTimeout bounds dropping a test's schema.
const cleanupTimeout = 30 * time.Second

// URL returns a postgres:// URL whose search_path is a new, empty schema made for this test,
// and registers a cleanup that drops the schema with everything in it. Stores opened on the
// URL must be closed by cleanups registered after this call (they run first), or the drop
// waits for their connections' locks. When AROUTER_TEST_POSTGRES_URL is unset, URL skips the
// test.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		t.Skip(EnvURL + " is not set: skipping the PostgreSQL tests; set it to e.g. " +
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run them")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", EnvURL) // the value may hold a password: not printed
	}
	schema := schemaName(t.Name())

	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to the test server (%s): %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create test schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// notIdent matches what schemaName replaces: anything but lower-case letters, digits and _.
var notIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// schemaName returns a schema name unique to this call that also says which test made it, so
// that a schema left behind by a killed test run can be traced: "t_" + up to 40 characters of
// the test's name + "_" + 12 random hex digits, within PostgreSQL's 63-byte limit.
func schemaName(test string) string {
	name := strings.Trim(notIdent.ReplaceAllString(strings.ToLower(test), "_"), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return "t_" + name + "_" + hex.EncodeToString(b[:])
}
