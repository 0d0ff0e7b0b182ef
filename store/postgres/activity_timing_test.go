package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/activity"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/tenancy"
)

// activityBench describes the synthetic traffic of BenchmarkActivity.
const (
	benchDays      = 90
	benchKeys      = 200
	benchMembers   = 20 // each created benchKeys/benchMembers keys
	benchModels    = 20
	benchProviders = 5
	benchBatch     = 10_000 // records per WriteUsage call (one transaction)
)

// benchRecords is the dataset size: AROUTER_BENCH_ACTIVITY_RECORDS, else 100,000 (20,000 with
// -short), so that "make bench" stays quick. The figure the issue asks for is a million:
//
//	AROUTER_BENCH_ACTIVITY_RECORDS=1000000 go test -run '^$' -bench BenchmarkActivity -benchtime 20x ./store/postgres
//
// Writing a million records through WriteUsage takes about a minute per traffic shape.
func benchRecords(b *testing.B) int {
	if v := os.Getenv("AROUTER_BENCH_ACTIVITY_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("AROUTER_BENCH_ACTIVITY_RECORDS=%q is not a positive number", v)
		}
		return n
	}
	if testing.Short() {
		return 20_000
	}
	return 100_000
}

// BenchmarkActivity times a 90-day activity query of one organization, per grouping, over
// synthetic usage written through WriteUsage (so the writer builds the roll-ups, as in
// production): 200 keys created by 20 members, 20 models, 5 providers, spread evenly over 90
// days. Two traffic shapes:
//
//   - typical: each key uses 4 models, one much more than the others, and each model is served
//     by its usual provider, 10% of requests by a fallback provider. The roll-up then holds
//     about 8 rows per key and day.
//   - scattered: every request picks its key, model and provider at random, the worst case for
//     the roll-up (nearly every record starts a row of its own once a key and day hold more
//     model and provider pairs than requests).
//
// It runs only under -bench (see benchRecords for the dataset size): building the dataset takes
// a while.
func BenchmarkActivity(b *testing.B) {
	n := benchRecords(b)
	for _, shape := range []string{"typical", "scattered"} {
		b.Run(shape, func(b *testing.B) {
			s, org, members, to := buildActivityBench(b, n, shape == "scattered")
			from := to.Add(-benchDays * 24 * time.Hour)
			var rollUp int64
			must(b, s.pool.QueryRow(context.Background(), "SELECT count(*) FROM usage_daily").Scan(&rollUp))
			b.Logf("%s: %d records, %d usage_daily rows", shape, n, rollUp)
			ctx := context.Background()
			for _, c := range []struct {
				name string
				q    activity.Query
			}{
				{"day", activity.Query{GroupBy: activity.ByDay}},
				{"model", activity.Query{GroupBy: activity.ByModel}},
				{"key", activity.Query{GroupBy: activity.ByKey}},
				{"member", activity.Query{GroupBy: activity.ByMember}},
				{"provider", activity.Query{GroupBy: activity.ByProvider}},
				{"model-per-day", activity.Query{GroupBy: activity.ByModel, PerDay: true}},
				{"key-per-day", activity.Query{GroupBy: activity.ByKey, PerDay: true}},
				{"member-own-keys-by-model", activity.Query{GroupBy: activity.ByModel, CreatorID: members[3]}},
			} {
				q := c.q
				q.OrgID, q.From, q.To = org, from, to
				b.Run(c.name, func(b *testing.B) {
					var rows []activity.Row
					var err error
					for b.Loop() {
						if rows, err = s.Activity(ctx, q); err != nil {
							b.Fatal(err)
						}
					}
					if len(rows) == 0 {
						b.Fatal("no rows")
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/query")
					b.ReportMetric(float64(len(rows)), "groups")
				})
			}
		})
	}
}

// buildActivityBench stores the organization, its members and keys, then n records ending
// today, and returns the store, the organization, the members' user ids and the end of the
// range (tomorrow's midnight, UTC).
func buildActivityBench(b *testing.B, n int, scattered bool) (*Store, int64, []int64, time.Time) {
	b.Helper()
	ctx := context.Background()
	s := openTest(b)
	owner := newUser(b, s, "owner")
	org := newOrg(b, s, "Bench", owner.ID)
	members := make([]int64, benchMembers)
	for i := range members {
		u := newUser(b, s, fmt.Sprintf("member%d", i))
		must(b, s.AddMember(ctx, org.ID, u.ID, tenancy.RoleMember))
		members[i] = u.ID
	}
	keys := make([]int64, benchKeys)
	for i := range keys {
		keys[i] = newOrgKey(b, s, i, org.ID, members[i%benchMembers]).ID
	}
	models := make([]string, benchModels)
	for i := range models {
		models[i] = fmt.Sprintf("author%d/model-%d", i%7, i)
	}
	providers := make([]string, benchProviders)
	for i := range providers {
		providers[i] = fmt.Sprintf("provider-%d", i)
	}

	now := time.Now().UTC()
	to := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	start := to.Add(-benchDays * 24 * time.Hour)
	span := int64(benchDays * 24 * time.Hour / time.Microsecond)
	rng := rand.New(rand.NewPCG(1, 2))
	began := time.Now()
	batch := make([]accounting.Record, 0, benchBatch)
	for i := range n {
		k := rng.IntN(benchKeys)
		var m, p int
		if scattered {
			m, p = rng.IntN(benchModels), rng.IntN(benchProviders)
		} else {
			// Four models per key; the first takes 70% of the key's requests.
			j := 0
			if x := rng.IntN(10); x >= 7 {
				j = x - 6
			}
			m = (k*7 + j*3) % benchModels
			p = m % benchProviders
			if rng.IntN(10) == 0 {
				p = (p + 1) % benchProviders
			}
		}
		ts := start.Add(time.Duration(rng.Int64N(span)) * time.Microsecond)
		prompt := int64(200 + rng.IntN(4000))
		completion := int64(50 + rng.IntN(800))
		r := accounting.Record{
			GenerationID: accounting.NewGenerationID(ts), Time: ts,
			KeyID: keys[k], OrgID: org.ID, BudgetID: keys[k],
			Model: models[m], Provider: providers[p], UpstreamModel: models[m],
			PromptTokens: prompt, CompletionTokens: completion, ReasoningTokens: completion / 4,
			CachedTokens: prompt / 3, CacheWriteTokens: prompt / 10,
			Cost:   money.Nanos(prompt*150 + completion*600),
			Status: 200, Latency: time.Second, TTFB: 200 * time.Millisecond,
		}
		if i%20 == 0 {
			r.BYOK, r.BYOKCost = true, r.Cost*20
		}
		batch = append(batch, r)
		if len(batch) == cap(batch) || i == n-1 {
			must(b, s.WriteUsage(ctx, batch))
			batch = batch[:0]
		}
	}
	b.Logf("wrote %d records through WriteUsage in %v", n, time.Since(began).Round(time.Millisecond))
	// Autovacuum analyses tables that grew this much soon enough; the benchmark should not
	// time the plans chosen before it did.
	exec(b, s, "ANALYZE")
	return s, org.ID, members, to
}
