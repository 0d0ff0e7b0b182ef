package balancer

import (
	"errors"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"
)

// newBreaker builds deployment st's breaker from the failure pattern in opts.
func newBreaker(name string, st *deployment, opts *Options) *gobreaker.TwoStepCircuitBreaker[struct{}] {
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
	return gobreaker.NewTwoStepCircuitBreaker[struct{}](s)
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
