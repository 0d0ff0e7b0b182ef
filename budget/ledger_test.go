package budget

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
)

const usd = money.PerUSD

func limited(limit money.Nanos, reset apikey.Period) *apikey.Key {
	return &apikey.Key{ID: 1, BudgetID: 1, OrgID: 7, HasLimit: true, Limit: limit, LimitReset: reset}
}

func TestReserveAndSettleChargeKeyAndPool(t *testing.T) {
	t.Parallel()
	l := New(Options{RequireCredits: true})
	l.RaiseCredits(map[int64]money.Nanos{7: 10 * usd})
	k := limited(2*usd, apikey.NoReset)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

	r, refused := l.Reserve(k, usd/2, now)
	if refused.Reason != Admitted {
		t.Fatalf("refused: %+v", refused)
	}
	if got := l.Balance(7); got.Used != usd/2 {
		t.Fatalf("pool used with reservation = %v, want 0.5", got.Used)
	}
	if rem, ok := l.Remaining(k, now); !ok || rem != 2*usd-usd/2 {
		t.Fatalf("remaining during flight = %v %v", rem, ok)
	}
	l.Settle(r, Charge{Cost: usd / 4}, now)
	if got := l.Balance(7); got != (OrgBalance{Credits: 10 * usd, Used: usd / 4}) {
		t.Fatalf("balance after settle = %+v", got)
	}
	if got := l.KeyUsage(1, now); got != (KeySpend{Total: usd / 4, Day: usd / 4, Week: usd / 4, Month: usd / 4}) {
		t.Fatalf("key usage = %+v", got)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) // a Saturday
	t.Run("key limit names period and reset time", func(t *testing.T) {
		t.Parallel()
		l := New(Options{})
		k := limited(usd, apikey.Weekly)
		r, _ := l.Reserve(k, usd/10, now)
		l.Settle(r, Charge{Cost: usd}, now)
		_, refused := l.Reserve(k, usd/10, now)
		want := Refusal{Reason: KeyLimit, Limit: usd, Used: usd, Reset: apikey.Weekly,
			ResetsAt: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)}
		if refused != want {
			t.Fatalf("refusal = %+v, want %+v", refused, want)
		}
	})
	t.Run("no credits", func(t *testing.T) {
		t.Parallel()
		l := New(Options{RequireCredits: true})
		_, refused := l.Reserve(&apikey.Key{BudgetID: 2, OrgID: 3}, 1, now)
		if refused.Reason != NoCredits || refused.Limit != 0 {
			t.Fatalf("refusal = %+v", refused)
		}
	})
	t.Run("credits not required", func(t *testing.T) {
		t.Parallel()
		l := New(Options{})
		if _, refused := l.Reserve(&apikey.Key{BudgetID: 2, OrgID: 3}, 1, now); refused.Reason != Admitted {
			t.Fatalf("refusal = %+v", refused)
		}
	})
	t.Run("reservations of requests in flight count", func(t *testing.T) {
		t.Parallel()
		l := New(Options{})
		k := limited(usd, apikey.NoReset)
		if _, refused := l.Reserve(k, usd, now); refused.Reason != Admitted {
			t.Fatal("first request refused")
		}
		if _, refused := l.Reserve(k, 1, now); refused.Reason != KeyLimit {
			t.Fatalf("second request while the first holds the whole budget: %+v", refused)
		}
	})
}

func TestPeriodsResetAtUTCBoundaries(t *testing.T) {
	t.Parallel()
	l := New(Options{})
	sunday := time.Date(2026, 11, 29, 23, 59, 0, 0, time.UTC)
	monday := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	december := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	k := limited(usd, apikey.Daily)
	r, _ := l.Reserve(k, 0, sunday)
	l.Settle(r, Charge{Cost: usd}, sunday)
	if _, refused := l.Reserve(k, 0, sunday); refused.Reason != KeyLimit {
		t.Fatal("daily limit not enforced within the day")
	}
	if got := l.KeyUsage(1, monday); got != (KeySpend{Total: usd, Day: 0, Week: 0, Month: usd}) {
		t.Fatalf("Monday: %+v, want day and week reset, month kept", got)
	}
	if got := l.KeyUsage(1, december); got != (KeySpend{Total: usd}) {
		t.Fatalf("December: %+v, want only the total", got)
	}
	if _, refused := l.Reserve(k, 0, monday); refused.Reason != Admitted {
		t.Fatal("daily limit did not reset at midnight UTC")
	}
}

