package postgres

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/tenancy"
)

func TestCredits(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	a, b := alice.PersonalOrgID, bob.PersonalOrgID
	if got, err := s.CreditTotals(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("CreditTotals with no grants: %v, %v; want an empty map", got, err)
	}
	for _, g := range []struct {
		org    int64
		amount money.Nanos
	}{{a, 10 * money.PerUSD}, {a, 5}, {b, 3 * money.PerUSD}, {a, -2}} {
		must(t, s.AddCredits(ctx, g.org, g.amount, alice.ID))
	}
	if err := s.AddCredits(ctx, 999, money.PerUSD, alice.ID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("AddCredits to an unknown org: %v, want tenancy.ErrNotFound", err)
	}
	for _, c := range []struct {
		org  int64
		want money.Nanos
	}{{a, 10*money.PerUSD + 3}, {b, 3 * money.PerUSD}, {999, 0}} {
		if got, err := s.CreditsOf(ctx, c.org); err != nil || got != c.want {
			t.Errorf("CreditsOf(%d) = %v, %v; want %v", c.org, got, err, c.want)
		}
	}
	var user int64
	must(t, s.pool.QueryRow(ctx, "SELECT user_id FROM credit_grants WHERE org_id = $1 LIMIT 1", b).Scan(&user))
	if user != alice.ID {
		t.Errorf("grant recorded user %d, want %d", user, alice.ID)
	}
	want := map[int64]money.Nanos{a: 10*money.PerUSD + 3, b: 3 * money.PerUSD}
	if got, err := s.CreditTotals(ctx); err != nil || !maps.Equal(got, want) {
		t.Errorf("CreditTotals = %v, %v; want %v", got, err, want)
	}
	// Grants made through another Store (another replica, the CLI) show at the next read.
	other := openAt(t, s.pool.Config().ConnString())
	must(t, other.AddCredits(ctx, b, 7, 0))
	want[b] += 7
	if got, err := s.CreditTotals(ctx); err != nil || !maps.Equal(got, want) {
		t.Errorf("CreditTotals after another store's grant = %v, %v; want %v", got, err, want)
	}
}

// Sums stay exact at the top of the int64 range, where a float would round.
func TestCreditsExactSums(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	u := newUser(t, s, "rich")
	const big = money.Nanos(1<<62 + 1)
	must(t, s.AddCredits(ctx, u.PersonalOrgID, big, 0))
	must(t, s.AddCredits(ctx, u.PersonalOrgID, 2, 0))
	if got, err := s.CreditsOf(ctx, u.PersonalOrgID); err != nil || got != big+2 {
		t.Errorf("CreditsOf = %d, %v; want %d", got, err, big+2)
	}
	if got, err := s.CreditTotals(ctx); err != nil || got[u.PersonalOrgID] != big+2 {
		t.Errorf("CreditTotals = %v, %v; want %d", got, err, big+2)
	}
}
