package activity

import (
	"fmt"
	"time"
)

// Limits of a report's range.
const (
	DefaultDays = 30
	MaxDays     = 366
)

const day = 24 * time.Hour

// RangeError is a malformed or unacceptable from or to; Field names which.
type RangeError struct {
	Field string
	Msg   string
}

func (e *RangeError) Error() string { return e.Field + ": " + e.Msg }

// ParseRange reads a report's range from from and to, each a date (2026-01-05) or an RFC 3339
// time, or "" for the default: to defaults to the end of today (UTC), from to DefaultDays
// before to. The range is widened to whole UTC days, because that is what the daily roll-up
// holds: from moves back to its day's midnight, to forward to the next midnight unless it is
// one. to is exclusive; the widened range must hold 1 to MaxDays days.
func ParseRange(from, to string, now time.Time) (start, end time.Time, err error) {
	if to == "" {
		end = floorDay(now).Add(day)
	} else if end, err = parseBound("to", to); err != nil {
		return start, end, err
	} else if t := floorDay(end); !t.Equal(end) {
		end = t.Add(day)
	}
	if from == "" {
		start = end.Add(-DefaultDays * day)
	} else if start, err = parseBound("from", from); err != nil {
		return start, end, err
	} else {
		start = floorDay(start)
	}
	switch {
	case start.Year() < 1970 && from == "":
		// The default from is what fell before 1970: the caller sent only to.
		return start, end, &RangeError{"to", fmt.Sprintf("must be at least %d days after 1970-01-01, or send from too", DefaultDays)}
	case start.Year() < 1970:
		return start, end, &RangeError{"from", "must not be before 1970-01-01"}
	case !start.Before(end):
		return start, end, &RangeError{"to", fmt.Sprintf("must be after from (the range is %s to %s, to exclusive)", start.Format(time.DateOnly), end.Format(time.DateOnly))}
	case end.Sub(start) > MaxDays*day:
		return start, end, &RangeError{"to", fmt.Sprintf("the range spans %d days; a report covers at most %d", int(end.Sub(start)/day), MaxDays)}
	}
	return start, end, nil
}

// parseBound reads a date or an RFC 3339 time, in UTC.
func parseBound(field, s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() > 9999 {
		return t, &RangeError{field, fmt.Sprintf("%q is not a date such as 2026-01-05 or an RFC 3339 time such as 2026-01-05T00:00:00Z", s)}
	}
	return t.UTC(), nil
}

// floorDay returns the UTC midnight starting t's UTC day.
func floorDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
