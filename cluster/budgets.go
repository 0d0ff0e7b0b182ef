package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/money"
)

// SpendSource reads the durable counters from the store, to seed an empty Redis.
// store/sqlite and store/postgres implement it.
type SpendSource interface {
	LoadSpend(ctx context.Context, now time.Time) (budget.Snapshot, error)
}

var (
	// errUnseeded: Redis answered but holds no counters (it restarted empty); a seed is running.
	errUnseeded = errors.New("redis holds no budget counters yet; seeding them from the store")
	// errSkipped: Redis failed an admission less than RetryAfter ago.
	errSkipped = errors.New("redis failed moments ago; not waiting for it again yet")
)

// BudgetOptions configure Budgets.
type BudgetOptions struct {
	Prefix string
	// Timeout bounds one admission round trip.
	Timeout time.Duration
	// ReservationTTL is how long a reservation outlives a replica that died holding it.
	ReservationTTL time.Duration
	// RequireCredits mirrors budget.Options.RequireCredits.
	RequireCredits bool
	// FailOpen only changes what the logs say when Redis is unreachable (the Ledger applies
	// the policy).
	FailOpen bool
	// Store reseeds Redis when it comes back empty, and reconciles it every ReconcileEvery
	// (default a minute; negative: never).
	Store          SpendSource
	ReconcileEvery time.Duration
	// RetryAfter is how long admissions skip Redis after it failed one (default 1s): while a
	// host does not answer, a request would otherwise wait the whole Timeout for it.
	RetryAfter time.Duration
	Logger     *zap.Logger
}

// Budgets keeps key budgets and organization credit pools in Redis for every replica: a
// budget.Remote. Admission is one script call; settlements are queued and sent by one
// goroutine, merged per key budget and period, so a Redis outage never blocks a request that
// has already been admitted, and what it owes reaches Redis when Redis is back (settle.go).
// Redis is seeded from the store when it is empty and reconciled with it every minute
// (seed.go), so that what Redis missed (a replica killed with settlements queued) is counted.
type Budgets struct {
	rdb *redis.Client // request path: every wait bounded by the configured timeout
	// bg is a second client on the same server for background work (settlements, seeding,
	// reconciliation), with timeouts long enough for a server pausing a few seconds: a
	// settlement that times out after it ran is retried, and retries must be rare.
	bg      *redis.Client
	o       BudgetOptions
	replica string // names this process's reservations and settlement batches
	seeded  string // the marker key

	mu      sync.Mutex
	pending map[settleKey]*settleSum // owed to Redis, not yet sent
	retry   []sentGroup              // sent without an answer: resent under the same id
	sending bool                     // run holds groups taken from pending and retry
	flushes uint64                   // numbers settlement batches, for their done markers
	wake    chan struct{}            // has a value when pending may be non-empty
	done    chan struct{}
	stopped chan struct{}

	seeding   atomic.Bool
	up        atomic.Bool  // the last call reached Redis
	skipUntil atomic.Int64 // unix ns: admissions skip Redis until then (see RetryAfter)
}

// settleKey groups settlements that one script call can apply together.
type settleKey struct {
	budgetID, orgID int64
	starts          [3]int64 // day, week, month starts of the requests' admission
}

// settleSum is what a group owes: charges, and reservations to release.
type settleSum struct {
	cost, byok money.Nanos
	releases   []string // member, negated amount, member, …
}

// maxReleases bounds the reservations one group remembers while Redis is unreachable; the
// rest expire on their own after ReservationTTL.
const maxReleases = 2 * 4096

// backgroundTimeout bounds one background round trip (see Budgets.bg).
const backgroundTimeout = 10 * time.Second

