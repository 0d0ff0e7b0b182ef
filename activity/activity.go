// Package activity is usage reporting: what an organization's keys used and spent over a range
// of whole UTC days, summed per model, key, member (the keys' creator), provider or day, and the
// CSV and PDF exports made from those sums.
//
// Reports read the store's daily roll-up (one row per day, key, model and provider), never the
// raw usage records, so that a 90-day report over millions of requests stays fast and keeps
// working after retention has deleted the records. The price of that is granularity: a range is
// always a whole number of UTC days.
package activity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
)

// GroupBy is what a report sums over.
type GroupBy string

// The groupings. ByMember groups by the user who created each key.
const (
	ByDay      GroupBy = "day"
	ByModel    GroupBy = "model"
	ByKey      GroupBy = "key"
	ByMember   GroupBy = "member"
	ByProvider GroupBy = "provider"
)

// Groupings lists every grouping, in the order reports present them.
var Groupings = []GroupBy{ByDay, ByModel, ByKey, ByMember, ByProvider}

// ParseGroupBy reads a grouping's wire name.
func ParseGroupBy(s string) (GroupBy, error) {
	for _, g := range Groupings {
		if string(g) == s {
			return g, nil
		}
	}
	names := make([]string, len(Groupings))
	for i, g := range Groupings {
		names[i] = string(g)
	}
	return "", fmt.Errorf("%q is not a grouping; use %s", s, strings.Join(names, ", "))
}

// Usage is what a set of requests used. Cost is what the credit pool was charged (for BYOK
// requests, the gateway's fee); BYOKCost is the provider's list price of the BYOK requests,
// which the organization paid the provider directly.
type Usage struct {
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	ReasoningTokens  int64
	CachedTokens     int64
	CacheWriteTokens int64
	Cost             money.Nanos
	BYOKRequests     int64
	BYOKCost         money.Nanos
}

// Add adds v to u.
func (u *Usage) Add(v Usage) {
	u.Requests += v.Requests
	u.PromptTokens += v.PromptTokens
	u.CompletionTokens += v.CompletionTokens
	u.ReasoningTokens += v.ReasoningTokens
	u.CachedTokens += v.CachedTokens
	u.CacheWriteTokens += v.CacheWriteTokens
	u.Cost += v.Cost
	u.BYOKRequests += v.BYOKRequests
	u.BYOKCost += v.BYOKCost
}

// Key names an API key in a report. Deleted keys keep their row, so their usage stays named.
type Key struct {
	Hash  apikey.Hash
	Name  string
	Label string
}

// Member names the user who created a key.
type Member struct {
	ID    int64
	Email string
	Name  string
}

// Row is one group's usage: Model, Provider, Key or Member is set for the grouping of the
// query, Day for ByDay and for queries split per day.
type Row struct {
	Day      time.Time // UTC midnight
	Model    string
	Provider string
	Key      Key
	Member   Member
	Usage
}

// Query selects and groups usage. From and To are UTC midnights with From before To; To is
// exclusive. A zero KeyID, empty Model or zero CreatorID selects every key, model or member.
type Query struct {
	OrgID     int64
	From, To  time.Time
	GroupBy   GroupBy
	PerDay    bool // split every group per day (one row per group and day), as the CSV export does
	KeyID     int64
	Model     string
	CreatorID int64
}

// Days returns the number of days the query covers.
func (q *Query) Days() int { return int(q.To.Sub(q.From) / (24 * time.Hour)) }

// Source answers queries: the store. Rows may come in any order.
type Source interface {
	Activity(ctx context.Context, q Query) ([]Row, error)
}

// Total sums rows.
func Total(rows []Row) Usage {
	var t Usage
	for i := range rows {
		t.Add(rows[i].Usage)
	}
	return t
}
