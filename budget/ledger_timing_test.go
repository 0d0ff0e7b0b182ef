package budget

import (
	"testing"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
)

func BenchmarkReserveSettle(b *testing.B) {
	l := New(Options{RequireCredits: true})
	l.RaiseCredits(map[int64]money.Nanos{7: 1 << 60})
	k := limited(1<<60, apikey.Monthly)
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, _ := l.Reserve(k, 1000, now)
			l.Settle(r, Charge{Cost: 900}, now)
		}
	})
}
