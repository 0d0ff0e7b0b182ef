package sqlite

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/tenancy"
)

func TestCredits(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	a, b := alice.PersonalOrgID, bob.PersonalOrgID
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
	must(t, s.r.QueryRow("SELECT user_id FROM credit_grants WHERE org_id = ? LIMIT 1", b).Scan(&user))
	if user != alice.ID {
		t.Errorf("grant recorded user %d, want %d", user, alice.ID)
	}
}

// rec returns a usage record at ts charged to budget and org.
func rec(ts time.Time, keyID, budgetID, orgID int64, cost money.Nanos) accounting.Record {
	return accounting.Record{
		GenerationID: accounting.NewGenerationID(ts), Time: ts,
		KeyID: keyID, BudgetID: budgetID, OrgID: orgID,
		Model: "m", Provider: "p", UpstreamModel: "u", PromptTokens: 1, CompletionTokens: 1, Cost: cost, Status: 200,
	}
}

func TestLoadSpendPeriods(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	// Each case writes one record per listed time, costing 1, 10, 100, 1000 … in order, so a
	// sum names exactly which records it counted.
	cases := []struct {
		name                    string
		now                     string
		times                   []string
		total, day, week, month money.Nanos
	}{
		{"Sunday is last week, Monday this week", "2025-06-02T10:00:00Z", // a Monday
			[]string{"2025-06-01T23:59:59.999999Z", "2025-06-02T00:00:00Z", "2025-06-02T10:00:00Z"},
			111, 110, 110, 111},
		{"a Sunday's week started on Monday", "2025-06-08T23:59:59Z", // a Sunday
			[]string{"2025-06-01T23:00:00Z", "2025-06-02T00:00:00Z", "2025-06-07T12:00:00Z", "2025-06-08T00:00:01Z"},
			1111, 1000, 1110, 1111},
		{"last day of the month", "2025-06-30T23:59:59.999Z", // a Monday
			[]string{"2025-05-31T23:59:59Z", "2025-06-01T00:00:00Z", "2025-06-29T23:59:59Z", "2025-06-30T00:00:00Z"},
			1111, 1000, 1000, 1110},
		{"first day of the month, mid-week", "2025-07-01T00:00:00Z", // a Tuesday
			[]string{"2025-06-29T12:00:00Z", "2025-06-30T12:00:00Z", "2025-07-01T00:00:00Z"},
			111, 100, 110, 100},
		{"new year inside a week", "2026-01-01T08:00:00Z", // a Thursday
			[]string{"2025-12-28T23:59:59Z", "2025-12-29T00:00:00Z", "2025-12-31T23:59:59Z", "2026-01-01T00:00:00Z"},
			1111, 1000, 1110, 1000},
		{"leap day", "2028-02-29T12:00:00Z", // a Tuesday
			[]string{"2028-01-31T12:00:00Z", "2028-02-01T00:00:00Z", "2028-02-28T00:00:00Z", "2028-02-29T00:00:00Z"},
			1111, 1000, 1100, 1110},
		{"now in another zone", "2025-06-02T01:00:00+03:00", // Sunday 22:00 UTC
			[]string{"2025-06-01T00:00:00Z", "2025-05-26T00:00:00Z", "2025-05-25T23:59:59Z"},
			111, 1, 11, 1},
		{"future records count in every period", "2025-06-02T10:00:00Z",
			[]string{"2025-06-03T00:00:00Z", "2025-07-01T00:00:00Z"},
			11, 11, 11, 11},
		{"nothing", "2025-06-02T10:00:00Z", nil, 0, 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := openTest(t)
			var recs []accounting.Record
			cost := money.Nanos(1)
			for _, ts := range c.times {
				recs = append(recs, rec(d(ts), 1, 5, 9, cost))
				// Another budget's spend, at the same times, stays apart.
				recs = append(recs, rec(d(ts), 2, 6, 9, 7*cost))
				cost *= 10
			}
			must(t, s.WriteUsage(ctx, recs))
			now := d(c.now)
			snap, err := s.LoadSpend(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			if !snap.At.Equal(now) {
				t.Errorf("At = %v, want %v", snap.At, now)
			}
			want := budget.KeySpend{Total: c.total, Day: c.day, Week: c.week, Month: c.month}
			if got := snap.Keys[5]; got != want {
				t.Errorf("budget 5: %+v, want %+v", got, want)
			}
			want7 := budget.KeySpend{Total: 7 * c.total, Day: 7 * c.day, Week: 7 * c.week, Month: 7 * c.month}
			if got := snap.Keys[6]; got != want7 {
				t.Errorf("budget 6: %+v, want %+v", got, want7)
			}
			if got := snap.Orgs[9]; got != (budget.OrgBalance{Used: 8 * c.total}) {
				t.Errorf("org 9: %+v, want used %v", got, 8*c.total)
			}
			if len(c.times) == 0 && (len(snap.Keys) != 0 || len(snap.Orgs) != 0 || snap.Keys == nil || snap.Orgs == nil) {
				t.Errorf("empty store: %+v", snap)
			}
		})
	}
}

