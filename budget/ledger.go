// Package budget decides, on every request, whether a key may spend: its limit for the current
// period and its context's credit pool, held in memory so that admission never waits on a
// store. Records written by the accounting pipeline are the durable copy; a restart rebuilds
// the ledger from them (Restore).
//
// Admission reserves an estimate of the request's cost before it is forwarded, and settles it
// to the true cost when usage arrives. A request is admitted while the part of the budget that
// is neither spent nor reserved is positive, so concurrent requests see each other's
// reservations: however many arrive at once against a nearly exhausted budget, the spend can
// exceed the budget only by what the last admitted request cost beyond what was left.
package budget

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
)

// Ledger is safe for concurrent use. Its zero value is not usable; call New.
type Ledger struct {
	mu   sync.RWMutex
	keys map[int64]*keyAccount // by apikey.Key.BudgetID
	orgs map[int64]*pool       // by context (organization) id
	// requireCredits refuses requests from a context without credits left. Without it only
	// key limits apply, for gateways that do not meter teams.
	requireCredits bool
	remote         Remote // nil: this process holds the only counters
	failOpen       bool
	lastID         atomic.Uint64 // names remote reservations
}

// Options configure a Ledger.
type Options struct {
	// RequireCredits makes every context need credits left to send requests.
	RequireCredits bool
	// Remote, when set, holds the counters that several replicas share; the ledger's own
	// counters become this replica's copy of them (see remote.go).
	Remote Remote
	// FailOpen admits requests on the replica's own copy while Remote cannot be reached;
	// without it they are refused with Reason Unavailable.
	FailOpen bool
}

// New returns an empty ledger.
func New(o Options) *Ledger {
	return &Ledger{keys: map[int64]*keyAccount{}, orgs: map[int64]*pool{}, requireCredits: o.RequireCredits,
		remote: o.Remote, failOpen: o.FailOpen}
}

// keyAccount is one key budget: its spend per period and what is reserved by requests in
// flight.
type keyAccount struct {
	id       int64 // apikey.Key.BudgetID
	mu       sync.Mutex
	total    money.Nanos
	periods  [3]periodSpend // Daily, Weekly, Monthly
	reserved money.Nanos
	// byokTotal (and each period's byok) is the list price of requests served on the
	// organization's own provider keys; a key's limit counts it when IncludeBYOKInLimit is set.
	byokTotal money.Nanos
}

// periodSpend is the spend of the calendar period that started at start and ends at end.
type periodSpend struct {
	start, end time.Time
	spent      money.Nanos
	byok       money.Nanos
}

// Charge is what a finished request costs.
type Charge struct {
	// Cost is charged to the context's credits and counts as the key's spend: the price of
	// the request, or for a request on the organization's own provider key, the gateway's fee.
	Cost money.Nanos
	// BYOK is the provider's list price of a request served on the organization's own key,
	// which the organization pays the provider directly.
	BYOK money.Nanos
}

// pool is one context's credits.
type pool struct {
	id                      int64 // context (organization) id
	mu                      sync.Mutex
	credits, used, reserved money.Nanos
}

// Reason says which budget refused a request.
type Reason uint8

const (
	Admitted  Reason = iota
	KeyLimit         // the key's limit for its current period is used up
	NoCredits        // the context's credit pool is used up
	// Unavailable: the budget shared with other replicas could not be reached and the
	// configuration says to refuse rather than admit on local counters.
	Unavailable
)

// Refusal describes a refused request, for the 402 answer. Reason is Admitted when the request
// may go ahead.
type Refusal struct {
	Reason Reason
	Limit  money.Nanos // the key limit, or the context's credits
	Used   money.Nanos // spent plus reserved by requests in flight
	Reset  apikey.Period
	// ResetsAt is when a periodic key limit starts again (zero for NoReset or NoCredits).
	ResetsAt time.Time
}

// Reservation is budget held for one request until Settle. The zero value settles nothing.
type Reservation struct {
	key    *keyAccount
	pool   *pool
	amount money.Nanos
	at     time.Time // when the request was admitted: its cost belongs to the periods holding at
	// remoteID names the amount reserved on the Remote; 0 when the request was admitted on
	// local counters. shared says its charge goes to the Remote too.
	remoteID uint64
	shared   bool
}

