package activity

import (
	"context"
	"time"
)

// Report is what the PDF export shows: the range's totals, its cost day by day, and a table per
// grouping.
type Report struct {
	Organization string
	// Scope says whose keys the figures cover, e.g. "every key of the organization".
	Scope string
	// Filters describe the query's filters for the reader, e.g. "model openai/gpt-4o".
	Filters   []string
	From, To  time.Time
	GroupBy   GroupBy
	Generated time.Time
	Totals    Usage
	// Daily has one row per day of the range, days without usage included.
	Daily  []Row
	Tables []Table
}

// Table is a report's usage per group of one grouping, sorted.
type Table struct {
	GroupBy GroupBy
	Rows    []Row
}

// Collect runs the queries a report needs: the daily series, then one per grouping with q's
// grouping first. The day table is included only when q groups by day: otherwise the chart
// shows the days. Scope, Filters, Organization and Generated are left to the caller.
func Collect(ctx context.Context, src Source, q Query) (*Report, error) {
	r := &Report{From: q.From, To: q.To, GroupBy: q.GroupBy}
	dq := q
	dq.GroupBy, dq.PerDay = ByDay, false
	days, err := src.Activity(ctx, dq)
	if err != nil {
		return nil, err
	}
	Sort(days, ByDay, false)
	r.Totals = Total(days)
	r.Daily = fillDays(days, q.From, q.To)

	order := []GroupBy{q.GroupBy}
	for _, g := range Groupings {
		if g != q.GroupBy && g != ByDay {
			order = append(order, g)
		}
	}
	for _, g := range order {
		if g == ByDay {
			r.Tables = append(r.Tables, Table{GroupBy: ByDay, Rows: days})
			continue
		}
		gq := q
		gq.GroupBy, gq.PerDay = g, false
		rows, err := src.Activity(ctx, gq)
		if err != nil {
			return nil, err
		}
		Sort(rows, g, false)
		r.Tables = append(r.Tables, Table{GroupBy: g, Rows: rows})
	}
	return r, nil
}

// fillDays returns one row per day from from to to (exclusive), taking usage from days (sorted).
func fillDays(days []Row, from, to time.Time) []Row {
	out := make([]Row, 0, int(to.Sub(from)/day))
	i := 0
	for d := from; d.Before(to); d = d.Add(day) {
		for i < len(days) && days[i].Day.Before(d) {
			i++
		}
		if i < len(days) && days[i].Day.Equal(d) {
			out = append(out, days[i])
			continue
		}
		out = append(out, Row{Day: d})
	}
	return out
}
