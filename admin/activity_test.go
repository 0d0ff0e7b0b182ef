package admin_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
)

// activityEnv adds usage to byokEnv: in Acme, Ann's key `a,"b"` and Bob's key "bob's", and in
// the instance admin's personal context a key of its own, over three days of January 2026.
type activityEnv struct {
	*byokEnv
	annKey, bobKey, rootKey string // hashes
	annID, bobID            int64
}

const januaryRange = "from=2026-01-01&to=2026-02-01"

func newActivityEnv(t *testing.T) *activityEnv {
	t.Helper()
	e := &activityEnv{byokEnv: newBYOKEnv(t, false)}
	ctx := context.Background()
	userID := func(token string) int64 {
		return int64(e.must(200, "GET", "/v1/me", token, nil)["data"].(map[string]any)["user"].(map[string]any)["id"].(float64))
	}
	e.annID, e.bobID = userID(e.ann), userID(e.bob)
	newKey := func(token, name string) (string, *apikey.Key) {
		hash := e.must(201, "POST", "/v1/keys", token, map[string]any{"name": name})["data"].(map[string]any)["hash"].(string)
		h, err := apikey.ParseHash(hash)
		if err != nil {
			t.Fatal(err)
		}
		var k *apikey.Key
		for _, org := range []int64{e.acmeID, 1} {
			if k, err = e.store.KeyInOrg(ctx, h, org); err == nil {
				break
			}
		}
		if k == nil {
			t.Fatalf("key %s not found", hash)
		}
		return hash, k
	}
	var ann, bob, root *apikey.Key
	e.annKey, ann = newKey(e.ann, `a,"b"`)
	e.bobKey, bob = newKey(e.bob, "bob's")
	e.rootKey, root = newKey(e.root, "root's")
	var recs []accounting.Record
	for i := range 30 {
		k := []*apikey.Key{ann, bob, root}[i%3]
		ts := time.Date(2026, 1, 5+i/3%3, 10, 0, i, 0, time.UTC)
		recs = append(recs, accounting.Record{
			GenerationID: accounting.NewGenerationID(ts), Time: ts, KeyID: k.ID, OrgID: k.OrgID, BudgetID: k.BudgetID,
			Model: []string{"openai/gpt-4o-mini", "anthropic/claude"}[i%2], Provider: "openai", UpstreamModel: "u",
			PromptTokens: 100, CompletionTokens: 10, ReasoningTokens: 2, CachedTokens: 5, CacheWriteTokens: 1,
			Cost: money.Nanos(1_000_000 + i), BYOK: i%5 == 0, BYOKCost: money.Nanos(map[bool]int64{true: 3_000_000}[i%5 == 0]),
			Status: 200,
		})
	}
	if err := e.store.WriteUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	return e
}

func activityData(out map[string]any) (groups []map[string]any, totals map[string]any) {
	d := out["data"].(map[string]any)
	for _, g := range d["groups"].([]any) {
		groups = append(groups, g.(map[string]any))
	}
	return groups, d["totals"].(map[string]any)
}

