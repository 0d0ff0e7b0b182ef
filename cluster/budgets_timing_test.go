package cluster

import (
	"testing"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/money"
)

// BenchmarkSharedReserveSettle is one request's budget work with budgets shared through Redis:
// the admission script (one round trip) and the queued settlement, from parallel requests.
// Compare with budget's BenchmarkReserveSettle, the same work on one process's counters.
func BenchmarkSharedReserveSettle(b *testing.B) {
	f := newFixture(b)
	r := f.replica(b, "", false, nil)
	seed(b, r, budget.Snapshot{At: time.Now(), Orgs: map[int64]budget.OrgBalance{1: {Credits: 1 << 60}}})
	k := &apikey.Key{BudgetID: 7, OrgID: 1, HasLimit: true, Limit: 1 << 60, LimitReset: apikey.Monthly}
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, refusal := r.ledger.Reserve(k, 100*money.PerUSD/1e6, now)
			if refusal.Reason != budget.Admitted {
				b.Errorf("refused: %+v", refusal)
				return
			}
			r.ledger.Settle(res, budget.Charge{Cost: 90 * money.PerUSD / 1e6}, now)
		}
	})
	b.StopTimer()
	drained(b, r.budgets)
}