// Reserve admits a request by k costing up to estimate, or says why not. Without a Remote it
// does not allocate once the key's budget and context have been seen.
func (l *Ledger) Reserve(k *apikey.Key, estimate money.Nanos, now time.Time) (Reservation, Refusal) {
	// A negative estimate would hand out credit; a caller's arithmetic is not trusted with that.
	estimate = max(estimate, 0)
	if l.remote != nil {
		return l.reserveShared(k, estimate, now)
	}
	return l.reserveLocal(k, estimate, now)
}

// reserveLocal admits against this process's counters.
func (l *Ledger) reserveLocal(k *apikey.Key, estimate money.Nanos, now time.Time) (Reservation, Refusal) {
	ka, p := l.account(k.BudgetID), l.pool(k.OrgID)
	// Lock order: key account, then pool.
	ka.mu.Lock()
	defer ka.mu.Unlock()
	ka.roll(now)
	if k.HasLimit {
		spent := ka.limitSpent(k.LimitReset, k.IncludeBYOKInLimit)
		if used := spent + ka.reserved; k.Limit-used <= 0 {
			r := Refusal{Reason: KeyLimit, Limit: k.Limit, Used: used, Reset: k.LimitReset}
			if k.LimitReset != apikey.NoReset {
				r.ResetsAt = ka.periods[k.LimitReset-1].end
			}
			return Reservation{}, r
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.requireCredits {
		if used := p.used + p.reserved; p.credits-used <= 0 {
			return Reservation{}, Refusal{Reason: NoCredits, Limit: p.credits, Used: used}
		}
	}
	ka.reserved += estimate
	p.reserved += estimate
	return Reservation{key: ka, pool: p, amount: estimate, at: now}, Refusal{}
}

// Settle releases r and charges c, the request's true price (zero for a request that failed
// without usage). Call it exactly once per admitted request.
func (l *Ledger) Settle(r Reservation, c Charge, now time.Time) {
	if r.key == nil {
		return
	}
	c.Cost, c.BYOK = max(c.Cost, 0), max(c.BYOK, 0) // a charge never adds credit
	ka := r.key
	ka.mu.Lock()
	ka.roll(now)
	ka.reserved -= r.amount
	ka.total += c.Cost
	ka.byokTotal += c.BYOK
	for i := range ka.periods {
		// A request admitted before a reset is charged to the period it started in, as the
		// store's daily roll-ups (keyed by the record's start) count it after a restart; that
		// period is over, so only the total sees it.
		if ps := &ka.periods[i]; !r.at.Before(ps.start) {
			ps.spent += c.Cost
			ps.byok += c.BYOK
		}
	}
	ka.mu.Unlock()

	r.pool.mu.Lock()
	r.pool.reserved -= r.amount
	r.pool.used += c.Cost
	r.pool.mu.Unlock()

	if r.shared {
		l.remote.Settle(Settlement{BudgetID: ka.id, OrgID: r.pool.id, Reservation: r.remoteID,
			Reserved: r.amount, Charge: c, At: r.at})
	}
}

// RaiseCredits brings each context's credits up to the total the store holds for it, and
// never down. Grants are only ever added, so a context's total only grows, and every total
// read from the store is at most the truth. Keeping the largest total seen makes the order in
// which they arrive irrelevant: a periodic reload that read the store just before the API
// stored a grant cannot undo it, and the API's total after a grant that a reload already
// counted is not added on top (as adding the grant's amount would).
func (l *Ledger) RaiseCredits(totals map[int64]money.Nanos) {
	for id, total := range totals {
		p := l.pool(id)
		p.mu.Lock()
		p.credits = max(p.credits, total)
		p.mu.Unlock()
	}
	if l.remote != nil && len(totals) > 0 {
		l.remote.RaiseCredits(totals)
	}
}

// Sync replaces this replica's copy of the given key budgets and contexts with the shared
// counters, so that what the Management API shows includes other replicas' spend. Without a
// Remote it does nothing.
func (l *Ledger) Sync(ctx context.Context, budgetIDs, orgIDs []int64, now time.Time) error {
	if l.remote == nil {
		return nil
	}
	s, err := l.remote.Fetch(ctx, budgetIDs, orgIDs, now)
	if err != nil {
		return err
	}
	l.Restore(s)
	return nil
}

// Balance returns a context's credits and spend so far; Used includes reservations of
// requests in flight.
func (l *Ledger) Balance(orgID int64) OrgBalance {
	p := l.pool(orgID)
	p.mu.Lock()
	defer p.mu.Unlock()
	return OrgBalance{Credits: p.credits, Used: p.used + p.reserved}
}

// KeyUsage returns a key budget's settled spend in total and in the periods containing now.
func (l *Ledger) KeyUsage(budgetID int64, now time.Time) KeySpend {
	ka := l.account(budgetID)
	ka.mu.Lock()
	defer ka.mu.Unlock()
	ka.roll(now)
	return KeySpend{
		Total: ka.total, Day: ka.periods[0].spent, Week: ka.periods[1].spent, Month: ka.periods[2].spent,
		BYOKTotal: ka.byokTotal, BYOKDay: ka.periods[0].byok, BYOKWeek: ka.periods[1].byok, BYOKMonth: ka.periods[2].byok,
	}
}

// Remaining returns what k may still spend in its current period, or false when k has no
// limit. Reservations of requests in flight count as spent.
func (l *Ledger) Remaining(k *apikey.Key, now time.Time) (money.Nanos, bool) {
	if !k.HasLimit {
		return 0, false
	}
	ka := l.account(k.BudgetID)
	ka.mu.Lock()
	defer ka.mu.Unlock()
	ka.roll(now)
	return max(k.Limit-ka.limitSpent(k.LimitReset, k.IncludeBYOKInLimit)-ka.reserved, 0), true
}

// Restore loads durable state. Call it before serving; it replaces what the ledger holds
// for the budgets and contexts in s, and keeps reservations of requests in flight. Credits
// are the exception: they only ever grow (a grant adds, nothing takes away), so a snapshot
// older than a grant this replica has already raised to (Redis has not taken it yet, or a
// reload read the store just before it) must not lower them.
func (l *Ledger) Restore(s Snapshot) {
	for id, ks := range s.Keys {
		ka := l.account(id)
		ka.mu.Lock()
		ka.set(ks, s.At)
		ka.mu.Unlock()
	}
	for id, b := range s.Orgs {
		p := l.pool(id)
		p.mu.Lock()
		p.credits, p.used = max(p.credits, b.Credits), b.Used
		p.mu.Unlock()
	}
}

func (l *Ledger) account(id int64) *keyAccount {
	l.mu.RLock()
	ka := l.keys[id]
	l.mu.RUnlock()
	if ka != nil {
		return ka
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ka = l.keys[id]; ka == nil {
		ka = &keyAccount{id: id}
		l.keys[id] = ka
	}
	return ka
}

func (l *Ledger) pool(id int64) *pool {
	l.mu.RLock()
	p := l.orgs[id]
	l.mu.RUnlock()
	if p != nil {
		return p
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p = l.orgs[id]; p == nil {
		p = &pool{id: id}
		l.orgs[id] = p
	}
	return p
}

// set replaces the account's spend with ks, whose periods are those containing at. Called
// with ka.mu held; reservations are kept.
func (ka *keyAccount) set(ks KeySpend, at time.Time) {
	ka.total, ka.byokTotal = ks.Total, ks.BYOKTotal
	byok := [3]money.Nanos{ks.BYOKDay, ks.BYOKWeek, ks.BYOKMonth}
	for i, spent := range [3]money.Nanos{ks.Day, ks.Week, ks.Month} {
		ka.periods[i] = periodAt(apikey.Period(i+1), at)
		ka.periods[i].spent, ka.periods[i].byok = spent, byok[i]
	}
}

// limitSpent returns the settled spend that a limit with reset period r is measured against:
// the key's charges, plus BYOK list prices when the key counts them (include_byok_in_limit).
func (ka *keyAccount) limitSpent(r apikey.Period, withBYOK bool) money.Nanos {
	spent, byok := ka.total, ka.byokTotal
	if r != apikey.NoReset {
		spent, byok = ka.periods[r-1].spent, ka.periods[r-1].byok
	}
	if withBYOK {
		spent += byok
	}
	return spent
}

// roll starts new periods for those that ended before now.
func (ka *keyAccount) roll(now time.Time) {
	for i := range ka.periods {
		if ps := &ka.periods[i]; !now.Before(ps.end) {
			*ps = periodAt(apikey.Period(i+1), now)
		}
	}
}

// periodAt returns the empty period p that contains t.
func periodAt(p apikey.Period, t time.Time) periodSpend {
	start := p.Start(t)
	var end time.Time
	switch p {
	case apikey.Daily:
		end = start.AddDate(0, 0, 1)
	case apikey.Weekly:
		end = start.AddDate(0, 0, 7)
	default:
		end = start.AddDate(0, 1, 0)
	}
	return periodSpend{start: start, end: end}
}
