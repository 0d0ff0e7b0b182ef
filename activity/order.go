package activity

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
)

// Sort orders rows as reports show them: by day first when rows carry days (ByDay, or a query
// split per day), then the biggest spenders first, ties by requests and then by name, so that
// the order is stable from one export to the next.
func Sort(rows []Row, g GroupBy, perDay bool) {
	slices.SortFunc(rows, func(a, b Row) int {
		if g == ByDay || perDay {
			if c := a.Day.Compare(b.Day); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(b.Cost, a.Cost); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Requests, a.Requests); c != 0 {
			return c
		}
		return compareGroup(&a, &b, g)
	})
}

func compareGroup(a, b *Row, g GroupBy) int {
	switch g {
	case ByModel:
		return cmp.Compare(a.Model, b.Model)
	case ByProvider:
		return cmp.Compare(a.Provider, b.Provider)
	case ByKey:
		if c := cmp.Compare(a.Key.Name, b.Key.Name); c != 0 {
			return c
		}
		return bytes.Compare(a.Key.Hash[:], b.Key.Hash[:])
	case ByMember:
		return cmp.Compare(a.Member.ID, b.Member.ID)
	}
	return 0
}

// Label is how reports name a row's group: the model or provider id, the key's name, the
// member's email (or, for a user the store no longer knows, their id), or the date.
func Label(r *Row, g GroupBy) string {
	switch g {
	case ByModel:
		return r.Model
	case ByProvider:
		return r.Provider
	case ByKey:
		return r.Key.Name
	case ByMember:
		if r.Member.Email != "" {
			return r.Member.Email
		}
		return "user " + strconv.FormatInt(r.Member.ID, 10)
	}
	return r.Day.Format("2006-01-02")
}
