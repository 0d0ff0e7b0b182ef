package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arouter/arouter/activity"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/tenancy"
)

// activityGroup is how one grouping reads a roll-up: the expressions it groups by, the columns
// naming the group, and whether it needs the key's row (alias k) and its creator's (alias m).
//
// PostgreSQL, unlike SQLite, refuses a selected column that is neither grouped by nor
// determined by the grouped table's primary key; the key's hash, name and label (and the
// member's email and name) are determined by the grouped id, so grouping by them too makes the
// same groups. The outer joins keep usage whose key row is missing (it never is: deleted keys
// keep theirs), so that every grouping adds up to the same totals.
var activityGroup = map[activity.GroupBy]struct {
	by, cols    string
	keys, users bool
}{
	activity.ByDay:      {by: "u.day", cols: "u.day"},
	activity.ByModel:    {by: "u.model", cols: "u.model"},
	activity.ByProvider: {by: "u.provider", cols: "u.provider"},
	activity.ByKey: {by: "u.key_id, k.hash, k.name, k.label", keys: true,
		cols: "coalesce(k.hash, ''::bytea), coalesce(k.name, ''), coalesce(k.label, '')"},
	activity.ByMember: {by: "coalesce(k.creator_id, 0), m.email, m.name", keys: true, users: true,
		cols: "coalesce(k.creator_id, 0), coalesce(m.email, ''), coalesce(m.name, '')"},
}

// activitySums are the measures, as bigint: PostgreSQL's sum of bigint is numeric.
const activitySums = "sum(u.requests)::bigint, sum(u.prompt_tokens)::bigint, sum(u.completion_tokens)::bigint, " +
	"sum(u.reasoning_tokens)::bigint, sum(u.cached_tokens)::bigint, sum(u.cache_write_tokens)::bigint, " +
	"sum(u.cost_nanos)::bigint, sum(u.byok_requests)::bigint, sum(u.byok_cost_nanos)::bigint"

// activityTable picks the smallest roll-up that has the dimensions q groups or filters by:
// usage_daily_models without keys, usage_daily_keys without models, usage_daily for both.
func activityTable(q *activity.Query) string {
	keys := q.GroupBy == activity.ByKey || q.GroupBy == activity.ByMember || q.KeyID != 0 || q.CreatorID != 0
	models := q.GroupBy == activity.ByModel || q.GroupBy == activity.ByProvider || q.Model != ""
	switch {
	case keys && models:
		return "usage_daily"
	case keys:
		return "usage_daily_keys"
	}
	return "usage_daily_models"
}

// activitySQL builds q's statement and its arguments.
func activitySQL(q *activity.Query) (string, []any, error) {
	g, ok := activityGroup[q.GroupBy]
	if !ok {
		return "", nil, fmt.Errorf("unknown grouping %q", q.GroupBy)
	}
	if q.From.Before(time.Unix(0, 0)) || !q.From.Before(q.To) {
		return "", nil, fmt.Errorf("bad range %s to %s", q.From, q.To)
	}
	perDay := q.PerDay && q.GroupBy != activity.ByDay
	var args []any
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	if perDay {
		b.WriteString("u.day, ")
	}
	b.WriteString(g.cols + ", " + activitySums + " FROM " + activityTable(q) + " u")
	if g.keys {
		b.WriteString(" LEFT JOIN api_keys k ON k.id = u.key_id")
	}
	if g.users {
		b.WriteString(" LEFT JOIN users m ON m.id = k.creator_id")
	}
	b.WriteString(" WHERE u.org_id = " + param(q.OrgID))
	first, last := dayNumber(q.From), dayNumber(q.To)
	if q.KeyID != 0 || q.CreatorID != 0 {
		// Every roll-up with keys is ordered by organization, day, key. Naming each day lets
		// the index scan descend straight to the selected keys' rows of each day (one descent
		// per day) instead of reading every key's rows of the range; the planner does so when
		// its statistics say that costs less than one pass over the organization's entries.
		days := make([]int64, 0, last-first)
		for d := first; d < last; d++ {
			days = append(days, d)
		}
		b.WriteString(" AND u.day = ANY(" + param(days) + "::bigint[])")
	} else {
		b.WriteString(" AND u.day >= " + param(first) + " AND u.day < " + param(last))
	}
	if q.KeyID != 0 {
		b.WriteString(" AND u.key_id = " + param(q.KeyID))
	}
	if q.CreatorID != 0 {
		b.WriteString(" AND u.key_id IN (SELECT id FROM api_keys WHERE org_id = " + param(q.OrgID) +
			" AND creator_id = " + param(q.CreatorID) + ")")
	}
	if q.Model != "" {
		b.WriteString(" AND u.model = " + param(q.Model))
	}
	b.WriteString(" GROUP BY ")
	if perDay {
		b.WriteString("u.day, ")
	}
	b.WriteString(g.by)
	return b.String(), args, nil
}

