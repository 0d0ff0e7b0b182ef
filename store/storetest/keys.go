package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/tenancy"
)

// TestKeys runs the API key tests on stores opened by h, each test as a parallel subtest.
func TestKeys(t *testing.T, h Harness) {
	for _, c := range []struct {
		name string
		test func(*testing.T, Harness)
	}{
		{"KeyRoundTrip", testKeyRoundTrip},
		{"InsertKeyNormalisesTimes", testInsertKeyNormalisesTimes},
		{"InsertKeyDuplicateHash", testInsertKeyDuplicateHash},
		{"KeyNotFound", testKeyNotFound},
		{"ListKeys", testListKeys},
		{"ListKeysFullRecords", testListKeysFullRecords},
		{"SetKeyDisabled", testSetKeyDisabled},
		{"UpdateKey", testUpdateKey},
		{"UpdateKeyAtomic", testUpdateKeyAtomic},
		{"UpdateKeyChangeError", testUpdateKeyChangeError},
		{"DeleteKey", testDeleteKey},
		{"RotateKey", testRotateKey},
		{"AssignOrphanKeys", testAssignOrphanKeys},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, h) })
	}
}

func testKeyRoundTrip(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	cases := []struct {
		name string
		key  func() *apikey.Key
		// want adjusts the inserted key to what must read back; ID and a zero BudgetID are
		// filled in from the insert.
		want func(k *apikey.Key)
	}{
		{"plain", func() *apikey.Key { return TestKey(2, false) }, nil},
		{"expires", func() *apikey.Key { return TestKey(4, true) }, nil},
		{"every field", func() *apikey.Key {
			k := TestKey(1, true)
			k.OrgID, k.CreatorID = 7, 9
			return k
		}, nil},
		{"monthly limit", func() *apikey.Key {
			k := TestKey(5, true)
			k.LimitReset = apikey.Monthly
			return k
		}, nil},
		{"zero limit is a limit", func() *apikey.Key {
			k := TestKey(6, false)
			k.Limit, k.HasLimit = 0, true
			return k
		}, nil},
		{"given budget", func() *apikey.Key {
			k := TestKey(7, false)
			k.BudgetID = 12345
			return k
		}, nil},
		{"empty models load as nil", func() *apikey.Key {
			k := TestKey(8, false)
			k.AllowedModels = []string{}
			return k
		}, func(k *apikey.Key) { k.AllowedModels = nil }},
		{"limit without HasLimit is dropped", func() *apikey.Key {
			k := TestKey(10, false)
			k.Limit = 99
			return k
		}, func(k *apikey.Key) { k.Limit = 0 }},
		{"models with odd characters", func() *apikey.Key {
			k := TestKey(11, false)
			k.AllowedModels = []string{`a"b\c`, "ünï/*", ""}
			return k
		}, nil},
	}
	for _, c := range cases {
		k := c.key()
		want := *k
		want.AllowedModels = append([]string(nil), k.AllowedModels...)
		if c.want != nil {
			c.want(&want)
		}
		if err := s.InsertKey(ctx, k); err != nil {
			t.Fatalf("%s: InsertKey: %v", c.name, err)
		}
		if k.ID == 0 {
			t.Fatalf("%s: InsertKey did not set ID", c.name)
		}
		want.ID = k.ID
		if want.BudgetID == 0 {
			want.BudgetID = k.ID
		}
		CheckKey(t, c.name+": InsertKey result", k, &want)
		got, err := s.LoadKey(ctx, k.Hash)
		if err != nil {
			t.Fatalf("%s: LoadKey: %v", c.name, err)
		}
		CheckKey(t, c.name+": LoadKey", got, &want)
		var expiresAt, limit *int64
		var budgetID int64
		if err := h.QueryRow(t, s, "SELECT expires_at, limit_nanos, budget_id FROM api_keys WHERE id = ?", k.ID).Scan(&expiresAt, &limit, &budgetID); err != nil {
			t.Fatal(err)
		}
		if (expiresAt == nil) != want.ExpiresAt.IsZero() || (limit == nil) == want.HasLimit || budgetID != want.BudgetID {
			t.Errorf("%s: stored expires_at %v, limit_nanos %v, budget_id %d", c.name, expiresAt, limit, budgetID)
		}
	}
}

