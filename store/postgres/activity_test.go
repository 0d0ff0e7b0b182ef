package postgres

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/activity"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/tenancy"
)

// activityEnv is an organization (Acme: Ann, admin, with keys 0 and 1, of which 1 is deleted;
// Bob, member, with key 2) beside another (Other, key 3), and usage of all four keys over the
// days around a range.
type activityEnv struct {
	s        *Store
	acme     int64
	ann, bob *tenancy.User
	keys     []*apikey.Key
	recs     []accounting.Record
	from, to time.Time
}

func newActivityEnv(t *testing.T) *activityEnv {
	t.Helper()
	ctx := context.Background()
	s := openTest(t)
	e := &activityEnv{s: s, ann: newUser(t, s, "ann"), bob: newUser(t, s, "bob")}
	acme := newOrg(t, s, "Acme", e.ann.ID)
	must(t, s.AddMember(ctx, acme.ID, e.bob.ID, tenancy.RoleMember))
	eve := newUser(t, s, "eve")
	other := newOrg(t, s, "Other", eve.ID)
	e.acme = acme.ID
	e.keys = []*apikey.Key{
		newOrgKey(t, s, 0, acme.ID, e.ann.ID), newOrgKey(t, s, 1, acme.ID, e.ann.ID),
		newOrgKey(t, s, 2, acme.ID, e.bob.ID), newOrgKey(t, s, 3, other.ID, eve.ID),
	}
	e.from = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	e.to = e.from.Add(5 * 24 * time.Hour)
	models := []string{"openai/gpt-4o", "anthropic/claude", "google/gemini"}
	providers := []string{"p1", "p2"}
	// Seven days from the day before the range to the day after it, with records at the very
	// first and last microsecond of each day.
	for i := range 210 {
		d := e.from.Add(time.Duration(i%7-1) * 24 * time.Hour)
		ts := d.Add(time.Duration(i%3) * 8 * time.Hour)
		switch i % 11 {
		case 0:
			ts = d
		case 1:
			ts = d.Add(24*time.Hour - time.Microsecond)
		}
		k := e.keys[i%4]
		r := accounting.Record{
			GenerationID: accounting.NewGenerationID(ts), Time: ts,
			KeyID: k.ID, OrgID: k.OrgID, BudgetID: k.BudgetID,
			Model: models[i%3], Provider: providers[i/3%2], UpstreamModel: "u",
			PromptTokens: int64(100 + i), CompletionTokens: int64(10 + i), ReasoningTokens: int64(i % 7),
			CachedTokens: int64(i % 13), CacheWriteTokens: int64(i % 5), Cost: money.Nanos(1_000_001 * (i + 1)),
			Status: 200,
		}
		if i%6 == 0 {
			r.BYOK, r.BYOKCost = true, money.Nanos(7_000_003*i)
		}
		e.recs = append(e.recs, r)
	}
	must(t, s.WriteUsage(ctx, e.recs))
	must(t, s.DeleteKey(ctx, e.keys[1].Hash, acme.ID))
	return e
}

// want computes q's answer from the records, as the store should.
func (e *activityEnv) want(q activity.Query) []activity.Row {
	users := map[int64]*tenancy.User{e.ann.ID: e.ann, e.bob.ID: e.bob}
	byID := map[int64]*apikey.Key{}
	for _, k := range e.keys {
		byID[k.ID] = k
	}
	sums := map[string]*activity.Row{}
	var order []string
	for _, r := range e.recs {
		k := byID[r.KeyID]
		if r.OrgID != q.OrgID || r.Time.Before(q.From) || !r.Time.Before(q.To) ||
			q.KeyID != 0 && r.KeyID != q.KeyID || q.Model != "" && r.Model != q.Model ||
			q.CreatorID != 0 && k.CreatorID != q.CreatorID {
			continue
		}
		day := time.Date(r.Time.Year(), r.Time.Month(), r.Time.Day(), 0, 0, 0, 0, time.UTC)
		row := activity.Row{}
		if q.PerDay || q.GroupBy == activity.ByDay {
			row.Day = day
		}
		switch q.GroupBy {
		case activity.ByModel:
			row.Model = r.Model
		case activity.ByProvider:
			row.Provider = r.Provider
		case activity.ByKey:
			row.Key = activity.Key{Hash: k.Hash, Name: k.Name, Label: k.Label}
		case activity.ByMember:
			u := users[k.CreatorID]
			row.Member = activity.Member{ID: u.ID, Email: u.Email, Name: u.Name}
		}
		id := fmt.Sprintf("%v|%s|%s|%s|%d", row.Day, row.Model, row.Provider, row.Key.Hash, row.Member.ID)
		if sums[id] == nil {
			sums[id] = &row
			order = append(order, id)
		}
		sums[id].Add(activity.Usage{Requests: 1, PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
			ReasoningTokens: r.ReasoningTokens, CachedTokens: r.CachedTokens, CacheWriteTokens: r.CacheWriteTokens,
			Cost: r.Cost, BYOKRequests: map[bool]int64{true: 1}[r.BYOK], BYOKCost: r.BYOKCost})
	}
	out := make([]activity.Row, 0, len(order))
	for _, id := range order {
		out = append(out, *sums[id])
	}
	activity.Sort(out, q.GroupBy, q.PerDay)
	return out
}

