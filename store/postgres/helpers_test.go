package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/arouter/arouter/store/postgres/pgtest"
	"github.com/arouter/arouter/store/storetest"
)

// openTest opens a store in a fresh schema of its own (see pgtest.URL), which the test's
// cleanup drops after closing the store. It skips the test when no server is configured.
func openTest(t testing.TB) *Store {
	t.Helper()
	return openAt(t, pgtest.URL(t))
}

// harness runs the conformance tests of package storetest on schemas of their own.
var harness = storetest.Harness{
	Open: func(t testing.TB) storetest.Store { return openTest(t) },
	OpenTwo: func(t testing.TB) (storetest.Store, storetest.Store) {
		url := pgtest.URL(t)
		return openAt(t, url), openAt(t, url)
	},
	QueryRow: func(_ testing.TB, s storetest.Store, query string, args ...any) storetest.Row {
		return s.(*Store).pool.QueryRow(context.Background(), dollarPlaceholders(query), args...)
	},
	ErrKeyExists: ErrKeyExists,
}

// dollarPlaceholders rewrites the ? placeholders of query to PostgreSQL's $1, $2, ...
func dollarPlaceholders(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// openAt opens a store at url and closes it when the test ends. Opening the URL of another
// store gives a second Store on the same schema, as another process or replica would have.
func openAt(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open(%s): %v", redact(url), err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// The helpers the conformance tests share with this package's own tests.
var (
	testKey    = storetest.TestKey
	newTestKey = storetest.NewTestKey
	checkKey   = storetest.CheckKey
	newUser    = storetest.NewUser
	newOrg     = storetest.NewOrg
	newOrgKey  = storetest.NewOrgKey
	must       = storetest.Must

	roles            = storetest.Roles
	newManagementKey = storetest.NewManagementKey
)

// countRows returns the number of rows of table.
func countRows(t testing.TB, s *Store, table string) int {
	t.Helper()
	var n int
	must(t, s.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
	return n
}