func testInsertKeyNormalisesTimes(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	loc := time.FixedZone("UTC+5", 5*3600)
	k := TestKey(1, true)
	k.CreatedAt, k.UpdatedAt = time.Time{}, time.Time{}
	k.ExpiresAt = time.Date(2030, 1, 2, 3, 4, 5, 678_901_234, loc)
	before := time.Now()
	if err := s.InsertKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if d := k.CreatedAt.Sub(before); d < -time.Millisecond || d > time.Minute {
		t.Errorf("zero CreatedAt became %v, want about now", k.CreatedAt)
	}
	if k.UpdatedAt != k.CreatedAt {
		t.Errorf("zero UpdatedAt became %v, want CreatedAt %v", k.UpdatedAt, k.CreatedAt)
	}
	if want := time.Date(2030, 1, 1, 22, 4, 5, 678_000_000, time.UTC); k.ExpiresAt != want {
		t.Errorf("ExpiresAt = %v, want %v", k.ExpiresAt, want)
	}
	got, err := s.LoadKey(ctx, k.Hash)
	if err != nil {
		t.Fatal(err)
	}
	CheckKey(t, "LoadKey", got, k)
}

func testInsertKeyDuplicateHash(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	first := TestKey(1, false)
	if err := s.InsertKey(ctx, first); err != nil {
		t.Fatal(err)
	}
	dup := TestKey(1, true)
	dup.Name = "other"
	err := s.InsertKey(ctx, dup)
	if !errors.Is(err, h.ErrKeyExists) || !errors.Is(err, tenancy.ErrExists) {
		t.Fatalf("duplicate InsertKey: %v, want ErrKeyExists and tenancy.ErrExists", err)
	}
	if dup.ID != 0 || dup.BudgetID != 0 {
		t.Errorf("failed InsertKey set ID %d, BudgetID %d", dup.ID, dup.BudgetID)
	}
	// A deleted key's hash stays taken.
	Must(t, s.DeleteKey(ctx, first.Hash, 0))
	if err := s.InsertKey(ctx, dup); !errors.Is(err, h.ErrKeyExists) {
		t.Fatalf("InsertKey over a deleted key: %v, want ErrKeyExists", err)
	}
	var n int
	Must(t, h.QueryRow(t, s, "SELECT count(*) FROM api_keys").Scan(&n))
	if n != 1 {
		t.Errorf("%d rows after duplicates, want 1", n)
	}
}

// Every lookup of an unknown key, or of a key through another organization, is not found,
// and no write happens.
func testKeyNotFound(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	alice, bob := NewUser(t, s, "alice"), NewUser(t, s, "bob")
	mine := NewOrgKey(t, s, 1, alice.PersonalOrgID, alice.ID)
	deleted := NewOrgKey(t, s, 2, alice.PersonalOrgID, alice.ID)
	Must(t, s.DeleteKey(ctx, deleted.Hash, alice.PersonalOrgID))
	unknown := apikey.HashToken([]byte("nope"))

	cases := []struct {
		name  string
		h     apikey.Hash
		orgID int64
	}{
		{"unknown hash", unknown, alice.PersonalOrgID},
		{"other organization", mine.Hash, bob.PersonalOrgID},
		{"context 0", mine.Hash, 0},
		{"deleted", deleted.Hash, alice.PersonalOrgID},
	}
	for _, c := range cases {
		isNotFound := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, apikey.ErrNotFound) || !errors.Is(err, tenancy.ErrNotFound) {
				t.Errorf("%s: %s: %v, want apikey.ErrNotFound and tenancy.ErrNotFound", c.name, op, err)
			}
		}
		_, err := s.KeyInOrg(ctx, c.h, c.orgID)
		isNotFound("KeyInOrg", err)
		called := false
		_, err = s.UpdateKey(ctx, c.h, c.orgID, func(k *apikey.Key) error { called = true; k.Name = "x"; return nil })
		isNotFound("UpdateKey", err)
		if called {
			t.Errorf("%s: UpdateKey called change", c.name)
		}
		isNotFound("DeleteKey", s.DeleteKey(ctx, c.h, c.orgID))
		next := NewTestKey(100)
		_, err = s.RotateKey(ctx, c.h, c.orgID, next, time.Now())
		isNotFound("RotateKey", err)
		if next.ID != 0 {
			t.Errorf("%s: RotateKey set next.ID", c.name)
		}
	}
	for _, h := range []apikey.Hash{unknown, deleted.Hash} {
		_, err := s.LoadKey(ctx, h)
		if !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("LoadKey: %v, want apikey.ErrNotFound", err)
		}
		if err := s.SetKeyDisabled(ctx, h, true); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("SetKeyDisabled: %v, want apikey.ErrNotFound", err)
		}
	}
	// Nothing changed: mine is as inserted, no key 100 was stored.
	got, err := s.LoadKey(ctx, mine.Hash)
	if err != nil {
		t.Fatal(err)
	}
	CheckKey(t, "key after refused writes", got, mine)
	var n int
	Must(t, h.QueryRow(t, s, "SELECT count(*) FROM api_keys").Scan(&n))
	if n != 2 {
		t.Errorf("%d keys stored, want 2", n)
	}
}

