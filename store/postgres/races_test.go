package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/store/postgres/pgtest"
	"github.com/arouter/arouter/tenancy"
)

// Races that SQLite's single writer rules out by construction and that this store rules out
// with row locks (see the package comment). Each runs the two sides through two Stores on one
// schema, as two replicas, many times, and checks the outcome is one of the serial ones. A
// lock taken in the wrong order would show as a deadlock error (SQLSTATE 40P01).

const raceRounds = 20

// together runs a and b at the same moment and waits for both.
func together(a, b func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Go(func() { <-start; a() })
	wg.Go(func() { <-start; b() })
	close(start)
	wg.Wait()
}

// raceWorld is an organization of alice (admin) and bob (member) on two Stores.
type raceWorld struct {
	a, b       *Store
	alice, bob *tenancy.User
}

func newRaceWorld(t *testing.T) raceWorld {
	url := pgtest.URL(t)
	w := raceWorld{a: openAt(t, url), b: openAt(t, url)}
	w.alice, w.bob = newUser(t, w.a, "alice"), newUser(t, w.a, "bob")
	return w
}

func (w raceWorld) org(t *testing.T, i int) *tenancy.Org {
	o := newOrg(t, w.a, fmt.Sprint("org ", i), w.alice.ID)
	must(t, w.a.AddMember(context.Background(), o.ID, w.bob.ID, tenancy.RoleMember))
	return o
}

// A management key minted while its user is removed is either refused or deleted with the
// others: re-adding the user never revives it.
func TestRaceRemoveMemberInsertManagementKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newRaceWorld(t)
	for i := range raceRounds {
		org := w.org(t, i)
		k := newManagementKey(i+1, w.bob.ID, org.ID)
		var insErr, remErr error
		together(
			func() { insErr = w.a.InsertManagementKey(ctx, k) },
			func() { _, remErr = w.b.RemoveMember(ctx, org.ID, w.bob.ID) })
		if remErr != nil || insErr != nil && !errors.Is(insErr, tenancy.ErrNotFound) {
			t.Fatalf("round %d: insert %v, remove %v", i, insErr, remErr)
		}
		must(t, w.a.AddMember(ctx, org.ID, w.bob.ID, tenancy.RoleMember))
		if _, err := w.a.PrincipalByManagementKey(ctx, k.Hash); !errors.Is(err, tenancy.ErrNotFound) {
			t.Fatalf("round %d: key minted during the removal works after re-adding (insert err %v): %v", i, insErr, err)
		}
	}
}

// Redeeming an invitation while its member is removed either fails or mints a key that the
// removal deletes.
func TestRaceRemoveMemberRedeemInvitation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newRaceWorld(t)
	now := time.Now()
	for i := range raceRounds {
		org := newOrg(t, w.a, fmt.Sprint("org ", i), w.alice.ID)
		inv := newInvitation(i+1, org.ID, w.bob.ID, w.alice.ID, now)
		must(t, w.a.InviteMember(ctx, inv, tenancy.RoleMember))
		k := newManagementKey(i+1, 0, 0)
		var redErr, remErr error
		together(
			func() { _, redErr = w.a.RedeemInvitation(ctx, inv.Hash, now, k, allow) },
			func() { _, remErr = w.b.RemoveMember(ctx, org.ID, w.bob.ID) })
		if remErr != nil || redErr != nil && !errors.Is(redErr, tenancy.ErrNotFound) {
			t.Fatalf("round %d: redeem %v, remove %v", i, redErr, remErr)
		}
		if ks, err := w.a.ManagementKeys(ctx, w.bob.ID, org.ID); err != nil || len(ks) != 0 {
			t.Fatalf("round %d: bob's live keys after removal (redeem err %v): %v, %v", i, redErr, ks, err)
		}
	}
}

// Creating and rotating keys while their creator is removed: the store does not check the
// creator's membership (the Management API does), so either order is valid, but whichever
// happened, the keys RemoveMember returned are exactly the ones it disabled, and the three
// transactions, which lock the organization and the keys, do not deadlock.
func TestRaceRemoveMemberInsertAndRotateKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newRaceWorld(t)
	for i := range raceRounds {
		org := w.org(t, i)
		old := newOrgKey(t, w.a, 1000+i, org.ID, w.bob.ID)
		fresh := newTestKey(2000 + i)
		fresh.OrgID, fresh.CreatorID = org.ID, w.bob.ID
		next := newTestKey(3000 + i)
		next.CreatorID = w.bob.ID
		var (
			insErr, rotErr, remErr error
			disabled               []apikey.Hash
		)
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; insErr = w.a.InsertKey(ctx, fresh) })
		wg.Go(func() { <-start; _, rotErr = w.a.RotateKey(ctx, old.Hash, org.ID, next, time.Time{}) })
		wg.Go(func() { <-start; disabled, remErr = w.b.RemoveMember(ctx, org.ID, w.bob.ID) })
		close(start)
		wg.Wait()
		if insErr != nil || rotErr != nil || remErr != nil {
			t.Fatalf("round %d: insert %v, rotate %v, remove %v", i, insErr, rotErr, remErr)
		}
		keys, err := w.a.ListKeys(ctx, apikey.Filter{OrgID: org.ID, CreatorID: w.bob.ID, IncludeDisabled: true})
		if err != nil || len(keys) != 3 {
			t.Fatalf("round %d: bob's keys: %v, %v; want 3", i, keys, err)
		}
		for _, k := range keys {
			if k.Disabled != slices.Contains(disabled, k.Hash) {
				t.Fatalf("round %d: key %q disabled %v, returned by RemoveMember %v", i, k.Name, k.Disabled, !k.Disabled)
			}
		}
		if !slices.ContainsFunc(keys, func(k *apikey.Key) bool { return k.Hash == old.Hash && k.Disabled }) {
			t.Fatalf("round %d: the key bob had before the removal is enabled", i)
		}
	}
}

// A key inserted while its organization turns prompt logging on either reads the new setting
// or is among the keys UpdateOrg returns for the caches to drop.
func TestRaceUpdateOrgInsertKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newRaceWorld(t)
	for i := range raceRounds {
		org := w.org(t, i)
		k := newTestKey(i)
		k.OrgID, k.CreatorID = org.ID, w.bob.ID
		var (
			insErr, updErr error
			dropped        []apikey.Hash
		)
		together(
			func() { insErr = w.a.InsertKey(ctx, k) },
			func() {
				_, dropped, updErr = w.b.UpdateOrg(ctx, org.ID, func(o *tenancy.Org) error { o.PromptLogging = true; return nil })
			})
		if insErr != nil || updErr != nil {
			t.Fatalf("round %d: insert %v, update %v", i, insErr, updErr)
		}
		if !k.LogPrompts && !slices.Contains(dropped, k.Hash) {
			t.Fatalf("round %d: the new key neither logs prompts nor is dropped from caches", i)
		}
	}
}
