package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/arouter/arouter/store/storetest"
)

// openTest opens a fresh store in the test's own temporary directory.
func openTest(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "data", "arouter.db"))
}

// harness runs the conformance tests of package storetest on SQLite files of their own.
var harness = storetest.Harness{
	Open: func(t testing.TB) storetest.Store { return openTest(t) },
	OpenTwo: func(t testing.TB) (storetest.Store, storetest.Store) {
		path := filepath.Join(t.TempDir(), "arouter.db")
		return openAt(t, path), openAt(t, path)
	},
	QueryRow: func(_ testing.TB, s storetest.Store, query string, args ...any) storetest.Row {
		return s.(*Store).r.QueryRow(query, args...)
	},
	ErrKeyExists: ErrKeyExists,
}

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
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

// testRecords returns n records with distinct generation ids and every field set (see
// storetest.TestRecords).
var testRecords = storetest.TestRecords

func countUsage(t testing.TB, s *Store) int64 {
	t.Helper()
	n, err := s.CountUsage(context.Background())
	if err != nil {
		t.Fatalf("CountUsage: %v", err)
	}
	return n
}
