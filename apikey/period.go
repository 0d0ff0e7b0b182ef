package apikey

import (
	"fmt"
	"time"
)

// Period is how often a key's spend limit starts again. Periods are UTC calendar periods:
// a day starts at 00:00 UTC, a week on Monday 00:00 UTC, a month on its first day.
type Period uint8

const (
	NoReset Period = iota // the limit covers all spend, ever
	Daily
	Weekly
	Monthly
)

// ParsePeriod reads the wire form: "daily", "weekly", "monthly", or "" for NoReset.
func ParsePeriod(s string) (Period, error) {
	switch s {
	case "":
		return NoReset, nil
	case "daily":
		return Daily, nil
	case "weekly":
		return Weekly, nil
	case "monthly":
		return Monthly, nil
	}
	return NoReset, fmt.Errorf("%q is not a limit reset period; use daily, weekly, monthly or null", s)
}

// String returns the wire form; NoReset is "".
func (p Period) String() string {
	switch p {
	case Daily:
		return "daily"
	case Weekly:
		return "weekly"
	case Monthly:
		return "monthly"
	}
	return ""
}

// Start returns the beginning of the period that contains t, in UTC. NoReset has a single
// period that started at the zero time.
func (p Period) Start(t time.Time) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	switch p {
	case Daily:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case Weekly:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, m, d-back, 0, 0, 0, 0, time.UTC)
	case Monthly:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}
