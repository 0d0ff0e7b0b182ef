package activity

import (
	"errors"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 15, 13, 45, 0, 0, time.UTC)
	d := func(s string) time.Time {
		v, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		from, to           string
		wantFrom, wantTo   time.Time
		wantField, comment string
	}{
		{"", "", d("2026-02-14"), d("2026-03-16"), "", "default: the 30 days ending with today"},
		{"2026-03-01", "2026-03-08", d("2026-03-01"), d("2026-03-08"), "", "dates: to is exclusive"},
		{"2026-03-01T10:30:00Z", "2026-03-08T00:00:01Z", d("2026-03-01"), d("2026-03-09"), "", "times widen to whole days"},
		{"2026-03-01T23:30:00-02:00", "", d("2026-03-02"), d("2026-03-16"), "", "offsets are read in UTC"},
		{"", "2026-03-01", d("2026-01-30"), d("2026-03-01"), "", "from defaults to 30 days before to"},
		{"2026-03-01", "2026-03-01T00:00:00.000001Z", d("2026-03-01"), d("2026-03-02"), "", "one microsecond is a day"},
		{"2025-03-15", "2026-03-16", d("2025-03-15"), d("2026-03-16"), "", "366 days"},
		{"2025-03-14", "2026-03-16", time.Time{}, time.Time{}, "to", "367 days"},
		{"2026-03-08", "2026-03-08", time.Time{}, time.Time{}, "to", "empty"},
		{"2026-03-09", "2026-03-08", time.Time{}, time.Time{}, "to", "backwards"},
		{"yesterday", "", time.Time{}, time.Time{}, "from", "not a date"},
		{"", "2026-13-01", time.Time{}, time.Time{}, "to", "no such month"},
		{"1969-12-31", "1970-01-02", time.Time{}, time.Time{}, "from", "before 1970"},
		{"", "1970-01-05", time.Time{}, time.Time{}, "to", "only to sent: the default from falls before 1970"},
		{"2026-03-01 10:00", "", time.Time{}, time.Time{}, "from", "not RFC 3339"},
	} {
		from, to, err := ParseRange(c.from, c.to, now)
		if c.wantField != "" {
			var re *RangeError
			if !errors.As(err, &re) || re.Field != c.wantField {
				t.Errorf("%s: ParseRange(%q, %q) error %v, want one about %s", c.comment, c.from, c.to, err, c.wantField)
			}
			continue
		}
		if err != nil || !from.Equal(c.wantFrom) || !to.Equal(c.wantTo) || from.Location() != time.UTC {
			t.Errorf("%s: ParseRange(%q, %q) = %v, %v, %v; want %v, %v", c.comment, c.from, c.to, from, to, err, c.wantFrom, c.wantTo)
		}
	}
}

func TestParseGroupBy(t *testing.T) {
	t.Parallel()
	for _, g := range Groupings {
		if got, err := ParseGroupBy(string(g)); err != nil || got != g {
			t.Errorf("ParseGroupBy(%q) = %q, %v", g, got, err)
		}
	}
	for _, s := range []string{"", "Model", "week", "keys"} {
		if _, err := ParseGroupBy(s); err == nil {
			t.Errorf("ParseGroupBy(%q) accepted", s)
		}
	}
}