// NewTestKey returns an unstored key whose hash differs from every TestKey's.
func NewTestKey(i int) *apikey.Key {
	token := fmt.Sprintf("%sf%063x", apikey.Prefix, i)
	return &apikey.Key{Hash: apikey.HashToken([]byte(token)), Name: fmt.Sprintf("new %d", i), Label: apikey.Label(token)}
}

func testListKeys(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	alice, bob := NewUser(t, s, "alice"), NewUser(t, s, "bob")
	org := NewOrg(t, s, "acme", alice.ID)
	Must(t, s.AddMember(ctx, org.ID, bob.ID, tenancy.RoleMember))
	other := NewUser(t, s, "carol")

	// 130 keys in org, alternating creators; every fifth disabled; every seventh deleted.
	// Keys in other contexts interleave.
	var ids struct{ all, alice, enabled, aliceEnabled []int64 }
	for i := range 130 {
		creator := alice.ID
		if i%2 == 1 {
			creator = bob.ID
		}
		k := NewOrgKey(t, s, i, org.ID, creator)
		NewOrgKey(t, s, 1000+i, other.PersonalOrgID, other.ID)
		switch {
		case i%7 == 3:
			Must(t, s.DeleteKey(ctx, k.Hash, org.ID))
			continue
		case i%5 == 4:
			Must(t, s.SetKeyDisabled(ctx, k.Hash, true))
		default:
			ids.enabled = append(ids.enabled, k.ID)
			if creator == alice.ID {
				ids.aliceEnabled = append(ids.aliceEnabled, k.ID)
			}
		}
		ids.all = append(ids.all, k.ID)
		if creator == alice.ID {
			ids.alice = append(ids.alice, k.ID)
		}
	}
	newestFirst := func(ids []int64) []int64 {
		out := make([]int64, len(ids))
		for i, id := range ids {
			out[len(ids)-1-i] = id
		}
		return out
	}
	page := func(ids []int64, off, n int) []int64 {
		ids = newestFirst(ids)
		if off > len(ids) {
			return nil
		}
		return ids[off:min(off+n, len(ids))]
	}
	cases := []struct {
		name string
		f    apikey.Filter
		want []int64
	}{
		{"default page is 100", apikey.Filter{OrgID: org.ID, IncludeDisabled: true}, page(ids.all, 0, 100)},
		{"second page", apikey.Filter{OrgID: org.ID, IncludeDisabled: true, Offset: 100, Limit: 100}, page(ids.all, 100, 100)},
		{"small page", apikey.Filter{OrgID: org.ID, IncludeDisabled: true, Offset: 3, Limit: 5}, page(ids.all, 3, 5)},
		{"enabled only", apikey.Filter{OrgID: org.ID, Limit: 1000}, page(ids.enabled, 0, 1000)},
		{"one creator", apikey.Filter{OrgID: org.ID, CreatorID: alice.ID, IncludeDisabled: true, Limit: 1000}, page(ids.alice, 0, 1000)},
		{"one creator, enabled", apikey.Filter{OrgID: org.ID, CreatorID: alice.ID, Limit: 1000}, page(ids.aliceEnabled, 0, 1000)},
		{"past the end", apikey.Filter{OrgID: org.ID, IncludeDisabled: true, Offset: 1000}, nil},
		{"negative offset is 0", apikey.Filter{OrgID: org.ID, IncludeDisabled: true, Offset: -5, Limit: 2}, page(ids.all, 0, 2)},
		{"creator not in org", apikey.Filter{OrgID: org.ID, CreatorID: other.ID, IncludeDisabled: true}, nil},
		{"unknown org", apikey.Filter{OrgID: 999, IncludeDisabled: true}, nil},
		{"context 0", apikey.Filter{IncludeDisabled: true}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			keys, err := s.ListKeys(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, k := range keys {
				got = append(got, k.ID)
				if k.OrgID != org.ID {
					t.Errorf("key %d of org %d listed", k.ID, k.OrgID)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("ids\n got %v\nwant %v", got, c.want)
			}
		})
	}
}

// ListKeys returns complete keys, equal to what LoadKey returns.
func testListKeysFullRecords(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	var want []*apikey.Key
	for i := range 6 {
		k := TestKey(i, i%2 == 0)
		k.OrgID = 3
		Must(t, s.InsertKey(ctx, k))
		want = append([]*apikey.Key{k}, want...)
	}
	got, err := s.ListKeys(ctx, apikey.Filter{OrgID: 3, IncludeDisabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("ListKeys returned %d keys, want %d", len(got), len(want))
	}
	for i := range got {
		CheckKey(t, fmt.Sprint("key ", i), got[i], want[i])
	}
}

func testSetKeyDisabled(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	k := TestKey(1, false)
	k.Disabled = false
	Must(t, s.InsertKey(ctx, k))
	other := TestKey(4, false)
	Must(t, s.InsertKey(ctx, other))
	for _, disabled := range []bool{true, true, false, false, true} {
		before := time.Now().Add(-time.Millisecond)
		if err := s.SetKeyDisabled(ctx, k.Hash, disabled); err != nil {
			t.Fatalf("SetKeyDisabled(%v): %v", disabled, err)
		}
		got, err := s.LoadKey(ctx, k.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if got.Disabled != disabled {
			t.Errorf("after SetKeyDisabled(%v): Disabled = %v", disabled, got.Disabled)
		}
		if got.UpdatedAt.Before(before) {
			t.Errorf("after SetKeyDisabled(%v): UpdatedAt %v not bumped", disabled, got.UpdatedAt)
		}
		if o, err := s.LoadKey(ctx, other.Hash); err != nil {
			t.Fatal(err)
		} else {
			CheckKey(t, "other key", o, other)
		}
	}
}

func testUpdateKey(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	alice := NewUser(t, s, "alice")
	org := alice.PersonalOrgID
	expires := time.Date(2031, 5, 6, 7, 8, 9, 123_456_789, time.FixedZone("x", 3600))
	var fixed *apikey.Key // the key as inserted, for the case that changes only fixed fields
	cases := []struct {
		name   string
		change func(k *apikey.Key)
		want   func(k *apikey.Key)
	}{
		{"name", func(k *apikey.Key) { k.Name = "renamed" }, nil},
		{"disable", func(k *apikey.Key) { k.Disabled = true }, nil},
		{"set limit", func(k *apikey.Key) { k.Limit, k.HasLimit, k.LimitReset = 5*money.PerUSD, true, apikey.Weekly }, nil},
		{"drop limit", func(k *apikey.Key) { k.HasLimit, k.LimitReset = false, apikey.NoReset },
			func(k *apikey.Key) { k.Limit = 0 }},
		{"models", func(k *apikey.Key) { k.AllowedModels = []string{"openai/*"} }, nil},
		{"clear models", func(k *apikey.Key) { k.AllowedModels = []string{} }, func(k *apikey.Key) { k.AllowedModels = nil }},
		{"expiry", func(k *apikey.Key) { k.ExpiresAt = expires },
			func(k *apikey.Key) { k.ExpiresAt = time.Date(2031, 5, 6, 6, 8, 9, 123_000_000, time.UTC) }},
		{"no expiry", func(k *apikey.Key) { k.ExpiresAt = time.Time{} }, nil},
		{"byok", func(k *apikey.Key) { k.IncludeBYOKInLimit = !k.IncludeBYOKInLimit }, nil},
		{"fixed fields are ignored", func(k *apikey.Key) {
			k.ID, k.Hash, k.Label, k.OrgID, k.CreatorID, k.BudgetID = 99, apikey.Hash{1}, "x", 99, 99, 99
			k.CreatedAt = time.Unix(1, 0)
			k.Name = "and the rest applies"
		}, func(k *apikey.Key) {
			name := k.Name
			*k = *fixed
			k.Name = name
		}},
	}
	for i, c := range cases {
		k := TestKey(2*i+1, true) // odd: every optional field set
		k.OrgID, k.CreatorID = org, alice.ID
		Must(t, s.InsertKey(ctx, k))
		fixed = k
		want := *k
		want.AllowedModels = append([]string(nil), k.AllowedModels...)
		c.change(&want)
		if c.want != nil {
			c.want(&want)
		}
		before := time.Now().Add(-time.Millisecond)
		got, err := s.UpdateKey(ctx, k.Hash, org, func(k *apikey.Key) error { c.change(k); return nil })
		if err != nil {
			t.Fatalf("%s: UpdateKey: %v", c.name, err)
		}
		if got.UpdatedAt.Before(before) || got.UpdatedAt.After(time.Now()) {
			t.Errorf("%s: UpdatedAt = %v, want now", c.name, got.UpdatedAt)
		}
		want.UpdatedAt = got.UpdatedAt
		CheckKey(t, c.name+": result", got, &want)
		loaded, err := s.LoadKey(ctx, k.Hash)
		if err != nil {
			t.Fatal(err)
		}
		CheckKey(t, c.name+": LoadKey", loaded, &want)
		inOrg, err := s.KeyInOrg(ctx, k.Hash, org)
		if err != nil {
			t.Fatal(err)
		}
		CheckKey(t, c.name+": KeyInOrg", inOrg, &want)
	}
}

// UpdateKey's read, change and write are one transaction: concurrent read-modify-write
// updates from two Stores on one database (as from two processes or replicas) lose none.
func testUpdateKeyAtomic(t *testing.T, h Harness) {
	t.Parallel()
	s0, s1 := h.OpenTwo(t)
	stores := []Store{s0, s1}
	ctx := context.Background()
	k := TestKey(2, false)
	k.Limit, k.HasLimit = 0, true
	Must(t, stores[0].InsertKey(ctx, k))
	const perWorker = 20
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for range perWorker {
				_, err := stores[w%2].UpdateKey(ctx, k.Hash, 0, func(k *apikey.Key) error { k.Limit++; return nil })
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := stores[1].LoadKey(ctx, k.Hash)
	if err != nil || got.Limit != 4*perWorker {
		t.Fatalf("after %d increments: %+v, %v", 4*perWorker, got, err)
	}
}

func testUpdateKeyChangeError(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	k := TestKey(3, true)
	Must(t, s.InsertKey(ctx, k))
	errBad := errors.New("bad limit")
	wrapped := fmt.Errorf("limit: %w", errBad)
	_, err := s.UpdateKey(ctx, k.Hash, 0, func(c *apikey.Key) error {
		c.Name, c.Disabled, c.AllowedModels[0] = "half-written", true, "mutated"
		return wrapped
	})
	if err != wrapped || !errors.Is(err, errBad) {
		t.Fatalf("UpdateKey: %v, want change's error as it is", err)
	}
	got, err := s.LoadKey(ctx, k.Hash)
	if err != nil {
		t.Fatal(err)
	}
	CheckKey(t, "after aborted update", got, k)
	// The writer is free again.
	if _, err := s.UpdateKey(ctx, k.Hash, 0, func(c *apikey.Key) error { c.Name = "ok"; return nil }); err != nil {
		t.Fatal(err)
	}
}

func testDeleteKey(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	alice := NewUser(t, s, "alice")
	org := alice.PersonalOrgID
	k := NewOrgKey(t, s, 1, org, alice.ID)
	keep := NewOrgKey(t, s, 2, org, alice.ID)
	recs := TestRecords(3)
	for i := range recs {
		recs[i].KeyID = k.ID
	}
	Must(t, s.WriteUsage(ctx, recs))

	Must(t, s.DeleteKey(ctx, k.Hash, org))
	if _, err := s.LoadKey(ctx, k.Hash); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("LoadKey of deleted key: %v", err)
	}
	if err := s.DeleteKey(ctx, k.Hash, org); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("second DeleteKey: %v", err)
	}
	keys, err := s.ListKeys(ctx, apikey.Filter{OrgID: org, IncludeDisabled: true})
	if err != nil || len(keys) != 1 || keys[0].ID != keep.ID {
		t.Errorf("ListKeys after delete: %v, %v", keys, err)
	}
	var deletedAt *int64
	Must(t, h.QueryRow(t, s, "SELECT deleted_at FROM api_keys WHERE id = ?", k.ID).Scan(&deletedAt))
	if deletedAt == nil {
		t.Error("deleted key's row has no deleted_at")
	}
	if r, err := s.UsageByGeneration(ctx, recs[0].GenerationID.String()); err != nil || r.KeyID != k.ID {
		t.Errorf("usage of the deleted key: %+v, %v", r, err)
	}
}

func testRotateKey(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	alice, bob := NewUser(t, s, "alice"), NewUser(t, s, "bob")
	org := alice.PersonalOrgID
	grace := time.Now().Add(time.Hour).Truncate(time.Millisecond).UTC()
	cases := []struct {
		name       string
		oldExpires time.Time // of the old key before rotation
		given      time.Time
		want       time.Time // zero: about now
	}{
		{"never expired", time.Time{}, grace, grace},
		{"expires later", grace.Add(time.Hour), grace, grace},
		{"expires earlier", grace.Add(-time.Minute), grace, grace.Add(-time.Minute)},
		{"same time", grace, grace, grace},
		{"zero means now", time.Time{}, time.Time{}, time.Time{}},
	}
	for i, c := range cases {
		old := TestKey(2*i+1, false)
		old.OrgID, old.CreatorID, old.ExpiresAt = org, alice.ID, c.oldExpires
		Must(t, s.InsertKey(ctx, old))
		next := NewTestKey(i)
		next.OrgID, next.BudgetID, next.CreatorID = bob.PersonalOrgID, 777, bob.ID // org and budget are overridden
		next.Limit, next.HasLimit = 42, true
		wantNext := *next
		before := time.Now().Add(-time.Millisecond)
		gotOld, err := s.RotateKey(ctx, old.Hash, org, next, c.given)
		if err != nil {
			t.Fatalf("%s: RotateKey: %v", c.name, err)
		}
		if next.ID == 0 {
			t.Fatalf("%s: next.ID not set", c.name)
		}
		wantNext.ID, wantNext.OrgID, wantNext.BudgetID = next.ID, org, old.BudgetID
		wantNext.CreatedAt, wantNext.UpdatedAt = next.CreatedAt, next.CreatedAt
		CheckKey(t, c.name+": next", next, &wantNext)
		if loaded, err := s.LoadKey(ctx, next.Hash); err != nil {
			t.Fatal(err)
		} else {
			CheckKey(t, c.name+": next loaded", loaded, &wantNext)
		}

		wantOld := *old
		if c.want.IsZero() {
			if gotOld.ExpiresAt.Before(before) || gotOld.ExpiresAt.After(time.Now()) {
				t.Errorf("%s: old expires %v, want about now", c.name, gotOld.ExpiresAt)
			}
			wantOld.ExpiresAt = gotOld.ExpiresAt
		} else {
			wantOld.ExpiresAt = c.want
		}
		if !wantOld.ExpiresAt.Equal(old.ExpiresAt) {
			wantOld.UpdatedAt = gotOld.UpdatedAt
			if gotOld.UpdatedAt.Before(before) {
				t.Errorf("%s: old UpdatedAt %v not bumped", c.name, gotOld.UpdatedAt)
			}
		}
		CheckKey(t, c.name+": old", gotOld, &wantOld)
		if loaded, err := s.LoadKey(ctx, old.Hash); err != nil {
			t.Fatal(err)
		} else {
			CheckKey(t, c.name+": old loaded", loaded, &wantOld)
		}
	}

	// A successor of a successor keeps the first key's budget.
	first := NewOrgKey(t, s, 50, org, alice.ID)
	second, third := NewTestKey(50), NewTestKey(51)
	_, err := s.RotateKey(ctx, first.Hash, org, second, grace)
	Must(t, err)
	_, err = s.RotateKey(ctx, second.Hash, org, third, grace)
	Must(t, err)
	if third.BudgetID != first.ID {
		t.Errorf("third key's budget %d, want the first key's %d", third.BudgetID, first.ID)
	}
	// A key with a live successor is not rotated again: a second successor would inherit its
	// grace-period expiry and die with it.
	before, err := s.LoadKey(ctx, second.Hash)
	Must(t, err)
	if _, err := s.RotateKey(ctx, second.Hash, org, NewTestKey(52), grace.Add(time.Hour)); !errors.Is(err, apikey.ErrRotated) {
		t.Fatalf("rotating a rotated key: %v, want ErrRotated", err)
	}
	if _, err := s.LoadKey(ctx, NewTestKey(52).Hash); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("a refused rotation stored its successor: %v", err)
	}
	if after, err := s.LoadKey(ctx, second.Hash); err != nil || !after.ExpiresAt.Equal(before.ExpiresAt) {
		t.Errorf("a refused rotation changed the key: %+v, %v", after, err)
	}

	// A failing insert (duplicate hash) rolls the expiry back too.
	victim := NewOrgKey(t, s, 60, org, alice.ID)
	dup := NewTestKey(0) // already stored by the first case
	if _, err := s.RotateKey(ctx, victim.Hash, org, dup, grace); !errors.Is(err, h.ErrKeyExists) || !errors.Is(err, tenancy.ErrExists) {
		t.Fatalf("RotateKey to a stored hash: %v, want ErrKeyExists", err)
	}
	if got, err := s.LoadKey(ctx, victim.Hash); err != nil || !got.ExpiresAt.IsZero() {
		t.Errorf("old key after failed rotation: %+v, %v", got, err)
	}
}

func testAssignOrphanKeys(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	admin := NewUser(t, s, "admin")
	bob := NewUser(t, s, "bob")
	orphan := TestKey(1, false)
	Must(t, s.InsertKey(ctx, orphan))
	orphanWithCreator := TestKey(2, false)
	orphanWithCreator.CreatorID = bob.ID
	Must(t, s.InsertKey(ctx, orphanWithCreator))
	owned := NewOrgKey(t, s, 3, bob.PersonalOrgID, bob.ID)

	if _, err := s.AssignOrphanKeys(ctx, 999, admin.ID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("AssignOrphanKeys to an unknown org: %v, want tenancy.ErrNotFound", err)
	}
	n, err := s.AssignOrphanKeys(ctx, admin.PersonalOrgID, admin.ID)
	if err != nil || n != 2 {
		t.Fatalf("AssignOrphanKeys: %d, %v; want 2", n, err)
	}
	for _, c := range []struct {
		k              *apikey.Key
		org, creator   int64
		wantSameUpdate bool
	}{
		{orphan, admin.PersonalOrgID, admin.ID, false},
		{orphanWithCreator, admin.PersonalOrgID, bob.ID, false},
		{owned, bob.PersonalOrgID, bob.ID, true},
	} {
		got, err := s.LoadKey(ctx, c.k.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if got.OrgID != c.org || got.CreatorID != c.creator || got.BudgetID != c.k.BudgetID {
			t.Errorf("key %s: org %d creator %d budget %d; want %d %d %d", c.k.Name, got.OrgID, got.CreatorID, got.BudgetID,
				c.org, c.creator, c.k.BudgetID)
		}
		if (got.UpdatedAt == c.k.UpdatedAt) != c.wantSameUpdate {
			t.Errorf("key %s: UpdatedAt %v, was %v", c.k.Name, got.UpdatedAt, c.k.UpdatedAt)
		}
	}
	if n, err := s.AssignOrphanKeys(ctx, admin.PersonalOrgID, admin.ID); err != nil || n != 0 {
		t.Errorf("second AssignOrphanKeys: %d, %v; want 0", n, err)
	}
}