func TestRestore(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	l := New(Options{RequireCredits: true})
	l.Restore(Snapshot{At: at,
		Keys: map[int64]KeySpend{1: {Total: 5 * usd, Day: usd, Week: 2 * usd, Month: 3 * usd}},
		Orgs: map[int64]OrgBalance{7: {Credits: 10 * usd, Used: 5 * usd}},
	})
	if got := l.KeyUsage(1, at); got != (KeySpend{Total: 5 * usd, Day: usd, Week: 2 * usd, Month: 3 * usd}) {
		t.Fatalf("restored key = %+v", got)
	}
	if _, refused := l.Reserve(limited(2*usd, apikey.Weekly), 0, at); refused.Reason != KeyLimit {
		t.Fatalf("restored weekly spend not enforced: %+v", refused)
	}
	if got := l.KeyUsage(1, at.AddDate(0, 0, 1)); got.Day != 0 || got.Week != 2*usd {
		t.Fatalf("next day: %+v", got)
	}
	if got := l.Balance(7); got != (OrgBalance{Credits: 10 * usd, Used: 5 * usd}) {
		t.Fatalf("restored pool = %+v", got)
	}
}

// TestConcurrentRequestsCannotOverspend is the scenario: many parallel requests
// against a nearly exhausted limit overspend it by at most what one request cost beyond
// what was left.
func TestConcurrentRequestsCannotOverspend(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	l := New(Options{RequireCredits: true})
	l.RaiseCredits(map[int64]money.Nanos{7: 100 * usd})
	k := limited(usd, apikey.NoReset)
	r, _ := l.Reserve(k, 0, now)
	l.Settle(r, Charge{Cost: usd - usd/100}, now) // 1 cent left

	const requests = 100
	const estimate, cost = usd / 20, usd / 25 // each request costs at most its estimate
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	start := make(chan struct{})
	for range requests {
		wg.Go(func() {
			<-start
			res, refused := l.Reserve(k, estimate, now)
			if refused.Reason != Admitted {
				return
			}
			mu.Lock()
			admitted++
			mu.Unlock()
			l.Settle(res, Charge{Cost: cost}, now)
		})
	}
	close(start)
	wg.Wait()
	spent := l.KeyUsage(1, now).Total
	if admitted == 0 {
		t.Fatal("no request admitted although budget was left")
	}
	if over := spent - usd; over > cost-usd/100 {
		t.Fatalf("%d requests admitted, spent %v of a $1 limit: overspent by %v, more than one request's difference %v",
			admitted, spent, over, cost-usd/100)
	}
}

// TestBYOKIsTrackedApartAndCountsOnlyWhenAsked: requests on the organization's own provider
// key charge the gateway's fee to credits and the key, track the list price apart, and count
// the list price toward the key's limit only with include_byok_in_limit.
func TestBYOKIsTrackedApartAndCountsOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	l := New(Options{RequireCredits: true})
	l.RaiseCredits(map[int64]money.Nanos{7: 10 * usd})
	k := limited(usd, apikey.Monthly)
	r, _ := l.Reserve(k, 0, now)
	l.Settle(r, Charge{Cost: usd / 20, BYOK: usd}, now) // a $1 request on BYOK, 5% fee
	if got := l.KeyUsage(1, now); got.Total != usd/20 || got.BYOKTotal != usd || got.BYOKMonth != usd {
		t.Fatalf("usage %+v", got)
	}
	if got := l.Balance(7); got.Used != usd/20 {
		t.Fatalf("pool charged %v, want only the fee", got.Used)
	}
	if rem, _ := l.Remaining(k, now); rem != usd-usd/20 {
		t.Fatalf("without include_byok_in_limit remaining %v", rem)
	}
	k.IncludeBYOKInLimit = true
	if rem, _ := l.Remaining(k, now); rem != 0 {
		t.Fatalf("with include_byok_in_limit remaining %v, want 0", rem)
	}
	if _, refused := l.Reserve(k, 1, now); refused.Reason != KeyLimit {
		t.Fatalf("BYOK spend in the limit not enforced: %+v", refused)
	}
}

// TestNegativeAmountsNeverAddCredit: a negative estimate reserves nothing (it cannot make room
// for other requests) and a negative charge costs nothing (it cannot refund the pool).
func TestNegativeAmountsNeverAddCredit(t *testing.T) {
	t.Parallel()
	l := New(Options{RequireCredits: true})
	l.RaiseCredits(map[int64]money.Nanos{7: usd})
	k := limited(usd, apikey.NoReset)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

	r, refused := l.Reserve(k, -100*usd, now)
	if refused.Reason != Admitted {
		t.Fatalf("refused: %+v", refused)
	}
	if got := l.Balance(7); got.Used != 0 {
		t.Fatalf("a negative estimate left used at %v", got.Used)
	}
	l.Settle(r, Charge{Cost: -100 * usd, BYOK: -usd}, now)
	if got := l.Balance(7); got != (OrgBalance{Credits: usd}) {
		t.Fatalf("balance after a negative charge = %+v", got)
	}
	if got := l.KeyUsage(1, now); got != (KeySpend{}) {
		t.Fatalf("key usage after a negative charge = %+v", got)
	}
	// A saturated estimate is refused by neither check alone, but the next request is.
	r, refused = l.Reserve(k, money.MaxCharge, now)
	if refused.Reason != Admitted {
		t.Fatalf("refused: %+v", refused)
	}
	if _, refused := l.Reserve(k, usd/100, now); refused.Reason == Admitted {
		t.Fatal("a second request was admitted while a max-cost one holds the whole budget")
	}
	l.Settle(r, Charge{Cost: usd / 10}, now)
}

