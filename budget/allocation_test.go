//go:build !race

package budget

import (
	"testing"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
)

func TestAllocationsReserveSettle(t *testing.T) {
	l := New(Options{RequireCredits: true})
	l.RaiseCredits(map[int64]money.Nanos{7: 1000 * usd})
	k := limited(1000*usd, apikey.Monthly)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	r, _ := l.Reserve(k, 1, now) // first sight of the key creates its account
	l.Settle(r, Charge{Cost: 1}, now)
	if n := testing.AllocsPerRun(1000, func() {
		r, _ := l.Reserve(k, 1000, now)
		l.Settle(r, Charge{Cost: 900}, now)
	}); n != 0 {
		t.Fatalf("Reserve+Settle allocate %v times per request", n)
	}
}
