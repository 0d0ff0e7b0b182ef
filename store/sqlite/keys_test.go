package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/arouter/arouter/apikey"
)

func TestKeyRoundTrip(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	for _, expires := range []bool{false, true} {
		k := testKey(map[bool]int{false: 1, true: 2}[expires], expires)
		want := *k
		if err := s.InsertKey(ctx, k); err != nil {
			t.Fatalf("InsertKey: %v", err)
		}
		if k.ID == 0 {
			t.Fatal("InsertKey did not set ID")
		}
		want.ID = k.ID
		if *k != want {
			t.Errorf("InsertKey changed the key:\n got %+v\nwant %+v", *k, want)
		}
		got, err := s.LoadKey(ctx, k.Hash)
		if err != nil {
			t.Fatalf("LoadKey: %v", err)
		}
		if *got != want {
			t.Errorf("LoadKey:\n got %+v\nwant %+v", *got, want)
		}
		var expiresAt *int64
		if err := s.r.QueryRow("SELECT expires_at FROM api_keys WHERE id = ?", k.ID).Scan(&expiresAt); err != nil {
			t.Fatal(err)
		}
		if (expiresAt == nil) == expires {
			t.Errorf("expires=%v stored as %v", expires, expiresAt)
		}
	}
}

func TestInsertKeyNormalisesTimes(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	loc := time.FixedZone("UTC+5", 5*3600)
	k := testKey(1, true)
	k.CreatedAt = time.Time{}
	k.ExpiresAt = time.Date(2030, 1, 2, 3, 4, 5, 678_901_234, loc)
	before := time.Now()
	if err := s.InsertKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if d := k.CreatedAt.Sub(before); d < -time.Millisecond || d > time.Minute {
		t.Errorf("zero CreatedAt became %v, want about now", k.CreatedAt)
	}
	if want := time.Date(2030, 1, 1, 22, 4, 5, 678_000_000, time.UTC); k.ExpiresAt != want {
		t.Errorf("ExpiresAt = %v, want %v", k.ExpiresAt, want)
	}
	got, err := s.LoadKey(ctx, k.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *k {
		t.Errorf("LoadKey:\n got %+v\nwant %+v", *got, *k)
	}
}

func TestInsertKeyDuplicateHash(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	if err := s.InsertKey(ctx, testKey(1, false)); err != nil {
		t.Fatal(err)
	}
	dup := testKey(1, true)
	dup.Name = "other"
	if err := s.InsertKey(ctx, dup); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("duplicate InsertKey: %v, want ErrKeyExists", err)
	}
	if dup.ID != 0 {
		t.Errorf("failed InsertKey set ID %d", dup.ID)
	}
	keys, err := s.ListKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Name != "key 1" {
		t.Errorf("after duplicate: keys %v, err %v", keys, err)
	}
}

func TestUnknownKey(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	h := apikey.HashToken([]byte("nope"))
	if _, err := s.LoadKey(ctx, h); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("LoadKey unknown: %v, want ErrNotFound", err)
	}
	if err := s.SetKeyDisabled(ctx, h, true); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("SetKeyDisabled unknown: %v, want ErrNotFound", err)
	}
}

func TestListKeysOrder(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	if keys, err := s.ListKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("empty store: %v, %v", keys, err)
	}
	var want []*apikey.Key
	for i := range 10 {
		k := testKey(10-i, i%2 == 0) // names and times descending, ids ascending
		if err := s.InsertKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	got, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("ListKeys returned %d keys, want %d", len(got), len(want))
	}
	for i := range got {
		if *got[i] != *want[i] {
			t.Errorf("key %d:\n got %+v\nwant %+v", i, *got[i], *want[i])
		}
	}
}

func TestSetKeyDisabled(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	k := testKey(1, false)
	if err := s.InsertKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	other := testKey(4, false)
	if err := s.InsertKey(ctx, other); err != nil {
		t.Fatal(err)
	}
	for _, disabled := range []bool{true, true, false, false, true} {
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
		if o, err := s.LoadKey(ctx, other.Hash); err != nil || o.Disabled {
			t.Errorf("other key affected: %+v, %v", o, err)
		}
	}
}