// TestCreditsTakeTheLargestTotalSeen: the API and the periodic reload both report the store's
// total; whichever order they come in, a grant counts once and a stale total (read before the
// grant) takes nothing away.
func TestCreditsTakeTheLargestTotalSeen(t *testing.T) {
	t.Parallel()
	for _, order := range [][]money.Nanos{
		{usd, 3 * usd, 3 * usd}, // reload, the API's total after its grant, the next reload
		{usd, 3 * usd, usd},     // the reload that read the store just before the grant lands last
		{3 * usd, 3 * usd, usd}, // the reload already counted the grant; the API reports it again
	} {
		l := New(Options{RequireCredits: true})
		for _, total := range order {
			l.RaiseCredits(map[int64]money.Nanos{7: total, 8: usd})
		}
		if got := l.Balance(7).Credits; got != 3*usd {
			t.Errorf("totals %v: credits = %v, want 3", order, got)
		}
		if got := l.Balance(8).Credits; got != usd {
			t.Errorf("a context granted by another process: credits = %v, want 1", got)
		}
	}
}

// staleRemote is a Remote whose shared counters lag behind this replica: it admits every
// request and reports the credits it was built with.
type staleRemote struct{ credits money.Nanos }

func (r staleRemote) Reserve(*apikey.Key, uint64, money.Nanos, time.Time) (KeySpend, OrgBalance, Refusal, error) {
	return KeySpend{}, OrgBalance{Credits: r.credits}, Refusal{}, nil
}
func (staleRemote) Settle(Settlement)                  {}
func (staleRemote) RaiseCredits(map[int64]money.Nanos) {}
func (r staleRemote) Fetch(context.Context, []int64, []int64, time.Time) (Snapshot, error) {
	return Snapshot{Orgs: map[int64]OrgBalance{7: {Credits: r.credits}}}, nil
}

// TestSharedCountersNeverLowerCredits: a replica that has raised a context's credits to a new
// grant's total keeps them when the shared counters, which have not taken the grant yet, come
// back with the old total, through admission or a sync.
func TestSharedCountersNeverLowerCredits(t *testing.T) {
	t.Parallel()
	l := New(Options{RequireCredits: true, Remote: staleRemote{credits: usd}})
	l.RaiseCredits(map[int64]money.Nanos{7: 3 * usd})
	k := &apikey.Key{BudgetID: 1, OrgID: 7}
	if _, refusal := l.Reserve(k, usd/10, time.Now()); refusal.Reason != Admitted {
		t.Fatalf("refused: %+v", refusal)
	}
	if got := l.Balance(7).Credits; got != 3*usd {
		t.Fatalf("after admission through the Remote: credits = %v, want 3", got)
	}
	if err := l.Sync(context.Background(), nil, []int64{7}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := l.Balance(7).Credits; got != 3*usd {
		t.Fatalf("after a sync: credits = %v, want 3", got)
	}
}

// TestARequestSpanningAResetIsChargedToTheDayItStarted: admitted on Sunday 23:59:59 and
// settled on Monday, its cost is Sunday's, as the store's roll-ups (keyed by the record's start)
// count it after a restart; Monday's daily limit starts empty.
func TestARequestSpanningAResetIsChargedToTheDayItStarted(t *testing.T) {
	t.Parallel()
	l := New(Options{})
	sunday := time.Date(2026, 11, 29, 23, 59, 59, 0, time.UTC)
	monday := time.Date(2026, 11, 30, 0, 0, 1, 0, time.UTC)
	k := limited(usd, apikey.Daily)
	r, _ := l.Reserve(k, usd/10, sunday)
	l.Settle(r, Charge{Cost: usd / 2}, monday)
	if got := l.KeyUsage(1, monday); got != (KeySpend{Total: usd / 2, Month: usd / 2}) {
		t.Fatalf("Monday: %+v, want only the total and November's month", got)
	}
	if rem, _ := l.Remaining(k, monday); rem != usd {
		t.Fatalf("Monday's remaining = %v, want the whole daily limit", rem)
	}
}
