package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

// TestInvitations runs the invitation tests on stores opened by h, each test as a parallel
// subtest.
func TestInvitations(t *testing.T, h Harness) {
	t.Run("InviteMember", func(t *testing.T) { testInviteMember(t, h) })
	t.Run("RedeemInvitation", func(t *testing.T) { testRedeemInvitation(t, h) })
	t.Run("RemoveMemberVoidsInvitations", func(t *testing.T) { testRemoveMemberVoidsInvitations(t, h) })
	t.Run("ReinviteMember", func(t *testing.T) { testReinviteMember(t, h) })
	t.Run("RedeemInvitationRace", func(t *testing.T) { testRedeemInvitationRace(t, h) })
}

// NewInvitation returns an unstored invitation number i of userID to orgID by by, made at now.
func NewInvitation(i int, orgID, userID, by int64, now time.Time) *tenancy.Invitation {
	code := fmt.Sprintf("%s%064x", tenancy.InvitationPrefix, i)
	return &tenancy.Invitation{Hash: apikey.HashToken([]byte(code)), OrgID: orgID, UserID: userID, InvitedBy: by,
		CreatedAt: now, ExpiresAt: now.Add(tenancy.InvitationTTL)}
}

// allow is an authorize callback that lets anyone redeem.
func allow(*tenancy.Invitation, bool) error { return nil }

// testInviteMember: the membership and the invitation are written together, or neither.
func testInviteMember(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	alice, bob := NewUser(t, s, "alice"), NewUser(t, s, "bob")
	org := NewOrg(t, s, "acme", alice.ID)
	now := time.Now()
	inv := NewInvitation(1, org.ID, bob.ID, alice.ID, now)
	Must(t, s.InviteMember(ctx, inv, tenancy.RoleMember))
	if inv.ID == 0 || !inv.CreatedAt.Equal(roundMS(now)) {
		t.Errorf("InviteMember set %+v", *inv)
	}
	if got := Roles(t, s, org.ID); got != "alice:admin bob:member" {
		t.Errorf("members: %s", got)
	}
	for _, c := range []struct {
		name string
		inv  *tenancy.Invitation
		want error
	}{
		{"already a member", NewInvitation(2, org.ID, bob.ID, alice.ID, now), tenancy.ErrExists},
		{"unknown org", NewInvitation(3, 999, bob.ID, alice.ID, now), tenancy.ErrNotFound},
		{"unknown user", NewInvitation(4, org.ID, 999, alice.ID, now), tenancy.ErrNotFound},
	} {
		if err := s.InviteMember(ctx, c.inv, tenancy.RoleMember); !errors.Is(err, c.want) || c.inv.ID != 0 {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if n := countRows(t, h, s, "invitations"); n != 1 {
		t.Errorf("%d invitations stored, want 1", n)
	}
}

// testRedeemInvitation: a live invitation redeems once into a management key; used, expired,
// voided and unknown ones are not found; a refusal by authorize leaves it live.
func testRedeemInvitation(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	alice, bob, carol := NewUser(t, s, "alice"), NewUser(t, s, "bob"), NewUser(t, s, "carol")
	org := NewOrg(t, s, "acme", alice.ID)
	now := time.Now()
	inv := NewInvitation(1, org.ID, bob.ID, alice.ID, now)
	Must(t, s.InviteMember(ctx, inv, tenancy.RoleMember))

	refused := errors.New("no")
	var sawHad []bool
	k := NewManagementKey(1, 0, 0)
	if _, err := s.RedeemInvitation(ctx, inv.Hash, now, k, func(got *tenancy.Invitation, had bool) error {
		sawHad = append(sawHad, had)
		if got.ID != inv.ID || got.UserID != bob.ID || got.OrgID != org.ID || got.InvitedBy != alice.ID {
			t.Errorf("authorize got %+v", *got)
		}
		return refused
	}); !errors.Is(err, refused) || k.ID != 0 {
		t.Fatalf("refused by authorize: %v, key %+v", err, *k)
	}
	got, err := s.RedeemInvitation(ctx, inv.Hash, now, k, func(_ *tenancy.Invitation, had bool) error {
		sawHad = append(sawHad, had)
		return nil
	})
	if err != nil || k.ID == 0 || k.UserID != bob.ID || k.OrgID != org.ID || !got.RedeemedAt.Equal(roundMS(now)) {
		t.Fatalf("redeem: %+v, %v; key %+v", got, err, *k)
	}
	if fmt.Sprint(sawHad) != "[false false]" {
		t.Errorf("authorize saw hadKeys %v, want [false false]", sawHad)
	}
	if p, err := s.PrincipalByManagementKey(ctx, k.Hash); err != nil || p.User.ID != bob.ID || p.Org.ID != org.ID || p.Role != tenancy.RoleMember {
		t.Errorf("the redeemed key: %+v, %v", p, err)
	}
	if _, err := s.RedeemInvitation(ctx, inv.Hash, now, NewManagementKey(2, 0, 0), allow); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("second redemption: %v", err)
	}

	// Carol has held a key (deleted since); her invitation expires.
	ck := NewManagementKey(3, carol.ID, carol.PersonalOrgID)
	Must(t, s.InsertManagementKey(ctx, ck))
	Must(t, s.DeleteManagementKey(ctx, ck.ID, carol.ID, carol.PersonalOrgID))
	cinv := NewInvitation(4, org.ID, carol.ID, alice.ID, now)
	Must(t, s.InviteMember(ctx, cinv, tenancy.RoleAdmin))
	if _, err := s.RedeemInvitation(ctx, cinv.Hash, cinv.ExpiresAt, NewManagementKey(5, 0, 0), allow); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("at its expiry: %v", err)
	}
	if _, err := s.RedeemInvitation(ctx, cinv.Hash, cinv.ExpiresAt.Add(-time.Millisecond), NewManagementKey(6, 0, 0),
		func(_ *tenancy.Invitation, had bool) error {
			if !had {
				t.Error("carol held a key, authorize was told she did not")
			}
			return nil
		}); err != nil {
		t.Errorf("just before its expiry: %v", err)
	}
	if _, err := s.RedeemInvitation(ctx, apikey.HashToken([]byte("unknown")), now, NewManagementKey(7, 0, 0), allow); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("unknown code: %v", err)
	}
}

