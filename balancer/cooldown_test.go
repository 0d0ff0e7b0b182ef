package balancer

import (
	"testing"
	"time"

	"github.com/arouter/arouter/catalog"
)

func TestCoolDownExpires(t *testing.T) {
	t.Parallel()
	cat, m := model(t, catalog.PolicyPriority, []string{"a", "b"}, nil)
	b := New(cat, Options{})
	now := time.Now()
	b.now = func() time.Time { return now }
	a := m.Deployments[0]
	b.CoolDown(a, now.Add(10*time.Second))
	if got := b.CoolingUntil(a); !got.Equal(now.Add(10 * time.Second)) {
		t.Fatalf("CoolingUntil = %v", got)
	}
	for _, c := range []struct {
		at   time.Duration
		want string
	}{{0, "b"}, {10*time.Second - 1, "b"}, {10 * time.Second, "a"}, {time.Minute, "a"}} {
		d, err := b.Choose(m, nil, nil, now.Add(c.at))
		if err != nil || d.Provider != c.want {
			t.Fatalf("at +%v: chose %v (%v), want %s", c.at, d, err, c.want)
		}
		attempt(t, b, d, nil)
	}
	// A shorter cooldown does not cut a longer one short; a longer one extends it.
	b.CoolDown(a, now.Add(5*time.Second))
	if got := b.CoolingUntil(a); !got.Equal(now.Add(10 * time.Second)) {
		t.Fatalf("shorter cooldown moved the end to %v", got)
	}
	b.CoolDown(a, now.Add(20*time.Second))
	if got := b.CoolingUntil(a); !got.Equal(now.Add(20 * time.Second)) {
		t.Fatalf("longer cooldown ends %v", got)
	}
	// An absurd Retry-After is capped.
	b.CoolDown(a, now.Add(24*time.Hour))
	if got := b.CoolingUntil(a); !got.Equal(now.Add(5 * time.Minute)) {
		t.Fatalf("day-long cooldown ends %v, want capped at 5m", got)
	}
	if s := b.Status(a, now); s.Reason != ReasonCoolingDown || !s.Until.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("status %+v", s)
	}
	if s := b.Status(a, now.Add(5*time.Minute)); s.Reason != ReasonAvailable {
		t.Fatalf("status after the cooldown %+v", s)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"30": 30 * time.Second, " 2 ": 2 * time.Second, "1.5": 1500 * time.Millisecond,
		"Fri, 14 Mar 2025 12:00:20 GMT": 20 * time.Second,
	} {
		got, ok := ParseRetryAfter([]byte(in), now)
		if !ok || got.Sub(now) != want {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want now+%v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "0", "-5", "soon", "1e400", "NaN", "Fri, 14 Mar 2025 11:59:00 GMT", "2025-03-14T12:00:20Z"} {
		if got, ok := ParseRetryAfter([]byte(in), now); ok {
			t.Errorf("ParseRetryAfter(%q) = %v, want refused", in, got)
		}
	}
}