// An Admin sees the whole organization's usage, in every grouping, with the same totals; no
// grouping shows another organization's.
func TestActivityAdmin(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	var requests any
	for _, g := range []string{"day", "model", "key", "member", "provider"} {
		out := e.must(200, "GET", "/v1/activity?group_by="+g+"&"+januaryRange, e.ann, nil)
		d := out["data"].(map[string]any)
		if d["from"] != "2026-01-01T00:00:00Z" || d["to"] != "2026-02-01T00:00:00Z" || d["group_by"] != g {
			t.Errorf("%s: range and grouping %v", g, d)
		}
		groups, totals := activityData(out)
		if totals["requests"] != float64(20) || totals["byok_requests"] != float64(4) || totals["reasoning_tokens"] != float64(40) {
			t.Errorf("%s: totals %v, want Acme's 20 requests", g, totals)
		}
		if requests == nil {
			requests = totals["cost"]
		} else if totals["cost"] != requests {
			t.Errorf("%s: cost %v, other groupings %v", g, totals["cost"], requests)
		}
		if len(groups) == 0 {
			t.Errorf("%s: no groups", g)
		}
		for _, grp := range groups {
			if grp["key_hash"] == e.rootKey {
				t.Errorf("%s: another organization's key in %v", g, grp)
			}
		}
	}
	groups, _ := activityData(e.must(200, "GET", "/v1/activity?group_by=key&"+januaryRange, e.ann, nil))
	names := map[any]bool{}
	for _, g := range groups {
		names[g["key_name"]] = true
		if _, ok := g["model"]; ok {
			t.Errorf("a key group carries model: %v", g)
		}
	}
	if len(groups) != 2 || !names[`a,"b"`] || !names["bob's"] {
		t.Errorf("key groups %v", groups)
	}
	groups, _ = activityData(e.must(200, "GET", "/v1/activity?group_by=day&"+januaryRange, e.ann, nil))
	if len(groups) != 3 || groups[0]["date"] != "2026-01-05" || groups[2]["date"] != "2026-01-07" {
		t.Errorf("day groups %v", groups)
	}
	// Filters.
	_, totals := activityData(e.must(200, "GET", fmt.Sprintf("/v1/activity?key=%s&%s", e.bobKey, januaryRange), e.ann, nil))
	if totals["requests"] != float64(10) {
		t.Errorf("Bob's key: %v", totals)
	}
	_, totals = activityData(e.must(200, "GET", fmt.Sprintf("/v1/activity?member=%d&model=anthropic/claude&%s", e.annID, januaryRange), e.ann, nil))
	if totals["requests"] != float64(5) {
		t.Errorf("Ann's keys on anthropic/claude: %v", totals)
	}
	// The default range is the last 30 days, today included.
	d := e.must(200, "GET", "/v1/activity", e.ann, nil)["data"].(map[string]any)
	end := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	if d["to"] != end.Format(time.RFC3339) || d["from"] != end.AddDate(0, 0, -30).Format(time.RFC3339) || d["group_by"] != "day" {
		t.Errorf("default range: %v", d)
	}
}

// A Member sees their own keys' usage only; naming another member's key, or another member,
// is answered exactly as naming one that does not exist.
func TestActivityMember(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	groups, totals := activityData(e.must(200, "GET", "/v1/activity?group_by=key&"+januaryRange, e.bob, nil))
	if len(groups) != 1 || groups[0]["key_hash"] != e.bobKey || totals["requests"] != float64(10) {
		t.Errorf("Bob's view: %v %v", groups, totals)
	}
	groups, _ = activityData(e.must(200, "GET", "/v1/activity?group_by=member&"+januaryRange, e.bob, nil))
	if len(groups) != 1 || groups[0]["member_id"] != float64(e.bobID) || groups[0]["member_email"] != "bob@acme.test" {
		t.Errorf("Bob's members: %v", groups)
	}
	e.must(200, "GET", fmt.Sprintf("/v1/activity?member=%d", e.bobID), e.bob, nil)
	e.must(200, "GET", "/v1/activity?key="+e.bobKey, e.bob, nil)

	const zeros = "0000000000000000000000000000000000000000000000000000000000000000"
	_, notFound := e.call("GET", "/v1/activity?key="+zeros, e.bob, nil)
	status, theirs := e.call("GET", "/v1/activity?key="+e.annKey, e.bob, nil)
	if status != 404 || !bytes.Equal(theirs, notFound) {
		t.Errorf("Bob naming Ann's key: %d %s; naming no key: %s", status, theirs, notFound)
	}
	_, notFound = e.call("GET", "/v1/activity?member=999999", e.bob, nil)
	status, theirs = e.call("GET", fmt.Sprintf("/v1/activity?member=%d", e.annID), e.bob, nil)
	if status != 404 || !bytes.Equal(theirs, notFound) {
		t.Errorf("Bob naming Ann: %d %s; naming nobody: %s", status, theirs, notFound)
	}
	for _, path := range []string{"/v1/activity/export?format=csv&key=" + e.annKey, fmt.Sprintf("/v1/activity/export?member=%d", e.annID)} {
		e.must(404, "GET", path, e.bob, nil)
	}
	// The export is scoped like the API.
	status, body := e.call("GET", "/v1/activity/export?format=csv&group_by=key&"+januaryRange, e.bob, nil)
	if status != 200 || strings.Contains(string(body), e.annKey) || !strings.Contains(string(body), e.bobKey) {
		t.Errorf("Bob's CSV: %d %s", status, body)
	}
}

