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

// errUnseeded: Redis answered but holds no counters (it restarted empty); a seed is running.
var errUnseeded = errors.New("redis holds no budget counters yet; seeding them from the store")

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
	// Store reseeds Redis when it comes back empty.
	Store  SpendSource
	Logger *zap.Logger
}

// Budgets keeps key budgets and organization credit pools in Redis for every replica: a
// budget.Remote. Admission is one script call; settlements are queued and sent by one
// goroutine, merged per key budget and period, so a Redis outage never blocks a request that
// has already been admitted, and what it owes reaches Redis when Redis is back.
type Budgets struct {
	rdb     *redis.Client
	o       BudgetOptions
	replica string // names this process's reservations
	seeded  string // the marker key

	mu      sync.Mutex
	pending map[settleKey]*settleSum // owed to Redis, sent by run
	sending bool                     // run holds a batch taken from pending
	wake    chan struct{}            // has a value when pending may be non-empty
	done    chan struct{}
	stopped chan struct{}

	seeding atomic.Bool
	up      atomic.Bool // the last call reached Redis
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

// NewBudgets starts the settlement sender. Close stops it.
func NewBudgets(rdb *redis.Client, o BudgetOptions) *Budgets {
	var id [6]byte
	rand.Read(id[:]) //nolint:errcheck // never fails (crypto/rand)
	b := &Budgets{rdb: rdb, o: o, replica: hex.EncodeToString(id[:]), seeded: o.Prefix + "seeded",
		pending: map[settleKey]*settleSum{}, wake: make(chan struct{}, 1),
		done: make(chan struct{}), stopped: make(chan struct{})}
	b.up.Store(true)
	go b.run()
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
func (b *Budgets) Reserve(k *apikey.Key, id uint64, estimate money.Nanos, now time.Time) (budget.Snapshot, budget.Refusal, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.o.Timeout)
	defer cancel()
	st := starts(now)
	args := []any{now.UnixMilli(), now.Add(b.o.ReservationTTL).UnixMilli(), b.member(id, estimate), int64(estimate),
		flag(k.HasLimit), int64(k.Limit), int(k.LimitReset), flag(k.IncludeBYOKInLimit), flag(b.o.RequireCredits),
		st[0], st[1], st[2]}
	res, err := reserveScript.Run(ctx, b.rdb, b.keyNames(k.BudgetID, k.OrgID), args...).Slice()
	if err != nil {
		b.failed("reserve", err)
		return budget.Snapshot{}, budget.Refusal{}, err
	}
	b.reached()
	reason, _ := res[0].(int64)
	if reason == -1 {
		b.reseed()
		b.failed("reserve", errUnseeded)
		return budget.Snapshot{}, budget.Refusal{}, errUnseeded
	}
	if len(res) != 16 {
		return budget.Snapshot{}, budget.Refusal{}, fmt.Errorf("reserve script answered %d values, want 16", len(res))
	}
	seen := budget.Snapshot{At: now,
		Keys: map[int64]budget.KeySpend{k.BudgetID: keySpend(res[3:14], st)},
		Orgs: map[int64]budget.OrgBalance{k.OrgID: {Credits: nanos(res[14]), Used: nanos(res[15])}}}
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
	return seen, refusal, nil
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

// Settle implements budget.Remote: it queues s for the sender and returns at once.
func (b *Budgets) Settle(s budget.Settlement) {
	k := settleKey{budgetID: s.BudgetID, orgID: s.OrgID, starts: starts(s.At)}
	b.mu.Lock()
	sum := b.pending[k]
	if sum == nil {
		sum = &settleSum{}
		b.pending[k] = sum
	}
	sum.cost += max(s.Charge.Cost, 0)
	sum.byok += max(s.Charge.BYOK, 0)
	if s.Reservation != 0 {
		if len(sum.releases) < maxReleases {
			sum.releases = append(sum.releases, b.member(s.Reservation, s.Reserved), "-"+strconv.FormatInt(int64(s.Reserved), 10))
		} else {
			releasesDropped.Inc()
		}
	}
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// run sends what is owed to Redis until Close, retrying with backoff while Redis is away.
func (b *Budgets) run() {
	defer close(b.stopped)
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	var retry <-chan time.Time
	for {
		select {
		case <-b.wake:
		case <-retry:
		case <-b.done:
			b.flush() // one last attempt; what fails is in the store's records
			return
		}
		retry = nil
		if b.flush() {
			backoff = minBackoff
			continue
		}
		retry = time.After(backoff)
		backoff = min(2*backoff, maxBackoff)
	}
}

// flush sends everything pending in one pipeline and reports whether all of it was taken;
// what was not is merged back for the next attempt.
func (b *Budgets) flush() bool {
	b.mu.Lock()
	batch := b.pending
	if len(batch) == 0 {
		b.mu.Unlock()
		return true
	}
	b.pending, b.sending = map[settleKey]*settleSum{}, true
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.sending = false
		b.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*b.o.Timeout)
	defer cancel()
	keys := make([]settleKey, 0, len(batch))
	cmds := make([]*redis.Cmd, 0, len(batch))
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, s := range batch {
			args := make([]any, 0, 5+len(s.releases))
			args = append(args, int64(s.cost), int64(s.byok), k.starts[0], k.starts[1], k.starts[2])
			for _, r := range s.releases {
				args = append(args, r)
			}
			keys = append(keys, k)
			cmds = append(cmds, settleScript.EvalSha(ctx, p, b.keyNames(k.budgetID, k.orgID), args...))
		}
		return nil
	})
	if err != nil && isNoScript(err) {
		// The first use after Redis restarted: load the script and send again.
		if lerr := settleScript.Load(ctx, b.rdb).Err(); lerr == nil {
			b.requeue(batch, keys, cmds, true)
			return b.flush()
		}
	}
	failed := b.requeue(batch, keys, cmds, false)
	if failed > 0 {
		b.failed("settle", err)
		return false
	}
	b.reached()
	settledGroups.Add(len(batch))
	return true
}