// Activity sums the daily roll-ups over q: the usage charged to q.OrgID on the days from q.From
// to q.To (exclusive; both UTC midnights), per group of q.GroupBy and, with q.PerDay, per day.
// It never reads usage_records, so retention does not change its answers. A member is the
// creator of the key (api_keys.creator_id); a CreatorID filter selects that user's keys.
func (s *Store) Activity(ctx context.Context, q activity.Query) ([]activity.Row, error) {
	query, args, err := activitySQL(&q)
	if err != nil {
		return nil, fmt.Errorf("activity: %w", err)
	}
	perDay := q.PerDay && q.GroupBy != activity.ByDay
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("activity: %w", err)
	}
	defer rows.Close()
	var out []activity.Row
	for rows.Next() {
		var r activity.Row
		var dayNum int64
		var hash []byte
		var cost, byokCost int64
		dest := make([]any, 0, 13)
		if perDay {
			dest = append(dest, &dayNum)
		}
		switch q.GroupBy {
		case activity.ByDay:
			dest = append(dest, &dayNum)
		case activity.ByModel:
			dest = append(dest, &r.Model)
		case activity.ByProvider:
			dest = append(dest, &r.Provider)
		case activity.ByKey:
			dest = append(dest, &hash, &r.Key.Name, &r.Key.Label)
		case activity.ByMember:
			dest = append(dest, &r.Member.ID, &r.Member.Email, &r.Member.Name)
		}
		u := &r.Usage
		dest = append(dest, &u.Requests, &u.PromptTokens, &u.CompletionTokens, &u.ReasoningTokens,
			&u.CachedTokens, &u.CacheWriteTokens, &cost, &u.BYOKRequests, &byokCost)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("activity: %w", err)
		}
		if perDay || q.GroupBy == activity.ByDay {
			r.Day = time.UnixMicro(dayNum * dayMicros).UTC()
		}
		copy(r.Key.Hash[:], hash)
		u.Cost, u.BYOKCost = money.Nanos(cost), money.Nanos(byokCost)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("activity: %w", err)
	}
	return out, nil
}

// ActivityKey returns the key with hash h in orgID, deleted or not (a deleted key's usage is
// still its organization's history): its id, creator and name. Another organization's key, or
// none, is an error wrapping tenancy.ErrNotFound and apikey.ErrNotFound.
func (s *Store) ActivityKey(ctx context.Context, h apikey.Hash, orgID int64) (id, creatorID int64, name string, err error) {
	err = s.pool.QueryRow(ctx, "SELECT id, creator_id, name FROM api_keys WHERE hash = $1 AND org_id = $2", h[:], orgID).
		Scan(&id, &creatorID, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, "", errKeyNotFound(h)
	}
	if err != nil {
		return 0, 0, "", fmt.Errorf("key %s: %w", h, err)
	}
	return id, creatorID, name, nil
}

// ActivityMember returns user userID if they have usage to report in orgID: a member of it now,
// or the creator of one of its keys (a removed member's keys stay, disabled, with their usage).
// Anyone else is an error wrapping tenancy.ErrNotFound.
func (s *Store) ActivityMember(ctx context.Context, orgID, userID int64) (activity.Member, error) {
	m := activity.Member{ID: userID}
	err := s.pool.QueryRow(ctx, `SELECT email, name FROM users WHERE id = $2 AND (
			EXISTS (SELECT 1 FROM memberships WHERE org_id = $1 AND user_id = $2)
			OR EXISTS (SELECT 1 FROM api_keys WHERE org_id = $1 AND creator_id = $2))`, orgID, userID).
		Scan(&m.Email, &m.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, fmt.Errorf("user %d in organization %d: %w", userID, orgID, tenancy.ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("user %d in organization %d: %w", userID, orgID, err)
	}
	return m, nil
}