// NewBudgets starts the settlement sender and, with a Store, the reconciler. Close stops them.
func NewBudgets(rdb *redis.Client, o BudgetOptions) *Budgets {
	var id [6]byte
	rand.Read(id[:]) //nolint:errcheck // never fails (crypto/rand)
	bgOpts := *rdb.Options()
	bgOpts.ReadTimeout, bgOpts.WriteTimeout, bgOpts.PoolTimeout = backgroundTimeout, backgroundTimeout, backgroundTimeout
	bgOpts.DialTimeout = max(bgOpts.DialTimeout, time.Second)
	bgOpts.PoolSize = 4
	if o.ReconcileEvery == 0 {
		o.ReconcileEvery = time.Minute
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	b := &Budgets{rdb: rdb, bg: redis.NewClient(&bgOpts), o: o, replica: hex.EncodeToString(id[:]), seeded: o.Prefix + "seeded",
		pending: map[settleKey]*settleSum{}, wake: make(chan struct{}, 1),
		done: make(chan struct{}), stopped: make(chan struct{})}
	b.up.Store(true)
	var wg sync.WaitGroup
	wg.Go(b.run)
	if o.Store != nil && o.ReconcileEvery > 0 {
		wg.Go(b.reconcileLoop)
	}
	go func() { wg.Wait(); close(b.stopped) }()
	return b
}

func (b *Budgets) keyNames(budgetID, orgID int64) []string {
	k := b.o.Prefix + "k:" + strconv.FormatInt(budgetID, 10)
	o := b.o.Prefix + "o:" + strconv.FormatInt(orgID, 10)
	return []string{b.seeded, k, k + ":res", o, o + ":res"}
}

// starts returns the unix-second starts of the day, week and month containing t.
func starts(t time.Time) [3]int64 {
	return [3]int64{apikey.Daily.Start(t).Unix(), apikey.Weekly.Start(t).Unix(), apikey.Monthly.Start(t).Unix()}
}

func (b *Budgets) member(id uint64, amount money.Nanos) string {
	return b.replica + "-" + strconv.FormatUint(id, 10) + ":" + strconv.FormatInt(int64(amount), 10)
}

// Reserve implements budget.Remote.
func (b *Budgets) Reserve(k *apikey.Key, id uint64, estimate money.Nanos, now time.Time) (budget.KeySpend, budget.OrgBalance, budget.Refusal, error) {
	if until := b.skipUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		reserveSkipped.Inc()
		return budget.KeySpend{}, budget.OrgBalance{}, budget.Refusal{}, errSkipped
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.o.Timeout)
	defer cancel()
	st := starts(now)
	args := []any{now.UnixMilli(), now.Add(b.o.ReservationTTL).UnixMilli(), b.member(id, estimate), int64(estimate),
		flag(k.HasLimit), int64(k.Limit), int(k.LimitReset), flag(k.IncludeBYOKInLimit), flag(b.o.RequireCredits),
		st[0], st[1], st[2]}
	res, err := reserveScript.Run(ctx, b.rdb, b.keyNames(k.BudgetID, k.OrgID), args...).Slice()
	if err != nil {
		// The script may have run before the answer was lost: release what it may have
		// reserved (releasing is idempotent), rather than hold it for ReservationTTL.
		b.Settle(budget.Settlement{BudgetID: k.BudgetID, OrgID: k.OrgID, Reservation: id, Reserved: estimate, At: now})
		b.skipUntil.Store(time.Now().Add(b.o.RetryAfter).UnixNano())
		b.failed("reserve", err)
		return budget.KeySpend{}, budget.OrgBalance{}, budget.Refusal{}, err
	}
	b.skipUntil.Store(0)
	b.reached()
	reason, _ := res[0].(int64)
	if reason == -1 {
		b.reseed()
		b.failed("reserve", errUnseeded)
		return budget.KeySpend{}, budget.OrgBalance{}, budget.Refusal{}, errUnseeded
	}
	if len(res) != 16 {
		return budget.KeySpend{}, budget.OrgBalance{}, budget.Refusal{}, fmt.Errorf("reserve script answered %d values, want 16", len(res))
	}
	spend, balance := keySpend(res[3:14], st), budget.OrgBalance{Credits: nanos(res[14]), Used: nanos(res[15])}
	var refusal budget.Refusal
	switch reason {
	case 1:
		refusal = budget.Refusal{Reason: budget.KeyLimit, Limit: k.Limit, Used: nanos(res[1]), Reset: k.LimitReset}
		if k.LimitReset != apikey.NoReset {
			refusal.ResetsAt = periodEnd(k.LimitReset, now)
		}
	case 2:
		refusal = budget.Refusal{Reason: budget.NoCredits, Limit: nanos(res[2]), Used: nanos(res[1])}
	}
	return spend, balance, refusal, nil
}

