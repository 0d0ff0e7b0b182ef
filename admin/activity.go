package admin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/arouter/arouter/activity"
	"github.com/arouter/arouter/apikey"
)

// ActivityStore reads what activity reports need. The Management API serves /v1/activity when
// its Store also implements it, as store/sqlite does.
type ActivityStore interface {
	activity.Source
	// ActivityKey returns the id, creator and name of the key with hash h in orgID, deleted
	// or not; anything else is tenancy.ErrNotFound.
	ActivityKey(ctx context.Context, h apikey.Hash, orgID int64) (id, creatorID int64, name string, err error)
	// ActivityMember returns user userID if they are a member of orgID or created one of its
	// keys; anything else is tenancy.ErrNotFound.
	ActivityMember(ctx context.Context, orgID, userID int64) (activity.Member, error)
}

// activityParams are the query parameters GET /v1/activity takes; the export adds format.
var activityParams = []string{"from", "to", "group_by", "key", "model", "member"}

const maxModelLen = 200

// activityRequest is a parsed activity query, with what a report says about its filters.
type activityRequest struct {
	q       activity.Query
	src     ActivityStore
	scope   string
	filters []string
}

// parseActivity reads and authorises the query parameters. Admins see the organization's
// usage; Members only their own keys', so a key or member filter naming anyone else's is 404,
// as for a key or member that does not exist. It writes the answer and returns false on error.
func (c *call) parseActivity(extra ...string) (*activityRequest, bool) {
	src, ok := c.api.store.(ActivityStore)
	if !ok {
		errNoEndpoint.write(c.ctx)
		return nil, false
	}
	args, e := queryArgs(c, append(extra, activityParams...))
	if e != nil {
		e.write(c.ctx)
		return nil, false
	}
	from, to, err := activity.ParseRange(args["from"], args["to"], c.api.now())
	if err != nil {
		var re *activity.RangeError
		if errors.As(err, &re) {
			badField(re.Field, "%s", re.Msg).write(c.ctx)
		} else {
			badField("from", "%v", err).write(c.ctx)
		}
		return nil, false
	}
	r := &activityRequest{src: src, q: activity.Query{OrgID: c.p.Org.ID, From: from, To: to, GroupBy: activity.ByDay}}
	if s, ok := args["group_by"]; ok {
		g, err := activity.ParseGroupBy(s)
		if err != nil {
			badField("group_by", "%v", err).write(c.ctx)
			return nil, false
		}
		r.q.GroupBy = g
	}
	if s, ok := args["model"]; ok {
		if s == "" || len(s) > maxModelLen {
			badField("model", "must be a model id of 1 to %d characters, such as openai/gpt-4o-mini", maxModelLen).write(c.ctx)
			return nil, false
		}
		r.q.Model = s
		r.filters = append(r.filters, "model "+s)
	}
	if s, ok := args["key"]; ok {
		h, err := apikey.ParseHash(s)
		if err != nil {
			badField("key", "must be a key hash (64 hex digits), as GET /v1/keys lists them").write(c.ctx)
			return nil, false
		}
		id, creator, name, err := src.ActivityKey(c.context(), h, c.p.Org.ID)
		if err != nil {
			c.fail(err, errKeyNotFound)
			return nil, false
		}
		if !c.p.IsAdmin() && creator != c.p.User.ID {
			errKeyNotFound.write(c.ctx)
			return nil, false
		}
		r.q.KeyID = id
		r.filters = append(r.filters, fmt.Sprintf("key %s (%s…)", name, h.String()[:12]))
	}
	r.scope = "every key of the organization"
	if s, ok := args["member"]; ok {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			badField("member", "must be a user id (a positive integer, user.id in GET /v1/orgs/{id}/members)").write(c.ctx)
			return nil, false
		}
		if !c.p.IsAdmin() && id != c.p.User.ID {
			errUserNotFound.write(c.ctx)
			return nil, false
		}
		m, err := src.ActivityMember(c.context(), c.p.Org.ID, id)
		if err != nil {
			c.fail(err, errUserNotFound)
			return nil, false
		}
		r.q.CreatorID = id
		r.scope = "keys created by " + m.Email
	}
	if !c.p.IsAdmin() {
		r.q.CreatorID = c.p.User.ID
		r.scope = "keys created by " + c.p.User.Email + " (a member sees only their own keys)"
	}
	return r, true
}

