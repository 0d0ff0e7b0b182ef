package balancer

import (
	"errors"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/arouter/arouter/catalog"
)

// Attempt runs try, one attempt of a request on d (a deployment Choose returned), under d's
// circuit breaker, and reports whether it ran. try must return once the attempt's outcome is
// known, and that outcome is what it returns: nil for success or for a request the provider
// rightly refused, ErrClientGone (or an error wrapping it) for an attempt the client abandoned,
// which the breaker ignores, and any other error for a provider failure. A stream's outcome is
// known at its first event; try may return then and leave the relaying to others.
//
// When the breaker refuses the attempt (it is open, or half-open with every probe slot taken;
// it may have changed state since Choose looked), Attempt returns false without calling try.
// The caller then records the refusal with Attempts.Refuse and chooses again.
//
// Attempt runs try synchronously on the calling goroutine and keeps no reference to it, so a
// closure passed as try stays on the caller's stack: the call allocates nothing. While try
// runs, the attempt holds its breaker slot (a half-open breaker's probe slot, say). A panic in
// try counts as a provider failure and then propagates from Attempt with the same value:
// gobreaker's Execute recovers it, reports the failure and panics again.
func (b *Balancer) Attempt(d *catalog.Deployment, try func() error) (ran bool) {
	// Whether try ran is told by ran, not by Execute's error, which may be try's own.
	_, _ = b.deps[d.Index].cb.Execute(func() (struct{}, error) {
		ran = true
		return struct{}{}, try()
	})
	return ran
}

// newBreaker builds deployment st's breaker from the failure pattern in opts.
func newBreaker(name string, st *deployment, opts *Options) *gobreaker.CircuitBreaker[struct{}] {
	s := gobreaker.Settings{
		Name:        name,
		MaxRequests: opts.HalfOpenRequests,
		Timeout:     opts.OpenFor,
		ReadyToTrip: tripRule(opts.ConsecutiveFailures, opts.FailureRatio, opts.MinRequests),
		IsExcluded:  func(err error) bool { return errors.Is(err, ErrClientGone) },
		// OnStateChange runs under the breaker's lock: only publish the state and log.
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				// gobreaker measures OpenFor from its own clock read an instant earlier, so
				// this is at most that instant late: selection may skip a breaker that has just
				// become ready to half-open, never the other way round.
				st.openUntil.Store(time.Now().Add(opts.OpenFor).UnixNano())
			}
			st.state.Store(int32(to))
			opts.Logger.Warn("circuit breaker changed state", zap.String("deployment", name),
				zap.String("from", from.String()), zap.String("to", to.String()))
		},
	}
	if opts.Interval > 0 {
		// A rolling window forgets old requests gradually; a fixed one would forget all of them
		// at once, and with them a ratio that was about to trip.
		s.Interval = opts.Interval
		s.BucketPeriod = max(opts.Interval/10, time.Millisecond)
	}
	return gobreaker.NewCircuitBreaker[struct{}](s)
}

// tripRule returns gobreaker's ReadyToTrip for the failure pattern: consecutive failures, or a
// failure ratio over at least minRequests finished requests when ratio > 0. Requests still in
// flight do not count toward the ratio: they have neither failed nor succeeded yet.
func tripRule(consecutive uint32, ratio float64, minRequests uint32) func(gobreaker.Counts) bool {
	return func(c gobreaker.Counts) bool {
		if c.ConsecutiveFailures >= consecutive {
			return true
		}
		if ratio <= 0 {
			return false
		}
		n := c.TotalSuccesses + c.TotalFailures
		return n >= minRequests && float64(c.TotalFailures) >= ratio*float64(n)
	}
}
