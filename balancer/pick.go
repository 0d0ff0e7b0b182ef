package balancer

import (
	"math"
	"math/bits"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/health"
)

// Choose returns the deployment of m that should serve the next attempt of a request, to be run
// with Attempt. r is the request's provider preferences (nil for none); att holds the request's
// earlier attempts and refusals, which are not repeated (nil for none); now is the time
// cooldowns and breakers are judged at.
//
// Candidates are ranked by r's Order, then by r's Sort or else m's policy, then by position.
// Deployments that are excluded by r, cooling down, or behind an open breaker are skipped.
// Unhealthy deployments are only demoted: they are chosen when no healthy one is left, since
// health can be wrong and trying is better than failing. A breaker that is half-open, or ready
// to be, ignores health, so that its probe can prove recovery.
//
// Choose reads the breakers' state without taking a slot: Attempt may still refuse the
// deployment (a half-open breaker's probes are all out, or it opened meanwhile), and the caller
// then records that with att.Refuse and chooses again.
//
// When nothing is left it returns a *NoDeploymentError saying why for each deployment. The
// success path allocates nothing.
func (b *Balancer) Choose(m *catalog.Model, r *Route, att *Attempts, now time.Time) (*catalog.Deployment, error) {
	tried := att.Tried(m)
	if (r.singleShot() && tried != 0) || att.Full() {
		return nil, b.noDeployment(m, r, tried, 0, att, now)
	}
	refused := att.Refused(m)
	pos := b.pick(m, r, tried|refused, now)
	if pos < 0 {
		return nil, b.noDeployment(m, r, tried, refused, att, now)
	}
	return m.Deployments[pos], nil
}

// candidate is the best deployment found so far in one health class.
type candidate struct {
	pos  int
	rank int   // Route group: index in Order, or len(Order)
	key  int64 // the ranking's figure, lower first
}

func (c *candidate) beats(o *candidate) bool {
	if o.pos < 0 || c.rank != o.rank {
		return o.pos < 0 || c.rank < o.rank
	}
	if c.key != o.key {
		return c.key < o.key
	}
	return c.pos < o.pos
}

// pick returns the position of the best eligible deployment of m not in skip, or -1. It is
// one pass over the deployments that keeps the best candidate of each health class (0 healthy
// or probing, 1 unhealthy), and for the weighted policy the set and total weight of each class's
// unordered group, from which a second, cheap pass draws.
func (b *Balancer) pick(m *catalog.Model, r *Route, skip Tried, now time.Time) int {
	by := rankingFor(m, r)
	rest := r.rest()
	n := now.UnixNano()
	best := [2]candidate{{pos: -1}, {pos: -1}}
	var group [2]Tried
	var weight [2]int
	for pos, d := range m.Deployments {
		if skip.has(pos) {
			continue
		}
		rank, ok := r.rank(d.Provider)
		if !ok {
			continue
		}
		st := &b.deps[d.Index]
		if st.coolUntil.Load() > n {
			continue
		}
		probing := false
		switch gobreaker.State(st.state.Load()) {
		case gobreaker.StateOpen:
			if st.openUntil.Load() > n {
				continue
			}
			probing = true
		case gobreaker.StateHalfOpen:
			probing = true
		}
		var sc health.Score
		class := 0
		if b.health != nil {
			sc = b.health.Score(d.Index, now)
			if !probing && !sc.Healthy {
				class = 1
			}
		}
		if class == 0 && rank == 0 && by == byPosition {
			return pos // nothing later in configuration order can beat it
		}
		c := candidate{pos: pos, rank: rank, key: rankKey(by, d, &sc)}
		if c.beats(&best[class]) {
			best[class] = c
		}
		if by == byWeight && rank == rest {
			group[class] = group[class].With(pos)
			weight[class] += d.Weight
		}
	}
	class := 0
	if best[0].pos < 0 {
		class = 1
	}
	c := best[class]
	if c.pos >= 0 && by == byWeight && c.rank == rest {
		return b.draw(m, group[class], weight[class])
	}
	return c.pos
}

// rankKey is d's figure under ranking by, lower first.
//
// An unmeasured deployment ranks first under latency and throughput: the router has to send it
// requests to learn its speed, and it keeps learning this way as a slower deployment's figures
// age out of the 5-minute window (at the cost of about a second of its traffic, until the next
// score update, every five minutes). Breakers and health keep a failing deployment, which never
// gets measured, from benefiting.
func rankKey(by ranking, d *catalog.Deployment, sc *health.Score) int64 {
	switch by {
	case byLatency:
		return int64(sc.TTFBp50)
	case byThroughput:
		if sc.TokensPerSecondP50 <= 0 {
			return math.MinInt64
		}
		return -int64(sc.TokensPerSecondP50 * 1000)
	case byPrice:
		return pricePerMillion(&d.Model.Prices)
	}
	return 0
}

// pricePerMillion is the figure the price ranking compares: a million prompt tokens plus a
// million completion tokens. Prices are the model's, so deployments of one model tie and keep
// configuration order; the ranking becomes meaningful once deployments carry their own prices.
func pricePerMillion(p *catalog.Prices) int64 { return int64(p.Prompt) + int64(p.Completion) }

// draw picks a position from set with probability proportional to its deployment's weight.
func (b *Balancer) draw(m *catalog.Model, set Tried, total int) int {
	x := b.randN(total)
	for s := uint64(set); s != 0; s &= s - 1 {
		pos := bits.TrailingZeros64(s)
		if x -= m.Deployments[pos].Weight; x < 0 {
			return pos
		}
	}
	return -1 // unreachable while total is the sum of set's weights
}