// queryArgs returns the query parameters, refusing any not in allowed (so that a misspelt
// filter is an error, not a report of everything) and any given twice.
func queryArgs(c *call, allowed []string) (map[string]string, *apiError) {
	out := map[string]string{}
	for k, v := range c.ctx.QueryArgs().All() {
		name := string(k)
		if !contains(allowed, name) {
			sorted := append([]string(nil), allowed...)
			sort.Strings(sorted)
			return nil, badField(name, "unknown query parameter; accepted parameters are %s", strings.Join(sorted, ", "))
		}
		if _, dup := out[name]; dup {
			return nil, badField(name, "given twice; give it once")
		}
		out[name] = string(v)
	}
	return out, nil
}

// getActivity serves GET /v1/activity: usage per group over whole UTC days, with totals.
func (c *call) getActivity() {
	r, ok := c.parseActivity()
	if !ok {
		return
	}
	rows, err := r.src.Activity(c.context(), r.q)
	if err != nil {
		c.fail(err, nil)
		return
	}
	activity.Sort(rows, r.q.GroupBy, false)
	groups := make([]activityGroup, len(rows))
	for i := range rows {
		groups[i] = newActivityGroup(&rows[i], r.q.GroupBy)
	}
	writeJSON(c.ctx, 200, map[string]any{"data": activityReport{
		From: timeJSON(r.q.From), To: timeJSON(r.q.To), GroupBy: r.q.GroupBy,
		Groups: groups, Totals: newActivityUsage(activity.Total(rows)),
	}})
}

// activityReport is GET /v1/activity's answer: the range covered (whole UTC days), the
// grouping, the groups and their totals.
type activityReport struct {
	From    timeJSON         `json:"from"`
	To      timeJSON         `json:"to"`
	GroupBy activity.GroupBy `json:"group_by"`
	Groups  []activityGroup  `json:"groups"`
	Totals  activityUsage    `json:"totals"`
}

// activityUsage is a group's usage on the wire; amounts are exact USD.
type activityUsage struct {
	Requests         int64   `json:"requests"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	ReasoningTokens  int64   `json:"reasoning_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	CacheWriteTokens int64   `json:"cache_write_tokens"`
	Cost             usdJSON `json:"cost"`
	BYOKRequests     int64   `json:"byok_requests"`
	BYOKCost         usdJSON `json:"byok_cost"`
}

func newActivityUsage(u activity.Usage) activityUsage {
	return activityUsage{Requests: u.Requests, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens,
		ReasoningTokens: u.ReasoningTokens, CachedTokens: u.CachedTokens, CacheWriteTokens: u.CacheWriteTokens,
		Cost: usdJSON(u.Cost), BYOKRequests: u.BYOKRequests, BYOKCost: usdJSON(u.BYOKCost)}
}

// activityGroup is one group on the wire: the fields naming it (those of its grouping only),
// then its usage.
type activityGroup struct {
	Date        *string `json:"date,omitempty"`
	Model       *string `json:"model,omitempty"`
	Provider    *string `json:"provider,omitempty"`
	KeyHash     *string `json:"key_hash,omitempty"`
	KeyName     *string `json:"key_name,omitempty"`
	KeyLabel    *string `json:"key_label,omitempty"`
	MemberID    *int64  `json:"member_id,omitempty"`
	MemberEmail *string `json:"member_email,omitempty"`
	MemberName  *string `json:"member_name,omitempty"`
	activityUsage
}

func newActivityGroup(r *activity.Row, g activity.GroupBy) activityGroup {
	o := activityGroup{activityUsage: newActivityUsage(r.Usage)}
	switch g {
	case activity.ByDay:
		d := r.Day.Format(time.DateOnly)
		o.Date = &d
	case activity.ByModel:
		o.Model = &r.Model
	case activity.ByProvider:
		o.Provider = &r.Provider
	case activity.ByKey:
		h := r.Key.Hash.String()
		o.KeyHash, o.KeyName, o.KeyLabel = &h, &r.Key.Name, &r.Key.Label
	case activity.ByMember:
		o.MemberID, o.MemberEmail, o.MemberName = &r.Member.ID, &r.Member.Email, &r.Member.Name
	}
	return o
}
