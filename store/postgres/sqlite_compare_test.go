package postgres

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/activity"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/store/sqlite"
	"github.com/arouter/arouter/tenancy"
)

// usageStore is what the comparison drives in both stores.
type usageStore interface {
	CreateUser(ctx context.Context, u *tenancy.User) error
	CreateOrg(ctx context.Context, o *tenancy.Org, adminUserID int64) error
	AddMember(ctx context.Context, orgID, userID int64, role tenancy.Role) error
	InsertKey(ctx context.Context, k *apikey.Key) error
	DeleteKey(ctx context.Context, h apikey.Hash, orgID int64) error
	AddCredits(ctx context.Context, orgID int64, amount money.Nanos, byUserID int64) error
	WriteUsage(ctx context.Context, recs []accounting.Record) error
	DeleteUsageBefore(ctx context.Context, t time.Time, batch int) (int64, error)
	Activity(ctx context.Context, q activity.Query) ([]activity.Row, error)
	LoadSpend(ctx context.Context, now time.Time) (budget.Snapshot, error)
}

// compareEnv is what populate stored: the same in both stores, ids included.
type compareEnv struct {
	orgs, users []int64
	keys        []*apikey.Key
	recs        []accounting.Record
	from        time.Time
}

// populate stores three users, each with a personal context, an organization shared by two of
// them, keys in every context (one deleted, one rotated onto another's budget, one of context
// 0) and usage of them all over twelve days: several models and providers, BYOK requests,
// records on day boundaries, written in batches that overlap (replays), and then the oldest
// records deleted by retention, which must change no report.
func populate(t *testing.T, s usageStore) *compareEnv {
	t.Helper()
	ctx := context.Background()
	e := &compareEnv{from: time.Date(2026, 2, 23, 0, 0, 0, 0, time.UTC)} // a Monday
	for _, name := range []string{"ann", "bob", "eve"} {
		u := &tenancy.User{Email: name + "@example.com", Name: name}
		must(t, s.CreateUser(ctx, u))
		e.users = append(e.users, u.ID)
		e.orgs = append(e.orgs, u.PersonalOrgID)
	}
	acme := &tenancy.Org{Name: "Acme"}
	must(t, s.CreateOrg(ctx, acme, e.users[0]))
	must(t, s.AddMember(ctx, acme.ID, e.users[1], tenancy.RoleMember))
	e.orgs = append(e.orgs, acme.ID, 0)
	for i := range 9 {
		k := testKey(i, false)
		k.Disabled = false
		k.OrgID, k.CreatorID = e.orgs[i%len(e.orgs)], e.users[i%len(e.users)]
		if k.OrgID == 0 {
			k.CreatorID = 0
		}
		if i == 7 {
			k.BudgetID = e.keys[2].ID // a rotated key shares its predecessor's budget
		}
		must(t, s.InsertKey(ctx, k))
		e.keys = append(e.keys, k)
	}
	must(t, s.DeleteKey(ctx, e.keys[3].Hash, e.keys[3].OrgID))
	for i, org := range e.orgs[:4] {
		must(t, s.AddCredits(ctx, org, money.Nanos(1_000_000_000*(i+1)), e.users[0]))
	}

	models := []string{"openai/gpt-4o", "anthropic/claude", "google/gemini", "meta/llama"}
	providers := []string{"p1", "p2", "p3"}
	for i := range 2000 {
		d := e.from.Add(time.Duration(i%12-2) * 24 * time.Hour)
		ts := d.Add(time.Duration(i%24)*time.Hour + time.Duration(i)*time.Microsecond)
		switch i % 13 {
		case 0:
			ts = d
		case 1:
			ts = d.Add(24*time.Hour - time.Microsecond)
		}
		k := e.keys[i%len(e.keys)]
		r := accounting.Record{
			GenerationID: accounting.NewGenerationID(ts), Time: ts,
			KeyID: k.ID, OrgID: k.OrgID, BudgetID: k.BudgetID,
			Model: models[i%4], Provider: providers[i/4%3], UpstreamModel: "u",
			PromptTokens: int64(100 + i), CompletionTokens: int64(10 + i%97), ReasoningTokens: int64(i % 7),
			CachedTokens: int64(i % 13), CacheWriteTokens: int64(i % 5), Cost: money.Nanos(1_000_003 * (i%50 + 1)),
			Status: 200,
		}
		if i%6 == 0 {
			r.BYOK, r.BYOKCost = true, money.Nanos(7_000_001*i)
		}
		e.recs = append(e.recs, r)
	}
	for i := 0; i < len(e.recs); i += 300 {
		must(t, s.WriteUsage(ctx, e.recs[max(0, i-100):min(i+300, len(e.recs))])) // overlaps the previous batch
	}
	if _, err := s.DeleteUsageBefore(ctx, e.from, 100_000); err != nil {
		t.Fatal(err)
	}
	return e
}