// Every grouping, split per day or not, under every filter, sums exactly the records of the
// organization in the range, whichever roll-up the store reads.
func TestActivityMatchesRecords(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	ctx := context.Background()
	filters := []activity.Query{
		{},
		{KeyID: e.keys[1].ID}, // deleted, and still reported
		{Model: "anthropic/claude"},
		{CreatorID: e.ann.ID},
		{CreatorID: e.bob.ID, Model: "openai/gpt-4o"},
		{KeyID: e.keys[3].ID}, // another organization's: nothing
		{CreatorID: e.ann.ID, KeyID: e.keys[2].ID},
	}
	total := activity.Total(e.want(activity.Query{OrgID: e.acme, From: e.from, To: e.to, GroupBy: activity.ByDay}))
	if total.Requests == 0 || total.BYOKRequests == 0 || total.ReasoningTokens == 0 {
		t.Fatalf("test data too thin: %+v", total)
	}
	for _, f := range filters {
		for _, g := range activity.Groupings {
			for _, perDay := range []bool{false, true} {
				q := f
				q.OrgID, q.From, q.To, q.GroupBy, q.PerDay = e.acme, e.from, e.to, g, perDay
				got, err := e.s.Activity(ctx, q)
				if err != nil {
					t.Fatalf("%+v: %v", q, err)
				}
				activity.Sort(got, g, perDay)
				want := e.want(q)
				if len(got) == 0 && len(want) == 0 {
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%+v (table %s):\n got %+v\nwant %+v", q, activityTable(&q), got, want)
				}
				if f == (activity.Query{}) && activity.Total(got) != total {
					t.Errorf("%+v: totals %+v, want %+v", q, activity.Total(got), total)
				}
			}
		}
	}
}

// A range is whole days: the records of the day before from and of the day to starts are out.
func TestActivityRangeEdges(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	got, err := e.s.Activity(context.Background(), activity.Query{OrgID: e.acme, From: e.from, To: e.to, GroupBy: activity.ByDay})
	if err != nil {
		t.Fatal(err)
	}
	activity.Sort(got, activity.ByDay, false)
	if len(got) != 5 || !got[0].Day.Equal(e.from) || !got[4].Day.Equal(e.to.Add(-24*time.Hour)) {
		t.Errorf("days %v, want the 5 from %v", got, e.from)
	}
	for _, q := range []activity.Query{
		{OrgID: e.acme, From: e.to, To: e.from, GroupBy: activity.ByDay},
		{OrgID: e.acme, From: e.from, To: e.to, GroupBy: "week"},
	} {
		if _, err := e.s.Activity(context.Background(), q); err == nil {
			t.Errorf("%+v accepted", q)
		}
	}
}

