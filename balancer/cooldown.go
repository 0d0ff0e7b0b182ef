package balancer

import (
	"bytes"
	"strconv"
	"time"

	"github.com/arouter/arouter/catalog"
)

// CoolDown takes d out of selection until until, for a provider that answered 429 with
// Retry-After (or 503 with one). An earlier cooldown in force is only ever extended, since
// concurrent rate-limited requests report in any order; until is capped at Options.MaxCoolDown
// from now. The read side is one atomic load in selection.
func (b *Balancer) CoolDown(d *catalog.Deployment, until time.Time) {
	if limit := b.now().Add(b.maxCoolDown); until.After(limit) {
		until = limit
	}
	u := until.UnixNano()
	c := &b.deps[d.Index].coolUntil
	for {
		old := c.Load()
		if old >= u || c.CompareAndSwap(old, u) {
			return
		}
	}
}

// CoolingUntil returns the end of d's latest cooldown, which may be past, or the zero time if d
// never had one.
func (b *Balancer) CoolingUntil(d *catalog.Deployment) time.Time {
	if u := b.deps[d.Index].coolUntil.Load(); u != 0 {
		return time.Unix(0, u)
	}
	return time.Time{}
}

// ParseRetryAfter reads a Retry-After header value into the time it names: delta-seconds ("30",
// or "1.5" as some providers send) from now, or an HTTP date. ok is false for an empty, malformed
// or non-positive value and for a date not after now; the caller then has no cooldown to apply.
// It may allocate: it runs on the rate-limited path only.
func ParseRetryAfter(v []byte, now time.Time) (until time.Time, ok bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return time.Time{}, false
	}
	if c := v[0]; '0' <= c && c <= '9' {
		secs, err := strconv.ParseFloat(string(v), 64)
		if err != nil || !(secs > 0 && secs <= 1e9) {
			return time.Time{}, false
		}
		return now.Add(time.Duration(secs * float64(time.Second))), true
	}
	t, err := time.Parse(time.RFC1123, string(v))
	if err != nil || !t.After(now) {
		return time.Time{}, false
	}
	return t, true
}