// Another organization's keys and members do not exist for an Admin either.
func TestActivityOtherOrganization(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	e.must(404, "GET", "/v1/activity?key="+e.annKey, e.root, nil)
	e.must(404, "GET", fmt.Sprintf("/v1/activity?member=%d", e.bobID), e.root, nil)
	e.must(404, "GET", "/v1/activity?key="+e.rootKey, e.ann, nil)
	groups, totals := activityData(e.must(200, "GET", "/v1/activity?group_by=key&"+januaryRange, e.root, nil))
	if len(groups) != 1 || groups[0]["key_hash"] != e.rootKey || totals["requests"] != float64(10) {
		t.Errorf("the personal context's view: %v %v", groups, totals)
	}
}

func TestActivityBadRequests(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	for query, field := range map[string]string{
		"group_by=week":                     "group_by",
		"group_by=":                         "group_by",
		"from=yesterday":                    "from",
		"to=2026-02-30":                     "to",
		"from=2026-02-01&to=2026-01-01":     "to",
		"from=2025-01-01&to=2026-02-01":     "to",
		"key=abc":                           "key",
		"member=bob":                        "member",
		"member=-1":                         "member",
		"model=":                            "model",
		"groupby=model":                     "groupby",
		"format=csv":                        "format",
		"group_by=day&group_by=model":       "group_by",
		"model=" + strings.Repeat("m", 201): "model",
	} {
		out := e.must(400, "GET", "/v1/activity?"+query, e.ann, nil)
		if msg, md := errorOf(out); md["field"] != field || !strings.HasPrefix(msg, field+": ") {
			t.Errorf("%s: %s %v, want a 400 about %s", query, msg, md, field)
		}
	}
	for _, query := range []string{"format=xlsx", "format=csv&format=pdf", "from=x"} {
		e.must(400, "GET", "/v1/activity/export?"+query, e.ann, nil)
	}
	e.must(405, "POST", "/v1/activity", e.ann, nil)
	e.must(405, "DELETE", "/v1/activity/export", e.ann, nil)
	e.must(404, "GET", "/v1/activity/summary", e.ann, nil)
}

// call with headers: the export's answer.
func (e *activityEnv) export(query, token string) (int, *fasthttp.ResponseHeader, []byte) {
	e.t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod("GET")
	req.SetRequestURI("/v1/activity/export?" + query)
	req.Header.Set("Authorization", "Bearer "+token)
	var ctx fasthttp.RequestCtx
	ctx.Init(req, nil, nil)
	e.api.Handle(&ctx)
	var h fasthttp.ResponseHeader
	ctx.Response.Header.CopyTo(&h)
	return ctx.Response.StatusCode(), &h, append([]byte(nil), ctx.Response.Body()...)
}

// The CSV export has one row per group and day, parses back with encoding/csv (a key named
// a,"b" included), and agrees with the API's totals; it downloads as an attachment.
func TestActivityExportCSV(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	status, h, body := e.export("format=csv&group_by=key&"+januaryRange, e.ann)
	if status != 200 || string(h.ContentType()) != "text/csv; charset=utf-8" {
		t.Fatalf("status %d, content type %q: %s", status, h.ContentType(), body)
	}
	if cd := string(h.Peek("Content-Disposition")); cd != `attachment; filename="arouter-activity-2026-01-01-to-2026-01-31-by-key.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0][:4], ",") != "date,key_hash,key_name,key_label" {
		t.Errorf("header %q", recs[0])
	}
	perKey := map[string]int{}
	var requests int
	for _, r := range recs[1:] {
		perKey[r[2]]++
		var n int
		fmt.Sscan(r[4], &n)
		requests += n
	}
	if len(recs) != 7 || perKey[`a,"b"`] != 3 || perKey["bob's"] != 3 || requests != 20 {
		t.Errorf("rows %q: want 3 days × 2 keys, 20 requests", recs)
	}
	// Grouping by day: one row per day.
	_, _, body = e.export("group_by=day&"+januaryRange, e.ann) // format defaults to csv
	if recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll(); err != nil || len(recs) != 4 || recs[1][0] != "2026-01-05" {
		t.Errorf("day CSV %q, %v", recs, err)
	}
}

func TestActivityExportPDF(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	status, h, body := e.export("format=pdf&group_by=member&"+januaryRange+"&model="+url.QueryEscape("openai/gpt-4o-mini"), e.ann)
	if status != 200 || string(h.ContentType()) != "application/pdf" || !bytes.HasPrefix(body, []byte("%PDF-")) {
		t.Fatalf("status %d, content type %q: %.40q", status, h.ContentType(), body)
	}
	if cd := string(h.Peek("Content-Disposition")); !strings.HasSuffix(cd, `-by-member.pdf"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
}
