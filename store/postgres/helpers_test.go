package postgres

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/store/postgres/pgtest"
	"github.com/arouter/arouter/tenancy"
)

// openTest opens a store in a fresh schema of its own (see pgtest.URL), which the test's
// cleanup drops after closing the store. It skips the test when no server is configured.
func openTest(t testing.TB) *Store {
	t.Helper()
	return openAt(t, pgtest.URL(t))
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

// testKey returns a key with times at the stored precision and, for odd i, a limit, a reset
// period, a models restriction and IncludeBYOKInLimit. OrgID, CreatorID and BudgetID are left
// for the test to set.
func testKey(i int, expires bool) *apikey.Key {
	token := fmt.Sprintf("%s%064d", apikey.Prefix, i)
	k := &apikey.Key{
		Hash:      apikey.HashToken([]byte(token)),
		Name:      fmt.Sprintf("key %d", i),
		Label:     apikey.Label(token),
		Disabled:  i%3 == 2,
		CreatedAt: time.UnixMilli(1_700_000_000_000 + int64(i)).UTC(),
		UpdatedAt: time.UnixMilli(1_700_000_000_500 + int64(i)).UTC(),
	}
	if expires {
		k.ExpiresAt = time.UnixMilli(1_800_000_000_123 + int64(i)).UTC()
	}
	if i%2 == 1 {
		k.Limit, k.HasLimit = money.Nanos(1_000_000_000*int64(i)+7), true
		k.LimitReset = apikey.Period(i / 2 % 4)
		k.AllowedModels = []string{"anthropic/*", fmt.Sprintf("openai/gpt-%d", i)}
		k.IncludeBYOKInLimit = true
	}
	return k
}

// checkKey fails the test unless got equals want field by field.
func checkKey(t testing.TB, what string, got, want *apikey.Key) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
		}
		return
	}
	if !reflect.DeepEqual(*got, *want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, *got, *want)
	}
}

// newUser stores a user called name, with email name@example.com.
func newUser(t testing.TB, s *Store, name string) *tenancy.User {
	t.Helper()
	u := &tenancy.User{Email: name + "@example.com", Name: name}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

// newOrg stores an organization called name with admin as its admin.
func newOrg(t testing.TB, s *Store, name string, admin int64) *tenancy.Org {
	t.Helper()
	o := &tenancy.Org{Name: name}
	if err := s.CreateOrg(context.Background(), o, admin); err != nil {
		t.Fatalf("CreateOrg(%s): %v", name, err)
	}
	return o
}

// newOrgKey stores an enabled, unrestricted key number i in orgID, created by creatorID.
func newOrgKey(t testing.TB, s *Store, i int, orgID, creatorID int64) *apikey.Key {
	t.Helper()
	k := testKey(i, false)
	k.Disabled = false
	k.OrgID, k.CreatorID = orgID, creatorID
	if err := s.InsertKey(context.Background(), k); err != nil {
		t.Fatalf("InsertKey %d: %v", i, err)
	}
	return k
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// countRows returns the number of rows of table.
func countRows(t testing.TB, s *Store, table string) int {
	t.Helper()
	var n int
	must(t, s.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
	return n
}
