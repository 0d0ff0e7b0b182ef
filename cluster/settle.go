package cluster

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arouter/arouter/budget"
)

// sentGroup is a settlement group sent to Redis under a batch's done marker and an index in
// it. A group whose answer was lost may have been applied, so it is resent under the same
// marker and index, which the script applies at most once; it never merges with new charges.
type sentGroup struct {
	key   settleKey
	sum   *settleSum
	done  string // the batch's done-marker key
	index int
}

const (
	// settleEvery gathers the settlements of a burst into one batch, which bounds both the
	// round trips and the done markers Redis holds (one per batch, for doneTTL).
	settleEvery = 10 * time.Millisecond
	// doneTTL is how long a batch's done marker lasts: longer than a retry can come after
	// the batch was first sent, short enough that markers stay few.
	doneTTL = 10 * time.Minute
	// maxBackoff bounds the wait between retries while Redis is unreachable.
	maxBackoff = 2 * time.Second
)

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
			// FormatInt of the negated amount: "0", never "-0", which HINCRBY refuses.
			sum.releases = append(sum.releases, b.member(s.Reservation, s.Reserved), strconv.FormatInt(-int64(s.Reserved), 10))
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

// run sends what is owed to Redis until Close: at most every settleEvery, and while Redis
// fails, with backoff (settlements arriving meanwhile wait and merge).
func (b *Budgets) run() {
	for {
		select {
		case <-b.wake:
		case <-b.done:
			b.flush() // one last attempt; what fails is counted again by reconciliation
			return
		}
		if !b.sleep(settleEvery) {
			b.flush()
			return
		}
		for backoff := 50 * time.Millisecond; !b.flush(); backoff = min(2*backoff, maxBackoff) {
			if !b.sleep(backoff) {
				b.flush()
				return
			}
		}
	}
}

// sleep waits d, or reports false at once when Close was called.
func (b *Budgets) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.done:
		return false
	}
}

// flush sends the groups waiting for a resend and everything pending, in one pipeline, and
// reports whether Redis took all of them; those it did not are kept for the next attempt.
func (b *Budgets) flush() bool {
	b.mu.Lock()
	groups := b.retry
	if len(b.pending) > 0 {
		b.flushes++
		done := b.o.Prefix + "done:" + b.replica + ":" + strconv.FormatUint(b.flushes, 10)
		i := 0
		for k, s := range b.pending {
			groups = append(groups, sentGroup{key: k, sum: s, done: done, index: i})
			i++
		}
	}
	if len(groups) == 0 {
		b.mu.Unlock()
		return true
	}
	b.retry, b.pending, b.sending = nil, map[settleKey]*settleSum{}, true
	b.mu.Unlock()

	failed, err := b.send(groups)
	if err != nil && isNoScript(err) {
		// The first use after Redis restarted: load the script and resend what failed.
		ctx, cancel := context.WithTimeout(context.Background(), backgroundTimeout)
		if settleScript.Load(ctx, b.bg).Err() == nil {
			failed, err = b.send(failed)
		}
		cancel()
	}
	b.mu.Lock()
	b.retry = append(b.retry, failed...)
	b.sending = false
	b.mu.Unlock()
	if len(failed) > 0 {
		b.failed("settle", err)
		return false
	}
	b.reached()
	settledGroups.Add(len(groups))
	return true
}

// send runs the settle script for each group in one pipeline and returns the groups whose
// command failed, with the first error.
func (b *Budgets) send(groups []sentGroup) ([]sentGroup, error) {
	ctx, cancel := context.WithTimeout(context.Background(), backgroundTimeout)
	defer cancel()
	cmds := make([]*redis.Cmd, len(groups))
	_, err := b.bg.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, g := range groups {
			args := make([]any, 0, 7+len(g.sum.releases))
			args = append(args, int64(g.sum.cost), int64(g.sum.byok), g.key.starts[0], g.key.starts[1], g.key.starts[2],
				g.index, int64(doneTTL/time.Second))
			for _, r := range g.sum.releases {
				args = append(args, r)
			}
			keys := append(b.keyNames(g.key.budgetID, g.key.orgID), g.done)
			cmds[i] = settleScript.EvalSha(ctx, p, keys, args...)
		}
		return nil
	})
	var failed []sentGroup
	for i, cmd := range cmds {
		if cmd.Err() != nil {
			failed = append(failed, groups[i])
		}
	}
	return failed, err
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// Pending returns how many settlement groups wait for Redis.
func (b *Budgets) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending) + len(b.retry)
}

// Idle reports whether every settlement queued so far has reached Redis.
func (b *Budgets) Idle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending) == 0 && len(b.retry) == 0 && !b.sending
}
