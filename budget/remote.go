package budget

import (
	"context"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
)

// Remote holds the counters that several gateway replicas share (cluster.Budgets implements
// it over Redis). With a Remote the Ledger admits each request against the shared counters in
// one round trip and keeps its own counters as this replica's copy of them: what the
// Management API shows, and what admission uses while the Remote cannot be reached and the
// configuration says to fail open.
//
// The guarantee is the one the Ledger gives alone, across replicas: the Remote checks and
// reserves atomically, so a budget is overspent by at most what the last admitted request cost
// beyond what was left.
type Remote interface {
	// Reserve admits a request by k costing up to estimate, holding estimate under id until it
	// is settled (or until the Remote's reservation lifetime passes, so that a replica that dies
	// mid-request does not hold budget forever). It returns the shared counters it saw of k's
	// budget and context, for periods containing now. An error means the Remote could not
	// decide; nothing is reserved then.
	Reserve(k *apikey.Key, id uint64, estimate money.Nanos, now time.Time) (KeySpend, OrgBalance, Refusal, error)
	// Settle releases a reservation and charges its request's true cost. It must not block on
	// the network: it queues, and retries until the Remote has taken it.
	Settle(s Settlement)
	// RaiseCredits mirrors Ledger.RaiseCredits: the shared credits become the largest total
	// seen, whatever the order in which replicas report them. It must not block either.
	RaiseCredits(totals map[int64]money.Nanos)
	// Fetch reads the shared counters of some key budgets and contexts, for periods containing
	// now.
	Fetch(ctx context.Context, budgetIDs, orgIDs []int64, now time.Time) (Snapshot, error)
}

// Settlement is one finished request's charge for a Remote.
type Settlement struct {
	BudgetID, OrgID int64
	// Reservation is the id the request reserved under and Reserved the amount; Reservation
	// 0 means nothing was reserved remotely (the request was admitted while the Remote was
	// unreachable), so only the charge applies.
	Reservation uint64
	Reserved    money.Nanos
	Charge      Charge
	At          time.Time // when the request was admitted: its cost belongs to those periods
}

// reserveShared admits against the Remote, and keeps this replica's copy up to date with what
// the Remote saw.
func (l *Ledger) reserveShared(k *apikey.Key, estimate money.Nanos, now time.Time) (Reservation, Refusal) {
	id := l.lastID.Add(1)
	spend, balance, refusal, err := l.remote.Reserve(k, id, estimate, now)
	if err != nil {
		if !l.failOpen {
			return Reservation{}, Refusal{Reason: Unavailable}
		}
		r, refusal := l.reserveLocal(k, estimate, now)
		r.shared = r.key != nil // its charge still reaches the Remote once it is back
		return r, refusal
	}
	// Keep this replica's copy as the Remote saw it, and hold the estimate locally too: while
	// the Remote is unreachable, admission on local counters must see this replica's requests
	// in flight.
	admitted := refusal.Reason == Admitted
	ka, p := l.account(k.BudgetID), l.pool(k.OrgID)
	ka.mu.Lock()
	ka.set(spend, now)
	if admitted {
		ka.reserved += estimate
	}
	ka.mu.Unlock()
	p.mu.Lock()
	p.credits, p.used = max(p.credits, balance.Credits), balance.Used // credits never go down: see Ledger.Restore
	if admitted {
		p.reserved += estimate
	}
	p.mu.Unlock()
	if !admitted {
		return Reservation{}, refusal
	}
	return Reservation{key: ka, pool: p, amount: estimate, at: now, remoteID: id, shared: true}, Refusal{}
}
