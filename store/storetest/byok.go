package storetest

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/tenancy"
)

// TestBYOK runs the BYOK credential tests on stores opened by h, each test as a parallel
// subtest.
func TestBYOK(t *testing.T, h Harness) {
	t.Run("BYOKInsertListDelete", func(t *testing.T) { testBYOKInsertListDelete(t, h) })
	t.Run("RekeyBYOK", func(t *testing.T) { testRekeyBYOK(t, h) })
}

// sealedFor returns a credential of orgID for provider with a recognisable fake ciphertext
// (the store never looks inside it).
func sealedFor(orgID int64, provider string, mode byok.Mode) *byok.SealedCredential {
	return &byok.SealedCredential{OrgID: orgID, Provider: provider, Label: provider + " key …abcd", Mode: mode,
		Ciphertext: []byte("sealed:" + provider)}
}

func testBYOKInsertListDelete(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	ann := NewUser(t, s, "ann")
	acme := NewOrg(t, s, "Acme", ann.ID)
	other := NewOrg(t, s, "Other", ann.ID)

	a := sealedFor(acme.ID, "openai", byok.Prefer)
	a.CreatedAt = time.UnixMicro(1_750_000_000_123_456)
	Must(t, s.InsertBYOK(ctx, a))
	if a.ID == 0 || !a.CreatedAt.Equal(time.UnixMilli(1_750_000_000_123)) || a.CreatedAt.Location() != time.UTC {
		t.Errorf("after insert: %+v", a)
	}
	b := sealedFor(acme.ID, "anthropic", byok.Only)
	Must(t, s.InsertBYOK(ctx, b))
	if b.CreatedAt.IsZero() {
		t.Error("zero CreatedAt not set to now")
	}
	c := sealedFor(other.ID, "openai", byok.Fallback) // same provider, another organization
	Must(t, s.InsertBYOK(ctx, c))

	list, err := s.ListBYOK(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byok.SealedCredential{*b, *a}; !reflect.DeepEqual(list, want) {
		t.Errorf("ListBYOK:\n got %+v\nwant %+v", list, want)
	}
	if list, err := s.ListBYOK(ctx, 999); err != nil || len(list) != 0 {
		t.Errorf("ListBYOK of an unknown organization: %v, %v", list, err)
	}

	// One live credential per organization and provider.
	dup := sealedFor(acme.ID, "openai", byok.Only)
	if err := s.InsertBYOK(ctx, dup); !errors.Is(err, tenancy.ErrExists) {
		t.Errorf("second live openai credential: %v, want ErrExists", err)
	}
	if dup.ID != 0 {
		t.Error("a failed insert changed its argument")
	}
	if err := s.InsertBYOK(ctx, sealedFor(999, "openai", byok.Prefer)); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("unknown organization: %v, want ErrNotFound", err)
	}
	for _, bad := range []*byok.SealedCredential{
		{OrgID: acme.ID, Provider: "groq", Label: "x", Mode: "always", Ciphertext: []byte("c")},
		{OrgID: acme.ID, Provider: "groq", Label: "x", Mode: byok.Prefer},
	} {
		if err := s.InsertBYOK(ctx, bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}

	// Deleting: not across organizations, not twice; the ciphertext is erased.
	if err := s.DeleteBYOK(ctx, other.ID, a.ID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("delete from another organization: %v", err)
	}
	Must(t, s.DeleteBYOK(ctx, acme.ID, a.ID))
	if err := s.DeleteBYOK(ctx, acme.ID, a.ID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	var ct []byte
	var deletedAt *int64
	Must(t, h.QueryRow(t, s, "SELECT ciphertext, deleted_at FROM byok_credentials WHERE id = ?", a.ID).Scan(&ct, &deletedAt))
	if len(ct) != 0 || deletedAt == nil {
		t.Errorf("deleted row: ciphertext %q, deleted_at %v", ct, deletedAt)
	}
	// ... after which a new credential for the provider may be added.
	Must(t, s.InsertBYOK(ctx, dup))
	if dup.ID <= c.ID {
		t.Errorf("new credential id %d reuses an old one", dup.ID)
	}

	all, err := s.LoadBYOK(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byok.SealedCredential{*b, *dup, *c}; !reflect.DeepEqual(all, want) {
		t.Errorf("LoadBYOK:\n got %+v\nwant %+v", all, want)
	}
}

// RekeyBYOK reseals every live credential with its own row's AAD, in one transaction.
func testRekeyBYOK(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	ann := NewUser(t, s, "ann")
	acme := NewOrg(t, s, "Acme", ann.ID)
	other := NewOrg(t, s, "Other", ann.ID)

	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	before, err := byok.NewSealer(oldKey)
	Must(t, err)
	secrets := map[int64]string{}
	add := func(org int64, provider, secret string) *byok.SealedCredential {
		c := &byok.SealedCredential{OrgID: org, Provider: provider, Label: byok.Label("", provider, secret), Mode: byok.Prefer,
			Ciphertext: before.Seal([]byte(secret), byok.AAD(org, provider))}
		Must(t, s.InsertBYOK(ctx, c))
		secrets[c.ID] = secret
		return c
	}
	add(acme.ID, "openai", "sk-acme-openai-secret")
	gone := add(acme.ID, "groq", "gsk-acme-groq-secret")
	add(other.ID, "openai", "sk-other-openai-secret")
	Must(t, s.DeleteBYOK(ctx, acme.ID, gone.ID))
	delete(secrets, gone.ID)

	during, err := byok.NewSealer(newKey, oldKey)
	Must(t, err)
	// A reseal that fails half-way changes nothing.
	calls := 0
	snapshot, _ := s.LoadBYOK(ctx)
	_, err = s.RekeyBYOK(ctx, func(ct, aad []byte) ([]byte, error) {
		if calls++; calls == 2 {
			return nil, errors.New("boom")
		}
		return during.Reseal(ct, aad)
	})
	if err == nil {
		t.Fatal("a failing reseal was committed")
	}
	if now, _ := s.LoadBYOK(ctx); !reflect.DeepEqual(now, snapshot) {
		t.Fatal("a failed rekey changed credentials")
	}

	n, err := s.RekeyBYOK(ctx, during.Reseal)
	if err != nil || n != 2 {
		t.Fatalf("RekeyBYOK: %d, %v; want 2 credentials", n, err)
	}
	after, err := byok.NewSealer(newKey)
	Must(t, err)
	creds, err := s.LoadBYOK(ctx)
	Must(t, err)
	for _, c := range creds {
		pt, err := after.Open(c.Ciphertext, byok.AAD(c.OrgID, c.Provider))
		if err != nil || string(pt) != secrets[c.ID] {
			t.Errorf("credential %d under the new key alone: %q, %v", c.ID, pt, err)
		}
		if _, err := before.Open(c.Ciphertext, byok.AAD(c.OrgID, c.Provider)); err == nil {
			t.Errorf("credential %d still opens under the old key", c.ID)
		}
	}
	var ct []byte
	Must(t, h.QueryRow(t, s, "SELECT ciphertext FROM byok_credentials WHERE id = ?", gone.ID).Scan(&ct))
	if len(ct) != 0 {
		t.Error("rekey wrote a deleted credential")
	}
}