// testRemoveMemberVoidsInvitations: a removal voids the member's unredeemed invitations to that
// organization only, so that adding them again does not revive an old code.
func testRemoveMemberVoidsInvitations(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	alice, bob := NewUser(t, s, "alice"), NewUser(t, s, "bob")
	acme, other := NewOrg(t, s, "acme", alice.ID), NewOrg(t, s, "other", alice.ID)
	now := time.Now()
	old, elsewhere := NewInvitation(1, acme.ID, bob.ID, alice.ID, now), NewInvitation(2, other.ID, bob.ID, alice.ID, now)
	Must(t, s.InviteMember(ctx, old, tenancy.RoleMember))
	Must(t, s.InviteMember(ctx, elsewhere, tenancy.RoleMember))
	if _, err := s.RemoveMember(ctx, acme.ID, bob.ID); err != nil {
		t.Fatal(err)
	}
	fresh := NewInvitation(3, acme.ID, bob.ID, alice.ID, now)
	Must(t, s.InviteMember(ctx, fresh, tenancy.RoleMember))
	if _, err := s.RedeemInvitation(ctx, old.Hash, now, NewManagementKey(1, 0, 0), allow); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("a code from before the removal: %v", err)
	}
	for _, inv := range []*tenancy.Invitation{fresh, elsewhere} {
		if _, err := s.RedeemInvitation(ctx, inv.Hash, now, NewManagementKey(int(inv.ID)+10, 0, 0), allow); err != nil {
			t.Errorf("invitation %d: %v", inv.ID, err)
		}
	}
}