func TestLoadSpendOrgs(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	alice, bob, carol := newUser(t, s, "alice"), newUser(t, s, "bob"), newUser(t, s, "carol")
	a, b, c := alice.PersonalOrgID, bob.PersonalOrgID, carol.PersonalOrgID
	must(t, s.AddCredits(ctx, a, 100, alice.ID))
	must(t, s.AddCredits(ctx, a, 50, alice.ID))
	must(t, s.AddCredits(ctx, b, 30, bob.ID))
	now := time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	must(t, s.WriteUsage(ctx, []accounting.Record{
		rec(now.Add(-48*time.Hour), 1, 1, a, 7),
		rec(now, 1, 1, a, 3),
		rec(now, 2, 1, a, 1), // a rotated key shares budget 1
		rec(now, 3, 3, c, 20),
		rec(now, 4, 4, 0, 2), // a key from before organizations
	}))
	snap, err := s.LoadSpend(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	wantOrgs := map[int64]budget.OrgBalance{
		a: {Credits: 150, Used: 11},
		b: {Credits: 30},
		c: {Used: 20},
		0: {Used: 2},
	}
	if !reflect.DeepEqual(snap.Orgs, wantOrgs) {
		t.Errorf("Orgs = %v, want %v", snap.Orgs, wantOrgs)
	}
	wantKeys := map[int64]budget.KeySpend{
		1: {Total: 11, Day: 4, Week: 4, Month: 4},
		3: {Total: 20, Day: 20, Week: 20, Month: 20},
		4: {Total: 2, Day: 2, Week: 2, Month: 2},
	}
	if !reflect.DeepEqual(snap.Keys, wantKeys) {
		t.Errorf("Keys = %v, want %v", snap.Keys, wantKeys)
	}
}

// dailyRows returns usage_daily as text, one line per row in key order.
func dailyRows(t testing.TB, s *Store) []string {
	t.Helper()
	rows, err := s.r.Query(`SELECT day, key_id, model, provider, org_id, budget_id, requests, prompt_tokens,
		completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos
		FROM usage_daily ORDER BY day, key_id, model, provider, org_id, budget_id`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var v [13]any
		p := make([]any, len(v))
		for i := range v {
			p[i] = &v[i]
		}
		must(t, rows.Scan(p...))
		out = append(out, fmt.Sprintln(v[:]...))
	}
	must(t, closeRows(rows))
	return out
}

// rollUp computes usage_daily from the records, as the writer should have.
func rollUp(t testing.TB, s *Store) []string {
	t.Helper()
	rows, err := s.r.Query(`SELECT created_at / 86400000000, key_id, model, provider, org_id, budget_id, count(*),
		sum(prompt_tokens), sum(completion_tokens), sum(reasoning_tokens), sum(cached_tokens),
		sum(cache_write_tokens), sum(cost_nanos)
		FROM usage_records GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var v [13]any
		p := make([]any, len(v))
		for i := range v {
			p[i] = &v[i]
		}
		must(t, rows.Scan(p...))
		out = append(out, fmt.Sprintln(v[:]...))
	}
	must(t, closeRows(rows))
	return out
}

func TestUsageDailyExactUnderReplay(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(450)
	// Spread them over three days, two models and two providers.
	for i := range recs {
		recs[i].Time = recs[i].Time.Add(time.Duration(i%3) * 24 * time.Hour)
		if i%4 == 0 {
			recs[i].Model = "other/model"
		}
		if i%5 == 0 {
			recs[i].Provider = "backup"
		}
	}
	must(t, s.WriteUsage(ctx, recs[:300]))
	want := rollUp(t, s)
	if len(want) < 10 {
		t.Fatalf("only %d roll-up rows; the test data is too uniform", len(want))
	}
	if got := dailyRows(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("usage_daily after first write:\n got %v\nwant %v", got, want)
	}
	// Replays, whole and partial, change nothing.
	must(t, s.WriteUsage(ctx, recs[:300]))
	must(t, s.WriteUsage(ctx, recs[100:200]))
	if got := dailyRows(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("usage_daily changed by a replay:\n got %v\nwant %v", got, want)
	}
	// New records first and stored ones after: the new chunk inserted before the stored ones
	// turned up is undone with the rest, and each new record is counted once.
	mixed := append(slices.Clone(recs[300:360]), recs[:50]...)
	must(t, s.WriteUsage(ctx, mixed))
	if got, want := dailyRows(t, s), rollUp(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("usage_daily after new records followed by stored ones:\n got %v\nwant %v", got, want)
	}
	// An overlapping batch adds exactly its new records.
	must(t, s.WriteUsage(ctx, recs[250:]))
	if got, want := dailyRows(t, s), rollUp(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("usage_daily after an overlapping batch:\n got %v\nwant %v", got, want)
	}
	var n, requests int64
	must(t, s.r.QueryRow("SELECT count(*) FROM usage_records").Scan(&n))
	must(t, s.r.QueryRow("SELECT sum(requests) FROM usage_daily").Scan(&requests))
	if n != 450 || requests != 450 {
		t.Errorf("%d records, %d requests rolled up; want 450 and 450", n, requests)
	}
	// A failed batch rolls back its roll-up too.
	if _, err := s.w.Exec(`CREATE TRIGGER poison BEFORE INSERT ON usage_records
		WHEN NEW.model = 'poison' BEGIN SELECT RAISE(ABORT, 'poison record'); END`); err != nil {
		t.Fatal(err)
	}
	bad := testRecords(120)
	for i := range bad {
		bad[i].Time = bad[i].Time.Add(1000 * time.Hour)
	}
	bad[110].Model = "poison"
	before := dailyRows(t, s)
	if err := s.WriteUsage(ctx, bad); err == nil {
		t.Fatal("poisoned batch written")
	}
	if got := dailyRows(t, s); !reflect.DeepEqual(got, before) {
		t.Fatalf("usage_daily after a failed batch:\n got %v\nwant %v", got, before)
	}
}

func TestUsageRecordsOrgAndBudget(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	r := rec(time.Now(), 3, 2, 8, 5)
	must(t, s.WriteUsage(ctx, []accounting.Record{r}))
	got, err := s.UsageByGeneration(ctx, r.GenerationID.String())
	if err != nil || got.OrgID != 8 || got.BudgetID != 2 || got.KeyID != 3 {
		t.Errorf("UsageByGeneration: %+v, %v", got, err)
	}
}

func TestLoadSpendBYOK(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) // a Saturday
	lastMonth := time.Date(2026, 10, 30, 12, 0, 0, 0, time.UTC)
	a, b := rec(now, 1, 1, 7, 5), rec(lastMonth, 1, 1, 7, 5)
	a.BYOK, a.BYOKCost = true, 100
	b.BYOK, b.BYOKCost = true, 40
	if err := s.WriteUsage(ctx, []accounting.Record{a, b, rec(now, 1, 1, 7, 3)}); err != nil {
		t.Fatal(err)
	}
	snap, err := s.LoadSpend(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	want := budget.KeySpend{Total: 13, Day: 8, Week: 8, Month: 8, BYOKTotal: 140, BYOKDay: 100, BYOKWeek: 100, BYOKMonth: 100}
	if got := snap.Keys[1]; got != want {
		t.Fatalf("spend %+v, want %+v", got, want)
	}
}
