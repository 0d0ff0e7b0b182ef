package main

import (
	"encoding/csv"
	"fmt"
	"strings"
	"time"
)

// checkActivityOperations runs GET /v1/activity and GET /v1/activity/export against the
// OpenAPI document, for TestOpenAPIMatchesImplementation: ann administers the organization
// whose members path is members, other acts in another context, annToken and annHash are a key
// of Ann's. It adds Carol, a Member, with a key of her own, and usage on both keys.
func checkActivityOperations(c *specClient, ann, other string, annID int64, members, annToken, annHash string) {
	t, tg := c.t, c.tg
	t.Helper()
	out := c.ok(201, "POST", members, ann, map[string]any{"email": "carol@acme.test"})
	carolID := int64(data(out)["user"].(map[string]any)["id"].(float64))
	carol := c.ok(201, "POST", "/v1/invitations/redeem", "", map[string]any{"code": invitationCode(t, out)})["key"].(string)
	out = c.ok(201, "POST", "/v1/keys", carol, map[string]any{"name": `carol, "ci"`})
	carolToken, carolHash := out["key"].(string), data(out)["hash"].(string)
	for _, token := range []string{annToken, carolToken, carolToken} {
		if status, out := tg.chatAs(token, chatBody); status != 200 {
			t.Fatalf("chat: %d %v", status, out)
		}
	}
	tg.waitActivity(carol, 2)

	requestsOf := func(out map[string]any, field, value string) any {
		for _, g := range data(out)["groups"].([]any) {
			if g := g.(map[string]any); fmt.Sprint(g[field]) == value {
				return g["requests"]
			}
		}
		return nil
	}
	c.ok(200, "GET", "/v1/activity", ann, nil)
	for _, g := range []string{"day", "model", "key", "member", "provider"} {
		c.ok(200, "GET", "/v1/activity?group_by="+g, ann, nil)
	}
	out = c.ok(200, "GET", "/v1/activity?group_by=key", ann, nil)
	if requestsOf(out, "key_name", `carol, "ci"`) != float64(2) || requestsOf(out, "key_hash", annHash) != float64(1) {
		t.Errorf("Ann's view by key: %v", out)
	}
	now := time.Now().UTC()
	q := fmt.Sprintf("/v1/activity?from=%s&to=%s&key=%s&model=openai/gpt-4o-mini&member=%d&group_by=member",
		now.Format(time.DateOnly), now.Add(time.Minute).Format(time.RFC3339), carolHash, carolID)
	if out := c.ok(200, "GET", q, ann, nil); requestsOf(out, "member_id", fmt.Sprint(carolID)) != float64(2) {
		t.Errorf("every filter at once: %v", out)
	}
	// A Member sees their own keys; anyone else's key or id does not exist for them.
	out = c.ok(200, "GET", "/v1/activity?group_by=member", carol, nil)
	if groups := data(out)["groups"].([]any); len(groups) != 1 || requestsOf(out, "member_id", fmt.Sprint(carolID)) != float64(2) {
		t.Errorf("Carol's view: %v", out)
	}
	c.ok(404, "GET", "/v1/activity?key="+annHash, carol, nil)
	c.ok(404, "GET", fmt.Sprintf("/v1/activity?member=%d", annID), carol, nil)
	c.ok(404, "GET", "/v1/activity?key="+carolHash, other, nil)
	c.ok(404, "GET", "/v1/activity?member=999999", ann, nil)
	c.bad(400, "GET", "/v1/activity?group_by=week", ann, nil)
	c.bad(400, "GET", "/v1/activity?member=carol", ann, nil)
	c.bad(400, "GET", "/v1/activity?key=xyz", ann, nil)
	c.bad(400, "GET", "/v1/activity?from=yesterday", ann, nil)
	c.ok(400, "GET", "/v1/activity?from=2026-02-30", ann, nil)
	c.ok(400, "GET", "/v1/activity?from=2024-01-01&to=2026-01-01", ann, nil)
	c.ok(400, "GET", "/v1/activity?groupby=model", ann, nil) // unknown parameters are refused

	// Exports.
	out = c.ok(200, "GET", "/v1/activity/export?format=csv&group_by=key", ann, nil)
	recs, err := csv.NewReader(strings.NewReader(out["body"].(string))).ReadAll()
	if err != nil || len(recs) < 3 || recs[0][2] != "key_name" {
		t.Fatalf("CSV export: %v, %q", err, recs)
	}
	found := false
	for _, r := range recs[1:] {
		found = found || r[2] == `carol, "ci"` && r[4] == "2"
	}
	if !found || out["content-type"] != "text/csv; charset=utf-8" || !strings.HasPrefix(out["content-disposition"].(string), "attachment; ") {
		t.Errorf("CSV export: %v", out)
	}
	out = c.ok(200, "GET", "/v1/activity/export?format=pdf&group_by=member", ann, nil)
	if !strings.HasPrefix(out["body"].(string), "%PDF-") || out["content-type"] != "application/pdf" {
		t.Errorf("PDF export: %.40q, %v", out["body"], out["content-type"])
	}
	c.ok(200, "GET", "/v1/activity/export", carol, nil)
	c.bad(400, "GET", "/v1/activity/export?format=xlsx", ann, nil)
	c.ok(400, "GET", "/v1/activity/export?to=2026-02-30", ann, nil)
	c.ok(404, "GET", "/v1/activity/export?key="+annHash, carol, nil)
	if h := c.against("MethodNotAllowed", 405, "POST", "/v1/activity", ann, nil); h.Get("Allow") != "GET" {
		t.Errorf("POST /v1/activity: Allow %q", h.Get("Allow"))
	}
}