// testReinviteMember: a reissued code replaces the member's live one in that organization only;
// a user who is not a member gets none, and nothing changes for them.
func testReinviteMember(t *testing.T, h Harness) {
	t.Parallel()
	s := h.Open(t)
	ctx := context.Background()
	alice, bob, carol := NewUser(t, s, "alice"), NewUser(t, s, "bob"), NewUser(t, s, "carol")
	acme, other := NewOrg(t, s, "acme", alice.ID), NewOrg(t, s, "other", alice.ID)
	now := time.Now()
	old, elsewhere := NewInvitation(1, acme.ID, bob.ID, alice.ID, now), NewInvitation(2, other.ID, bob.ID, alice.ID, now)
	Must(t, s.InviteMember(ctx, old, tenancy.RoleMember))
	Must(t, s.InviteMember(ctx, elsewhere, tenancy.RoleMember))

	fresh := NewInvitation(3, acme.ID, bob.ID, alice.ID, now.Add(time.Hour))
	Must(t, s.ReinviteMember(ctx, fresh))
	if fresh.ID == 0 || !fresh.CreatedAt.Equal(roundMS(now.Add(time.Hour))) {
		t.Errorf("ReinviteMember set %+v", *fresh)
	}
	if got := Roles(t, s, acme.ID); got != "alice:admin bob:member" {
		t.Errorf("members after the reissue: %s", got)
	}
	for _, c := range []struct {
		name string
		inv  *tenancy.Invitation
		want error
	}{
		{"not a member", NewInvitation(4, acme.ID, carol.ID, alice.ID, now), tenancy.ErrNotFound},
		{"unknown org", NewInvitation(5, 999, bob.ID, alice.ID, now), tenancy.ErrNotFound},
		{"a stored hash", NewInvitation(3, acme.ID, bob.ID, alice.ID, now), tenancy.ErrExists},
	} {
		if err := s.ReinviteMember(ctx, c.inv); !errors.Is(err, c.want) || c.inv.ID != 0 {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// The refused reissue with a stored hash voided nothing: fresh is still live. The old code
	// is dead, the code to the other organization untouched.
	if _, err := s.RedeemInvitation(ctx, old.Hash, now, NewManagementKey(1, 0, 0), allow); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("the replaced code: %v", err)
	}
	for _, inv := range []*tenancy.Invitation{fresh, elsewhere} {
		if _, err := s.RedeemInvitation(ctx, inv.Hash, now, NewManagementKey(int(inv.ID)+10, 0, 0), allow); err != nil {
			t.Errorf("invitation %d: %v", inv.ID, err)
		}
	}
}

// testRedeemInvitationRace: many redemptions of one code at once, through two Stores on one
// database (two processes or replicas), mint exactly one key.
func testRedeemInvitationRace(t *testing.T, h Harness) {
	t.Parallel()
	s0, s1 := h.OpenTwo(t)
	stores := []Store{s0, s1}
	ctx := context.Background()
	alice, bob := NewUser(t, stores[0], "alice"), NewUser(t, stores[0], "bob")
	org := NewOrg(t, stores[0], "acme", alice.ID)
	now := time.Now()
	inv := NewInvitation(1, org.ID, bob.ID, alice.ID, now)
	Must(t, stores[0].InviteMember(ctx, inv, tenancy.RoleMember))

	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = stores[i%2].RedeemInvitation(ctx, inv.Hash, now, NewManagementKey(i+1, 0, 0), allow)
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, tenancy.ErrNotFound):
			t.Errorf("a losing redemption: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d redemptions succeeded, want exactly 1", won)
	}
	if ks, err := stores[1].ManagementKeys(ctx, bob.ID, org.ID); err != nil || len(ks) != 1 {
		t.Errorf("bob's keys in acme: %v, %v; want exactly 1", ks, err)
	}
}
