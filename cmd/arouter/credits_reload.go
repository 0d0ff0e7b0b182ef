package main

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/money"
)

// creditTotals is the store's view of every context's granted credits.
type creditTotals interface {
	CreditTotals(ctx context.Context) (map[int64]money.Nanos, error)
}

// creditReloader keeps the ledger's credits equal to the grants in the store, so that credits
// added by another process on the same store (`arouter credits add` while the gateway runs)
// are usable within one interval instead of after a restart. Grants made through this
// gateway's API reach the ledger at once and are not counted twice (RaiseCredits keeps the
// largest total seen, whatever the order of the API's and the reload's).
type creditReloader struct {
	stop chan struct{}
	done chan struct{}
}

func startCreditReloader(st creditTotals, ledger *budget.Ledger, every time.Duration, log *zap.Logger) *creditReloader {
	r := &creditReloader{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		t := time.NewTicker(every)
		defer t.Stop()
		failing := false
		for {
			select {
			case <-r.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), every)
			totals, err := st.CreditTotals(ctx)
			cancel()
			if err != nil {
				if !failing { // once per outage, not once per tick
					log.Warn("cannot reload credit totals; credits granted by other processes wait", zap.Error(err))
				}
				failing = true
				continue
			}
			failing = false
			ledger.RaiseCredits(totals)
		}
	}()
	return r
}

// Stop ends the reloads and waits for the last one.
func (r *creditReloader) Stop() {
	close(r.stop)
	<-r.done
}
