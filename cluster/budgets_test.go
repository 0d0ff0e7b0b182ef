package cluster

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/internal/redistest"
	"github.com/arouter/arouter/internal/tcprelay"
	"github.com/arouter/arouter/money"
)

// replica is one gateway's budget: a Ledger whose Remote is Budgets on the shared Redis.
type replica struct {
	ledger  *budget.Ledger
	budgets *Budgets
}

type fixture struct {
	url, prefix string
}

func newFixture(t testing.TB) fixture {
	url := redistest.URL(t)
	return fixture{url: url, prefix: redistest.Prefix(t, url)}
}

// replica opens a client to addr (the fixture's server when empty) and a ledger on it.
func (f fixture) replica(t testing.TB, url string, failOpen bool, store SpendSource) replica {
	t.Helper()
	if url == "" {
		url = f.url
	}
	rdb, err := Open(context.Background(), Options{URL: url, Prefix: f.prefix, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBudgets(rdb, BudgetOptions{Prefix: f.prefix, Timeout: 2 * time.Second, ReservationTTL: time.Minute,
		RequireCredits: true, FailOpen: failOpen, Store: store, Logger: zap.NewNop(), RetryAfter: retryAfter})
	t.Cleanup(func() { b.Close(); rdb.Close() })
	return replica{ledger: budget.New(budget.Options{RequireCredits: true, Remote: b, FailOpen: failOpen}), budgets: b}
}

// drained waits until b has sent every settlement.
func drained(t testing.TB, b *Budgets) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !b.Idle() {
		if time.Now().After(deadline) {
			t.Fatalf("settlements still pending after 10s: %d", b.Pending())
		}
		time.Sleep(time.Millisecond)
	}
}

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// retryAfter is the tests' BudgetOptions.RetryAfter.
const retryAfter = 50 * time.Millisecond

func seed(t testing.TB, r replica, s budget.Snapshot) {
	t.Helper()
	if _, err := r.budgets.Seed(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	r.ledger.Restore(s)
}

func TestReplicasCannotOverspendASharedLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	replicas := []replica{f.replica(t, "", false, nil), f.replica(t, "", false, nil), f.replica(t, "", false, nil)}
	snap := budget.Snapshot{At: t0, Orgs: map[int64]budget.OrgBalance{1: {Credits: 1000 * money.PerUSD}}}
	for _, r := range replicas {
		seed(t, r, snap)
	}
	const cost = 3 * money.PerUSD / 100 // each request costs 3 cents, estimated at 4
	k := &apikey.Key{BudgetID: 7, OrgID: 1, HasLimit: true, Limit: 150 * money.PerUSD / 100, LimitReset: apikey.Daily}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := replicas[i%len(replicas)]
			res, refusal := r.ledger.Reserve(k, 4*money.PerUSD/100, t0)
			if refusal.Reason != budget.Admitted {
				if refusal.Reason != budget.KeyLimit {
					t.Errorf("refused for %v, want KeyLimit", refusal.Reason)
				}
				return
			}
			admitted.Add(1)
			r.ledger.Settle(res, budget.Charge{Cost: cost}, t0)
		}()
	}
	wg.Wait()
	for _, r := range replicas {
		drained(t, r.budgets)
	}
	spent := money.Nanos(admitted.Load()) * cost
	if spent > k.Limit+cost {
		t.Fatalf("admitted %d requests: spent %v against a limit of %v", admitted.Load(), spent, k.Limit)
	}
	if admitted.Load() < 37 { // 1.50/0.04 reserved at once at worst
		t.Fatalf("admitted only %d requests; the limit allows at least 37", admitted.Load())
	}
	s, err := replicas[1].budgets.Fetch(context.Background(), []int64{7}, []int64{1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Keys[7]; got.Total != spent || got.Day != spent || got.Week != spent || got.Month != spent {
		t.Fatalf("redis holds %+v, want %v in total and in every period", got, spent)
	}
	if got := s.Orgs[1].Used; got != spent {
		t.Fatalf("org used %v, want %v", got, spent)
	}
	if r := reserved(t, f, 7); r != 0 {
		t.Fatalf("%v still reserved after every request settled", r)
	}
}

// reserved reads a key budget's reserved amount straight from Redis.
func reserved(t *testing.T, f fixture, budgetID int64) money.Nanos {
	t.Helper()
	v, err := redistest.Client(t, f.url).HGet(context.Background(), f.prefix+"k:"+strconv.FormatInt(budgetID, 10), "r").Int64()
	if err != nil {
		t.Fatal(err)
	}
	return money.Nanos(v)
}

func TestADeadReplicasReservationsExpire(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.replica(t, "", false, nil)
	seed(t, r, budget.Snapshot{At: t0, Orgs: map[int64]budget.OrgBalance{1: {Credits: money.PerUSD}}})
	k := &apikey.Key{BudgetID: 7, OrgID: 1, HasLimit: true, Limit: money.PerUSD}
	// A request that reserves the whole limit and never settles: its replica died.
	if _, refusal := r.ledger.Reserve(k, money.PerUSD, t0); refusal.Reason != budget.Admitted {
		t.Fatalf("first request refused: %+v", refusal)
	}
	other := f.replica(t, "", false, nil)
	if _, refusal := other.ledger.Reserve(k, 1, t0); refusal.Reason != budget.KeyLimit {
		t.Fatalf("while the reservation holds: %+v, want KeyLimit", refusal)
	}
	if _, refusal := other.ledger.Reserve(k, 1, t0.Add(time.Minute+time.Millisecond)); refusal.Reason != budget.Admitted {
		t.Fatalf("after the reservation expired: %+v, want admitted", refusal)
	}
}

func TestAChargeAfterAResetCountsInTheTotalOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.replica(t, "", false, nil)
	seed(t, r, budget.Snapshot{At: t0, Orgs: map[int64]budget.OrgBalance{1: {Credits: money.PerUSD}}})
	k := &apikey.Key{BudgetID: 7, OrgID: 1}
	late, _ := r.ledger.Reserve(k, 10, t0.Add(11*time.Hour+59*time.Minute)) // admitted before midnight
	next := t0.Add(12 * time.Hour)                                          // next day
	early, _ := r.ledger.Reserve(k, 10, next)
	r.ledger.Settle(early, budget.Charge{Cost: 5}, next)
	drained(t, r.budgets)
	r.ledger.Settle(late, budget.Charge{Cost: 7}, next)
	drained(t, r.budgets)
	s, err := r.budgets.Fetch(context.Background(), []int64{7}, nil, next)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Keys[7]; got.Total != 12 || got.Day != 5 || got.Month != 12 {
		t.Fatalf("got %+v, want total 12, day 5 (the late request belongs to yesterday), month 12", got)
	}
}

