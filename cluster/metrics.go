package cluster

import (
	"github.com/VictoriaMetrics/metrics"
	"go.uber.org/zap"
)

// Metric handles, built once.
var (
	reserveErrors = metrics.NewCounter(`arouter_redis_errors_total{op="reserve"}`)
	settleErrors  = metrics.NewCounter(`arouter_redis_errors_total{op="settle"}`)
	creditErrors  = metrics.NewCounter(`arouter_redis_errors_total{op="credits"}`)
	fetchErrors   = metrics.NewCounter(`arouter_redis_errors_total{op="fetch"}`)
	publishErrors = metrics.NewCounter(`arouter_redis_errors_total{op="publish"}`)
	// settledGroups counts settlement groups (one key budget and period, merged) Redis took.
	settledGroups = metrics.NewCounter(`arouter_redis_settlements_total`)
	// releasesDropped counts reservations not released explicitly because Redis was away too
	// long; they expire after redis.reservation_ttl instead.
	releasesDropped = metrics.NewCounter(`arouter_redis_reservations_left_to_expire_total`)
	invalidations   = metrics.NewCounter(`arouter_redis_invalidations_received_total`)
	// reserveSkipped counts admissions that did not try Redis because it had just failed one.
	reserveSkipped = metrics.NewCounter(`arouter_redis_admissions_skipped_total`)
)

var errorCounters = map[string]*metrics.Counter{
	"reserve": reserveErrors, "settle": settleErrors, "credits": creditErrors, "fetch": fetchErrors, "publish": publishErrors,
}

// RegisterGauges exposes b's state in set: arouter_redis_up (1 while the last call reached
// Redis) and arouter_redis_settlements_pending (groups of charges waiting for Redis).
func RegisterGauges(set *metrics.Set, b *Budgets) {
	set.NewGauge(`arouter_redis_up`, func() float64 {
		if b.up.Load() {
			return 1
		}
		return 0
	})
	set.NewGauge(`arouter_redis_settlements_pending`, func() float64 { return float64(b.Pending()) })
}

// failed counts an error and logs when Redis goes from reachable to not, with what admission
// does meanwhile; reached logs the way back. Logging transitions only keeps an outage from
// writing a line per request.
func (b *Budgets) failed(op string, err error) {
	errorCounters[op].Inc()
	if b.up.CompareAndSwap(true, false) {
		policy := "requests are refused with 503 until it is back (redis.on_failure: fail_closed)"
		if b.o.FailOpen {
			policy = "requests are admitted on this replica's own copy of the counters until it is back (redis.on_failure: fail_open)"
		}
		b.o.Logger.Error("redis unreachable: "+policy, zap.String("op", op), zap.Error(err))
	}
}

func (b *Budgets) reached() {
	if b.up.CompareAndSwap(false, true) {
		b.o.Logger.Info("redis reachable again; budgets are shared across replicas")
	}
}
