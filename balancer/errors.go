package balancer

import (
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/arouter/arouter/catalog"
)

// Reason says why a deployment is not serving a request.
type Reason uint8

const (
	ReasonAvailable    Reason = iota // nothing stops it (it may still be unhealthy)
	ReasonTried                      // this request tried it; DeploymentStatus.Err says how it failed
	ReasonCircuitOpen                // its breaker is open; Until is when it lets probes through
	ReasonHalfOpen                   // its breaker is half-open and every probe slot is taken
	ReasonCoolingDown                // the provider asked for a pause (Retry-After) until Until
	ReasonExcluded                   // the request's provider preferences exclude it
	ReasonNoFallbacks                // the request disallows fallbacks and its one choice was tried
	ReasonAttemptLimit               // the request reached MaxAttempts
)

var reasonText = [...]string{
	ReasonAvailable:    "available",
	ReasonTried:        "failed",
	ReasonCircuitOpen:  "circuit open",
	ReasonHalfOpen:     "circuit half-open, recovery probe in flight",
	ReasonCoolingDown:  "rate-limited by the provider",
	ReasonExcluded:     "excluded by the request's provider preferences",
	ReasonNoFallbacks:  "not tried: the request disallows fallbacks",
	ReasonAttemptLimit: "not tried: the request reached its attempt limit",
}

// String describes the reason in a few words.
func (r Reason) String() string {
	if int(r) < len(reasonText) {
		return reasonText[r]
	}
	return "unknown"
}

// DeploymentStatus is why one deployment is or is not serving.
type DeploymentStatus struct {
	Deployment *catalog.Deployment
	Reason     Reason
	Err        error     // ReasonTried: the attempt's failure, if the caller recorded one
	Until      time.Time // ReasonCircuitOpen, ReasonCoolingDown: when that ends
}

// Status returns what stops d from serving at now, from its breaker and cooldown alone. The
// endpoints listing shows it; a breaker that is half-open with a free probe slot is available.
func (b *Balancer) Status(d *catalog.Deployment, now time.Time) DeploymentStatus {
	st := &b.deps[d.Index]
	s := DeploymentStatus{Deployment: d}
	n := now.UnixNano()
	if u := st.coolUntil.Load(); u > n {
		s.Reason, s.Until = ReasonCoolingDown, time.Unix(0, u)
	}
	if gobreaker.State(st.state.Load()) == gobreaker.StateOpen {
		// A breaker open until later than the cooldown is what the deployment waits for.
		if u := st.openUntil.Load(); u > n && (s.Reason == ReasonAvailable || u > s.Until.UnixNano()) {
			s.Reason, s.Until = ReasonCircuitOpen, time.Unix(0, u)
		}
	}
	return s
}

// NoDeploymentError says that no deployment of a model can serve a request, and why for each.
type NoDeploymentError struct {
	Model       string
	Deployments []DeploymentStatus // in the model's configuration order
	// At is when selection gave up. RetryAt is the earliest time a deployment that is open or
	// cooling down becomes eligible again, zero if none will (everything was tried or
	// excluded); a 503 can carry it as Retry-After.
	At, RetryAt time.Time
}

// RetryAfter returns RetryAt - At rounded up to whole seconds, as a Retry-After header wants
// it, or 0 when there is no RetryAt.
func (e *NoDeploymentError) RetryAfter() time.Duration {
	if e.RetryAt.IsZero() {
		return 0
	}
	return max(ceilSeconds(e.RetryAt.Sub(e.At)), time.Second)
}

func ceilSeconds(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}

// Error names each deployment and why it was not used, e.g. "no provider available for a/m:
// a/m@primary failed (provider primary failed: overloaded); a/m@backup circuit open, retry in
// 25s".
func (e *NoDeploymentError) Error() string {
	var sb strings.Builder
	sb.WriteString("no provider available for ")
	sb.WriteString(e.Model)
	for i, s := range e.Deployments {
		if i == 0 {
			sb.WriteString(": ")
		} else {
			sb.WriteString("; ")
		}
		sb.WriteString(s.Deployment.Name())
		sb.WriteByte(' ')
		sb.WriteString(s.Reason.String())
		switch {
		case s.Reason == ReasonTried && s.Err != nil:
			sb.WriteString(" (")
			sb.WriteString(s.Err.Error())
			sb.WriteByte(')')
		case !s.Until.IsZero():
			sb.WriteString(", retry in ")
			sb.WriteString(max(ceilSeconds(s.Until.Sub(e.At)), time.Second).String())
		}
	}
	return sb.String()
}

// noDeployment explains why nothing of m is eligible: tried holds the request's attempts on m,
// refused the deployments whose breaker turned the request away (Attempts.Refuse).
func (b *Balancer) noDeployment(m *catalog.Model, r *Route, tried, refused Tried, att *Attempts, now time.Time) *NoDeploymentError {
	e := &NoDeploymentError{Model: m.ID, At: now, Deployments: make([]DeploymentStatus, 0, len(m.Deployments))}
	for _, d := range m.Deployments {
		var s DeploymentStatus
		_, admitted := r.rank(d.Provider)
		switch {
		case tried.has(d.Pos):
			s = DeploymentStatus{Deployment: d, Reason: ReasonTried, Err: att.errFor(d)}
		case !admitted:
			s = DeploymentStatus{Deployment: d, Reason: ReasonExcluded}
		default:
			s = b.Status(d, now)
			if s.Reason != ReasonAvailable {
				break
			}
			switch {
			case r.singleShot() && tried != 0:
				s.Reason = ReasonNoFallbacks
			case att.Full():
				s.Reason = ReasonAttemptLimit
			case refused.has(d.Pos):
				s.Reason = ReasonHalfOpen
			}
		}
		if !s.Until.IsZero() && (e.RetryAt.IsZero() || s.Until.Before(e.RetryAt)) {
			e.RetryAt = s.Until
		}
		e.Deployments = append(e.Deployments, s)
	}
	return e
}
