package balancer

import "github.com/arouter/arouter/catalog"

// Tried is a set of a model's deployments, by catalog.Deployment.Pos: those one request already
// attempted, so a failover never goes back to one that just failed, or those whose breaker
// refused it (Attempts.Refused).
type Tried uint64

// With returns t plus the deployment at position pos.
func (t Tried) With(pos int) Tried { return t | 1<<uint(pos) }

func (t Tried) has(pos int) bool { return t&(1<<uint(pos)) != 0 }

// MaxDeployments is how many deployments of one model Tried can track.
const MaxDeployments = catalog.MaxDeployments

// MaxAttempts bounds the attempts one request can record, and so the attempts Choose allows.
const MaxAttempts = 16

// Attempt is one failed try of a request on a deployment.
type Attempt struct {
	Deployment *catalog.Deployment
	// Err is what went wrong, as the client would be told; it names the attempt in a
	// NoDeploymentError. nil means no detail.
	Err error
}

// Attempts is one request's record of the deployments it tried, across all the models it falls
// back through, and of those whose breaker refused it. The request owns it (a field of its
// per-request state, or a local) and adds to it after each failed attempt and each refusal;
// Choose reads it to skip what was tried or refused and to say, when nothing is left, how each
// try failed. The zero value is empty and ready; it never allocates.
type Attempts struct {
	n    int
	list [MaxAttempts]Attempt
	// refused is the set of refusedIn's deployments whose breaker turned the request away.
	refusedIn *catalog.Model
	refused   Tried
}

// Add records a failed attempt on d. It reports false, recording nothing, once MaxAttempts are
// recorded.
func (a *Attempts) Add(d *catalog.Deployment, err error) bool {
	if a.n == len(a.list) {
		return false
	}
	a.list[a.n] = Attempt{Deployment: d, Err: err}
	a.n++
	return true
}

// Len returns the number of recorded attempts; a nil *Attempts has none.
func (a *Attempts) Len() int {
	if a == nil {
		return 0
	}
	return a.n
}

// Full reports whether no further attempt can be recorded.
func (a *Attempts) Full() bool { return a != nil && a.n == len(a.list) }

// List returns the recorded attempts, oldest first. The slice aliases a.
func (a *Attempts) List() []Attempt {
	if a == nil {
		return nil
	}
	return a.list[:a.n]
}

// Refuse records that d's breaker refused the request (Attempt returned false), so that Choose
// skips d from now on. A refusal is not an attempt: it does not count toward MaxAttempts and List
// does not show it; a NoDeploymentError reports d as ReasonHalfOpen unless its breaker is open.
// Refusals are kept for one model only, the latest refused on: refusing a deployment of another
// model forgets the earlier ones, which suits a request that moves through its models in turn.
func (a *Attempts) Refuse(d *catalog.Deployment) {
	if a.refusedIn != d.Model {
		a.refusedIn, a.refused = d.Model, 0
	}
	a.refused = a.refused.With(d.Pos)
}

// Refused returns the set of m's deployments a records as refused by their breaker.
func (a *Attempts) Refused(m *catalog.Model) Tried {
	if a == nil || a.refusedIn != m {
		return 0
	}
	return a.refused
}

// Reset empties a for reuse by another request. It drops the recorded errors and refusals, so
// that a pooled Attempts does not keep them alive.
func (a *Attempts) Reset() {
	clear(a.list[:a.n])
	a.n = 0
	a.refusedIn, a.refused = nil, 0
}

// Tried returns the set of m's deployments a records.
func (a *Attempts) Tried(m *catalog.Model) Tried {
	var t Tried
	for _, at := range a.List() {
		if at.Deployment.Model == m {
			t = t.With(at.Deployment.Pos)
		}
	}
	return t
}

// errFor returns the error of the latest attempt on d.
func (a *Attempts) errFor(d *catalog.Deployment) error {
	l := a.List()
	for i := len(l) - 1; i >= 0; i-- {
		if l[i].Deployment == d {
			return l[i].Err
		}
	}
	return nil
}