func TestRedisOutage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u, err := url.Parse(f.url)
	if err != nil {
		t.Fatal(err)
	}
	relay := tcprelay.Start(t, u.Host)
	viaRelay := "redis://" + relay.Addr() + u.Path
	open := f.replica(t, viaRelay, true, nil)
	closed := f.replica(t, viaRelay, false, nil)
	snap := budget.Snapshot{At: t0, Orgs: map[int64]budget.OrgBalance{1: {Credits: money.PerUSD}}}
	seed(t, open, snap)
	closed.ledger.Restore(snap)
	k := &apikey.Key{BudgetID: 7, OrgID: 1}

	relay.Cut()
	if _, refusal := closed.ledger.Reserve(k, 10, t0); refusal.Reason != budget.Unavailable {
		t.Fatalf("fail_closed during the outage: %+v, want Unavailable", refusal)
	}
	res, refusal := open.ledger.Reserve(k, 10, t0)
	if refusal.Reason != budget.Admitted {
		t.Fatalf("fail_open during the outage: %+v, want admitted on local counters", refusal)
	}
	open.ledger.Settle(res, budget.Charge{Cost: 9}, t0)
	if open.budgets.up.Load() {
		t.Fatal("arouter_redis_up still says 1 during the outage")
	}

	relay.Restore()
	drained(t, open.budgets) // the retry loop delivers what was owed
	s, err := closed.budgets.Fetch(context.Background(), []int64{7}, []int64{1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Keys[7].Total != 9 || s.Orgs[1].Used != 9 {
		t.Fatalf("after the outage redis holds %+v / %+v, want the 9 charged during it", s.Keys[7], s.Orgs[1])
	}
	time.Sleep(retryAfter) // admissions skip Redis this long after it failed one
	if _, refusal := closed.ledger.Reserve(k, 10, t0); refusal.Reason != budget.Admitted {
		t.Fatalf("fail_closed after the outage: %+v", refusal)
	}
}

// While a Redis host does not answer, each admission would wait the whole timeout for it; after
// one fails, admissions skip Redis for RetryAfter.
func TestAdmissionsSkipRedisRightAfterItFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u, err := url.Parse(f.url)
	if err != nil {
		t.Fatal(err)
	}
	relay := tcprelay.Start(t, u.Host)
	rdb, err := Open(context.Background(), Options{URL: "redis://" + relay.Addr() + u.Path, Prefix: f.prefix, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBudgets(rdb, BudgetOptions{Prefix: f.prefix, Timeout: time.Second, ReservationTTL: time.Minute,
		RetryAfter: time.Hour, Logger: zap.NewNop()})
	t.Cleanup(func() { b.Close(); rdb.Close() })
	if _, err := b.Seed(context.Background(), budget.Snapshot{At: t0}); err != nil {
		t.Fatal(err)
	}
	k := &apikey.Key{BudgetID: 7, OrgID: 1}
	relay.Cut()
	if _, _, _, err := b.Reserve(k, 1, 10, t0); err == nil || errors.Is(err, errSkipped) {
		t.Fatalf("first admission during the outage: %v, want redis's error", err)
	}
	relay.Restore()
	if _, _, _, err := b.Reserve(k, 2, 10, t0); !errors.Is(err, errSkipped) {
		t.Fatalf("admission right after a failure: %v, want it skipped", err)
	}
}

// storeSnapshot is a SpendSource returning a fixed snapshot.
type storeSnapshot budget.Snapshot

func (s storeSnapshot) LoadSpend(context.Context, time.Time) (budget.Snapshot, error) {
	return budget.Snapshot(s), nil
}

func TestAnEmptiedRedisIsSeededAgainFromTheStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	snap := budget.Snapshot{At: t0, Keys: map[int64]budget.KeySpend{7: {Total: 90, Day: 90, Week: 90, Month: 90}},
		Orgs: map[int64]budget.OrgBalance{1: {Credits: 1000, Used: 90}}}
	r := f.replica(t, "", false, storeSnapshot(snap))
	seed(t, r, snap)
	k := &apikey.Key{BudgetID: 7, OrgID: 1, HasLimit: true, Limit: 100}
	// Redis restarts with nothing.
	c := redistest.Client(t, f.url)
	if err := c.Del(context.Background(), f.prefix+"seeded", f.prefix+"k:7", f.prefix+"o:1").Err(); err != nil {
		t.Fatal(err)
	}
	if _, refusal := r.ledger.Reserve(k, 20, t0); refusal.Reason != budget.Unavailable {
		t.Fatalf("before the reseed: %+v, want Unavailable (fail_closed)", refusal)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Exists(context.Background(), f.prefix+"seeded").Val() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not reseeded within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	res, refusal := r.ledger.Reserve(k, 20, t0)
	if refusal.Reason != budget.Admitted {
		t.Fatalf("after the reseed: %+v", refusal)
	}
	r.ledger.Settle(res, budget.Charge{Cost: 20}, t0)
	drained(t, r.budgets)
	if _, refusal := r.ledger.Reserve(k, 1, t0); refusal.Reason != budget.KeyLimit || refusal.Used != 110 {
		t.Fatalf("the store's 90 plus 20: %+v, want KeyLimit with 110 used", refusal)
	}
}

func TestCreditsReachEveryReplica(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.replica(t, "", false, nil), f.replica(t, "", false, nil)
	seed(t, a, budget.Snapshot{At: t0, Orgs: map[int64]budget.OrgBalance{1: {Credits: 0}}})
	k := &apikey.Key{BudgetID: 7, OrgID: 1}
	if _, refusal := b.ledger.Reserve(k, 1, t0); refusal.Reason != budget.NoCredits {
		t.Fatalf("without credits: %+v", refusal)
	}
	a.ledger.RaiseCredits(map[int64]money.Nanos{1: 5})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, refusal := b.ledger.Reserve(k, 1, t0); refusal.Reason == budget.Admitted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("credits added on one replica never reached the other")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSharedCreditsTakeTheLargestTotal: replicas report store totals in no particular order
// (the API's after a grant, each replica's periodic reload); a stale one, read before the
// latest grant, must not lower the shared credits, and a repeated one must not add.
func TestSharedCreditsTakeTheLargestTotal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.replica(t, "", false, nil)
	seed(t, r, budget.Snapshot{At: t0, Orgs: map[int64]budget.OrgBalance{1: {Credits: 2}, 2: {Credits: 9}}})
	for _, totals := range []map[int64]money.Nanos{{1: 5}, {1: 3, 2: 4}, {1: 5}, {3: 1}} {
		r.budgets.raiseCredits(totals) // synchronously: RaiseCredits runs it in the background
	}
	s, err := r.budgets.Fetch(context.Background(), nil, []int64{1, 2, 3}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for org, want := range map[int64]money.Nanos{1: 5, 2: 9, 3: 1} {
		if got := s.Orgs[org].Credits; got != want {
			t.Errorf("organization %d: shared credits %d, want %d", org, got, want)
		}
	}
}

func TestFreeRequestsSettleAlongsidePaidOnes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.replica(t, "", false, nil)
	seed(t, r, budget.Snapshot{At: t0, Orgs: map[int64]budget.OrgBalance{1: {Credits: money.PerUSD}}})
	k := &apikey.Key{BudgetID: 7, OrgID: 1}
	var want money.Nanos
	for i := range 50 {
		estimate, cost := money.Nanos(0), money.Nanos(0) // a model priced 0 reserves 0
		if i%2 == 1 {
			estimate, cost = 20, 15
		}
		res, refusal := r.ledger.Reserve(k, estimate, t0)
		if refusal.Reason != budget.Admitted {
			t.Fatalf("request %d refused: %+v", i, refusal)
		}
		r.ledger.Settle(res, budget.Charge{Cost: cost}, t0)
		want += cost
	}
	// A free request whose replica died: its zero reservation expires with the others.
	if _, refusal := r.ledger.Reserve(k, 0, t0); refusal.Reason != budget.Admitted {
		t.Fatalf("%+v", refusal)
	}
	drained(t, r.budgets)
	if _, refusal := r.ledger.Reserve(k, 1, t0.Add(2*time.Minute)); refusal.Reason != budget.Admitted {
		t.Fatalf("after a zero reservation expired: %+v", refusal)
	}
	s, err := r.budgets.Fetch(context.Background(), []int64{7}, []int64{1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Keys[7].Total != want || s.Orgs[1].Used != want {
		t.Fatalf("redis holds %v / %v, want %v", s.Keys[7].Total, s.Orgs[1].Used, want)
	}
}

func TestASettlementResentAfterALostAnswerCountsOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.replica(t, "", false, nil)
	seed(t, r, budget.Snapshot{At: t0, Orgs: map[int64]budget.OrgBalance{1: {Credits: money.PerUSD}}})
	g := sentGroup{key: settleKey{budgetID: 7, orgID: 1, starts: starts(t0)}, sum: &settleSum{cost: 900},
		done: f.prefix + "done:test:1", index: 3}
	// send expects the script in Redis (flush loads it after a NOSCRIPT); on a fresh Redis
	// nothing has loaded it before this test.
	if err := settleScript.Load(context.Background(), redistest.Client(t, f.url)).Err(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first answer was lost, so the group is sent again
		if failed, err := r.budgets.send([]sentGroup{g}); err != nil || len(failed) > 0 {
			t.Fatal(err)
		}
	}
	s, err := r.budgets.Fetch(context.Background(), []int64{7}, []int64{1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Keys[7].Total != 900 || s.Orgs[1].Used != 900 {
		t.Fatalf("redis holds %v / %v after a resend, want 900 once", s.Keys[7].Total, s.Orgs[1].Used)
	}
}

func TestReconciliationCountsWhatRedisMissed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	store := &mutableSnapshot{}
	r := f.replica(t, "", false, store)
	seed(t, r, budget.Snapshot{At: t0, Orgs: map[int64]budget.OrgBalance{1: {Credits: 1000}}})
	k := &apikey.Key{BudgetID: 7, OrgID: 1}
	res, _ := r.ledger.Reserve(k, 10, t0)
	r.ledger.Settle(res, budget.Charge{Cost: 10}, t0)
	drained(t, r.budgets)
	// Another replica was killed with 25 of settlements queued; their records reached the store,
	// which also holds this replica's 10. A key only the store knows is counted too.
	now := time.Now()
	store.set(budget.Snapshot{At: now,
		Keys: map[int64]budget.KeySpend{7: {Total: 35, Day: 35, Week: 35, Month: 35}, 8: {Total: 4, Day: 4, Week: 4, Month: 4}},
		Orgs: map[int64]budget.OrgBalance{1: {Credits: 2000, Used: 39}}})
	if err := r.budgets.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err := r.budgets.Fetch(context.Background(), []int64{7, 8}, []int64{1}, now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Keys[7].Total != 35 || s.Keys[7].Day != 35 || s.Keys[8].Total != 4 || s.Orgs[1] != (budget.OrgBalance{Credits: 2000, Used: 39}) {
		t.Fatalf("after reconciling: %+v %+v %+v", s.Keys[7], s.Keys[8], s.Orgs[1])
	}
	// The store lags Redis: reconciling never lowers a counter.
	store.set(budget.Snapshot{At: now, Keys: map[int64]budget.KeySpend{7: {Total: 5}}, Orgs: map[int64]budget.OrgBalance{1: {Credits: 2000, Used: 5}}})
	if err := r.budgets.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s, _ = r.budgets.Fetch(context.Background(), []int64{7}, []int64{1}, now); s.Keys[7].Total != 35 || s.Orgs[1].Used != 39 {
		t.Fatalf("reconciling with a lagging store lowered the counters: %+v %+v", s.Keys[7], s.Orgs[1])
	}
}

// mutableSnapshot is a SpendSource whose snapshot the test changes.
type mutableSnapshot struct {
	mu sync.Mutex
	s  budget.Snapshot
}

func (m *mutableSnapshot) set(s budget.Snapshot) {
	m.mu.Lock()
	m.s = s
	m.mu.Unlock()
}

func (m *mutableSnapshot) LoadSpend(context.Context, time.Time) (budget.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s, nil
}

func TestManyKeysAreSeededOnceInChunks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	snap := budget.Snapshot{At: t0, Keys: map[int64]budget.KeySpend{}, Orgs: map[int64]budget.OrgBalance{}}
	for i := range int64(30_000) {
		snap.Keys[i] = budget.KeySpend{Total: money.Nanos(i), Day: money.Nanos(i)}
		snap.Orgs[i] = budget.OrgBalance{Credits: 100, Used: money.Nanos(i % 100)}
	}
	a, b := f.replica(t, "", false, nil), f.replica(t, "", false, nil)
	var seeded atomic.Int64
	var wg sync.WaitGroup
	for _, r := range []replica{a, b} {
		wg.Go(func() {
			ok, err := r.budgets.Seed(context.Background(), snap)
			if err != nil {
				t.Error(err)
			}
			if ok {
				seeded.Add(1)
			}
		})
	}
	wg.Wait()
	if seeded.Load() != 1 {
		t.Fatalf("%d replicas seeded, want exactly 1", seeded.Load())
	}
	s, err := b.budgets.Fetch(context.Background(), []int64{0, 12_345, 29_999}, []int64{29_999}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Keys[12_345].Total != 12_345 || s.Keys[29_999].Day != 29_999 || s.Orgs[29_999].Used != 99 {
		t.Fatalf("seeded %+v %+v", s.Keys, s.Orgs)
	}
}

func TestFetchRefusesToReadAnEmptiedRedisAsNothingSpent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.replica(t, "", false, nil)
	if _, err := r.budgets.Fetch(context.Background(), []int64{7}, []int64{1}, t0); !errors.Is(err, errUnseeded) {
		t.Fatalf("Fetch on unseeded counters: %v, want errUnseeded", err)
	}
}