// periodEnd returns when the period p containing t ends.
func periodEnd(p apikey.Period, t time.Time) time.Time {
	s := p.Start(t)
	switch p {
	case apikey.Daily:
		return s.AddDate(0, 0, 1)
	case apikey.Weekly:
		return s.AddDate(0, 0, 7)
	}
	return s.AddDate(0, 1, 0)
}

// keySpend reads the hash fields t bt ds d bd ws w bw ms m bm; a period's spend counts only
// if it is the current one.
func keySpend(f []any, st [3]int64) budget.KeySpend {
	s := budget.KeySpend{Total: nanos(f[0]), BYOKTotal: nanos(f[1])}
	spend := [3]*money.Nanos{&s.Day, &s.Week, &s.Month}
	byok := [3]*money.Nanos{&s.BYOKDay, &s.BYOKWeek, &s.BYOKMonth}
	for i := range 3 {
		if int64(nanos(f[2+3*i])) == st[i] {
			*spend[i], *byok[i] = nanos(f[3+3*i]), nanos(f[4+3*i])
		}
	}
	return s
}

// nanos reads an integer reply, or a string holding one; nil (a missing field) is 0.
func nanos(v any) money.Nanos {
	switch v := v.(type) {
	case int64:
		return money.Nanos(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return money.Nanos(n)
	}
	return 0
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RaiseCredits implements budget.Remote. It runs in the background: the order in which two
// calls reach Redis does not matter, since the script keeps the larger total.
func (b *Budgets) RaiseCredits(totals map[int64]money.Nanos) {
	go b.raiseCredits(totals)
}

// raiseCredits runs the credits script. A failure is logged; the periodic reload of credit
// totals (keys.refresh_after) raises them again.
func (b *Budgets) raiseCredits(totals map[int64]money.Nanos) {
	ctx, cancel := context.WithTimeout(context.Background(), backgroundTimeout)
	defer cancel()
	args := make([]any, 0, 1+2*len(totals))
	args = append(args, b.o.Prefix)
	for id, v := range totals {
		args = append(args, id, int64(v))
	}
	if err := creditsScript.Run(ctx, b.bg, []string{b.seeded}, args...).Err(); err != nil {
		b.failed("credits", err)
		return
	}
	b.reached()
}

// Fetch implements budget.Remote.
func (b *Budgets) Fetch(ctx context.Context, budgetIDs, orgIDs []int64, now time.Time) (budget.Snapshot, error) {
	st := starts(now)
	kc := make([]*redis.SliceCmd, len(budgetIDs))
	oc := make([]*redis.SliceCmd, len(orgIDs))
	var seeded *redis.IntCmd
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		seeded = p.Exists(ctx, b.seeded)
		for i, id := range budgetIDs {
			kc[i] = p.HMGet(ctx, b.o.Prefix+"k:"+strconv.FormatInt(id, 10), "t", "bt", "ds", "d", "bd", "ws", "w", "bw", "ms", "m", "bm")
		}
		for i, id := range orgIDs {
			oc[i] = p.HMGet(ctx, b.o.Prefix+"o:"+strconv.FormatInt(id, 10), "c", "u")
		}
		return nil
	})
	if err == nil && seeded.Val() == 0 {
		b.reseed()
		err = errUnseeded // empty hashes would read as nothing spent
	}
	if err != nil {
		b.failed("fetch", err)
		return budget.Snapshot{}, err
	}
	s := budget.Snapshot{At: now, Keys: make(map[int64]budget.KeySpend, len(budgetIDs)), Orgs: make(map[int64]budget.OrgBalance, len(orgIDs))}
	for i, id := range budgetIDs {
		s.Keys[id] = keySpend(kc[i].Val(), st)
	}
	for i, id := range orgIDs {
		v := oc[i].Val()
		s.Orgs[id] = budget.OrgBalance{Credits: nanos(v[0]), Used: nanos(v[1])}
	}
	return s, nil
}

// Close sends what is still owed (one attempt) and stops the sender.
func (b *Budgets) Close() {
	close(b.done)
	<-b.stopped
	b.bg.Close()
}