// The same records written to a SQLite store and to a PostgreSQL store give the same activity
// reports, for every grouping and filter, and the same spend snapshot at any time.
func TestActivityAndSpendMatchSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lite, err := sqlite.Open(filepath.Join(t.TempDir(), "arouter.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	pg := openTest(t)
	want, got := populate(t, lite), populate(t, pg)
	if !reflect.DeepEqual(want.orgs, got.orgs) || !reflect.DeepEqual(want.users, got.users) {
		t.Fatalf("the stores gave different ids: orgs %v and %v, users %v and %v", want.orgs, got.orgs, want.users, got.users)
	}
	for i := range want.keys {
		if want.keys[i].ID != got.keys[i].ID || want.keys[i].BudgetID != got.keys[i].BudgetID {
			t.Fatalf("key %d: ids %d/%d in SQLite, %d/%d in PostgreSQL", i,
				want.keys[i].ID, want.keys[i].BudgetID, got.keys[i].ID, got.keys[i].BudgetID)
		}
	}
	// A replay of every record after retention: both stores skip the records they hold and
	// take back those retention deleted (neither can tell those from new ones), and must still
	// agree.
	must(t, pg.WriteUsage(ctx, got.recs))
	must(t, lite.WriteUsage(ctx, want.recs))

	var filters []activity.Query
	for _, org := range want.orgs {
		filters = append(filters, activity.Query{OrgID: org})
	}
	acme := want.orgs[3]
	filters = append(filters,
		activity.Query{OrgID: acme, KeyID: want.keys[3].ID}, // deleted, and still reported
		activity.Query{OrgID: acme, Model: "anthropic/claude"},
		activity.Query{OrgID: acme, CreatorID: want.users[0]},
		activity.Query{OrgID: acme, CreatorID: want.users[1], Model: "meta/llama"},
		activity.Query{OrgID: acme, KeyID: want.keys[0].ID}, // another context's key: nothing
	)
	ranges := [][2]time.Time{
		{want.from, want.from.Add(7 * 24 * time.Hour)},
		{want.from.Add(-5 * 24 * time.Hour), want.from.Add(30 * 24 * time.Hour)},
		{want.from.Add(3 * 24 * time.Hour), want.from.Add(4 * 24 * time.Hour)},
	}
	compared := 0
	for _, f := range filters {
		for _, r := range ranges {
			for _, g := range activity.Groupings {
				for _, perDay := range []bool{false, true} {
					q := f
					q.From, q.To, q.GroupBy, q.PerDay = r[0], r[1], g, perDay
					a, err := lite.Activity(ctx, q)
					if err != nil {
						t.Fatalf("SQLite %+v: %v", q, err)
					}
					b, err := pg.Activity(ctx, q)
					if err != nil {
						t.Fatalf("PostgreSQL %+v: %v", q, err)
					}
					activity.Sort(a, g, perDay)
					activity.Sort(b, g, perDay)
					if len(a) != 0 || len(b) != 0 {
						compared++
						if !reflect.DeepEqual(a, b) {
							t.Errorf("%+v:\nSQLite     %+v\nPostgreSQL %+v", q, a, b)
						}
					}
				}
			}
		}
	}
	if compared < 100 {
		t.Errorf("only %d non-empty reports compared: the test data is too thin", compared)
	}

	for _, now := range []time.Time{
		want.from, want.from.Add(5*24*time.Hour + time.Hour), want.from.Add(9*24*time.Hour - time.Microsecond),
		time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("UTC+3", 3*3600)), // month and week change
	} {
		a, err := lite.LoadSpend(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		b, err := pg.LoadSpend(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Keys) < 5 || len(a.Orgs) < 5 {
			t.Fatalf("spend at %v too thin: %+v", now, a)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("LoadSpend(%v):\nSQLite     %+v\nPostgreSQL %+v", now, a, b)
		}
	}
}