// Queries read the roll-up they need through its primary key: one organization's range of
// days, and with a key filter, only the selected keys' rows, the key in the index condition
// (rather than filtering every row the scan read). With the day array, the planner may also
// descend once per day; whether it does depends on its statistics, so the test does not ask.
// The roll-ups hold many organizations, days and keys, analysed, so that the planner chooses as
// it would in production.
func TestActivityQueryPlans(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	exec(t, s, `INSERT INTO api_keys (hash, name, label, org_id, creator_id, budget_id, created_at)
		SELECT sha256(int8send(i)), 'k', 'l', i % 10 + 1, i % 20 + 1, i, 0 FROM generate_series(1, 500) i`)
	exec(t, s, `INSERT INTO usage_daily_keys SELECT k % 10 + 1, d, k, 1, 1, 1, 1, 1, 1, 1, 1, 1
		FROM generate_series(20400, 20600) d, generate_series(1, 500) k WHERE (d + k) % 2 = 0`)
	exec(t, s, `INSERT INTO usage_daily SELECT k % 10 + 1, d, k, 'm' || (k % 3 + m), 'p', k, 1, 1, 1, 1, 1, 1, 1, 1, 1
		FROM generate_series(20400, 20600) d, generate_series(1, 500) k, generate_series(1, 2) m WHERE (d + k + m) % 3 = 0`)
	exec(t, s, `INSERT INTO usage_daily_models SELECT o, d, 'm' || m, 'p', 1, 1, 1, 1, 1, 1, 1, 1, 1
		FROM generate_series(1, 10) o, generate_series(20400, 20600) d, generate_series(1, 10) m`)
	exec(t, s, "ANALYZE")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // day 20454
	for _, c := range []struct {
		q     activity.Query
		index string
		cond  []string
	}{
		{activity.Query{GroupBy: activity.ByDay}, "usage_daily_models_pkey", []string{"(org_id = '1'::bigint) AND (day >= '20454'::bigint)"}},
		{activity.Query{GroupBy: activity.ByModel}, "usage_daily_models_pkey", []string{"(org_id = '1'::bigint) AND (day >= '20454'::bigint)"}},
		{activity.Query{GroupBy: activity.ByKey}, "usage_daily_keys_pkey", []string{"(org_id = '1'::bigint) AND (day >= '20454'::bigint)"}},
		{activity.Query{GroupBy: activity.ByModel, CreatorID: 7}, "usage_daily_pkey", []string{"(org_id = '1'::bigint)", "AND (key_id = "}},
		{activity.Query{GroupBy: activity.ByMember, CreatorID: 7}, "usage_daily_keys_pkey", []string{"(org_id = '1'::bigint)", "AND (key_id = "}},
		{activity.Query{GroupBy: activity.ByDay, KeyID: 7}, "usage_daily_keys_pkey", []string{"(org_id = '1'::bigint)", "AND (key_id = '7'::bigint)"}},
	} {
		q := c.q
		q.OrgID, q.From, q.To = 1, from, from.Add(90*24*time.Hour)
		query, args, err := activitySQL(&q)
		must(t, err)
		plan := explain(t, s, query, args...)
		if !indexCond(plan, c.index, c.cond...) {
			t.Errorf("%+v: plan\n%s\ndoes not search %s on %q", c.q, plan, c.index, c.cond)
		}
	}
}

// indexCond reports whether plan scans index with an index condition (not a filter applied to
// what the scan read) that contains every one of conds.
func indexCond(plan, index string, conds ...string) bool {
	lines := strings.Split(plan, "\n")
	for i, l := range lines {
		if !strings.Contains(l, " "+index) || i+1 == len(lines) {
			continue
		}
		next := lines[i+1]
		ok := strings.Contains(next, "Index Cond:")
		for _, c := range conds {
			ok = ok && strings.Contains(next, c)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestActivityKeyAndMember(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	ctx := context.Background()
	id, creator, name, err := e.s.ActivityKey(ctx, e.keys[1].Hash, e.acme) // deleted
	if err != nil || id != e.keys[1].ID || creator != e.ann.ID || name != e.keys[1].Name {
		t.Errorf("ActivityKey(deleted key) = %d, %d, %q, %v", id, creator, name, err)
	}
	if _, _, _, err := e.s.ActivityKey(ctx, e.keys[3].Hash, e.acme); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("ActivityKey(another organization's key): %v", err)
	}
	for _, u := range []*tenancy.User{e.ann, e.bob} {
		if m, err := e.s.ActivityMember(ctx, e.acme, u.ID); err != nil || m != (activity.Member{ID: u.ID, Email: u.Email, Name: u.Name}) {
			t.Errorf("ActivityMember(%d) = %+v, %v", u.ID, m, err)
		}
	}
	// Eve belongs to another organization only; 999 is nobody.
	for _, id := range []int64{e.keys[3].CreatorID, 999} {
		if _, err := e.s.ActivityMember(ctx, e.acme, id); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("ActivityMember(%d): %v", id, err)
		}
	}
	// A removed member's keys stay, with their usage: still reportable.
	if _, err := e.s.RemoveMember(ctx, e.acme, e.bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ActivityMember(ctx, e.acme, e.bob.ID); err != nil {
		t.Errorf("ActivityMember(removed member with keys): %v", err)
	}
}