// requeue merges the groups whose command failed (all of them if all) back into pending and
// returns how many there were.
func (b *Budgets) requeue(batch map[settleKey]*settleSum, keys []settleKey, cmds []*redis.Cmd, all bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for i, cmd := range cmds {
		if !all && cmd.Err() == nil {
			continue
		}
		n++
		k, s := keys[i], batch[keys[i]]
		if cur := b.pending[k]; cur != nil {
			cur.cost += s.cost
			cur.byok += s.byok
			if room := maxReleases - len(cur.releases); room > 0 {
				cur.releases = append(cur.releases, s.releases[:min(room, len(s.releases))]...)
			}
			continue
		}
		b.pending[k] = s
	}
	return n
}

func isNoScript(err error) bool {
	return err != nil && len(err.Error()) >= 8 && err.Error()[:8] == "NOSCRIPT"
}

// Pending returns how many settlement groups wait for Redis.
func (b *Budgets) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

// Idle reports whether every settlement queued so far has reached Redis.
func (b *Budgets) Idle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending) == 0 && !b.sending
}

// AddCredits implements budget.Remote.
func (b *Budgets) AddCredits(orgID int64, amount money.Nanos) {
	go b.credits("add", map[int64]money.Nanos{orgID: amount})
}

// SetCredits implements budget.Remote.
func (b *Budgets) SetCredits(totals map[int64]money.Nanos) {
	if len(totals) == 0 {
		return
	}
	go b.credits("set", totals)
}

// credits runs the credits script. A failure is logged; the periodic reload of credit totals
// (keys.refresh_after) sets them again.
func (b *Budgets) credits(op string, amounts map[int64]money.Nanos) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*b.o.Timeout)
	defer cancel()
	args := make([]any, 0, 2+2*len(amounts))
	args = append(args, b.o.Prefix, op)
	for id, v := range amounts {
		args = append(args, id, int64(v))
	}
	if err := creditsScript.Run(ctx, b.rdb, []string{b.seeded}, args...).Err(); err != nil {
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
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range budgetIDs {
			kc[i] = p.HMGet(ctx, b.o.Prefix+"k:"+strconv.FormatInt(id, 10), "t", "bt", "ds", "d", "bd", "ws", "w", "bw", "ms", "m", "bm")
		}
		for i, id := range orgIDs {
			oc[i] = p.HMGet(ctx, b.o.Prefix+"o:"+strconv.FormatInt(id, 10), "c", "u")
		}
		return nil
	})
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

// Seed loads the store's counters into Redis unless another replica already has. Call it at
// start-up, before serving.
func (b *Budgets) Seed(ctx context.Context, s budget.Snapshot) (bool, error) {
	args := make([]any, 0, 1+13*len(s.Keys)+4*len(s.Orgs))
	args = append(args, b.o.Prefix)
	st := starts(s.At)
	for id, k := range s.Keys {
		args = append(args, "k", id, int64(k.Total), int64(k.BYOKTotal),
			st[0], int64(k.Day), int64(k.BYOKDay), st[1], int64(k.Week), int64(k.BYOKWeek),
			st[2], int64(k.Month), int64(k.BYOKMonth))
	}
	for id, o := range s.Orgs {
		args = append(args, "o", id, int64(o.Credits), int64(o.Used))
	}
	n, err := seedScript.Run(ctx, b.rdb, []string{b.seeded}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("seed budget counters in redis: %w", err)
	}
	return n == 1, nil
}

// reseed seeds Redis again after it lost its data, once at a time, in the background.
func (b *Budgets) reseed() {
	if b.o.Store == nil || !b.seeding.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer b.seeding.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		snap, err := b.o.Store.LoadSpend(ctx, time.Now())
		if err == nil {
			_, err = b.Seed(ctx, snap)
		}
		if err != nil {
			b.o.Logger.Error("reseeding budget counters in redis failed; will retry on the next request", zap.Error(err))
			return
		}
		b.o.Logger.Warn("redis had lost its budget counters; seeded them again from the store")
	}()
}

// Close sends what is still owed (one attempt) and stops the sender.
func (b *Budgets) Close() {
	close(b.done)
	<-b.stopped
}
