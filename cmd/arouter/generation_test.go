package main

import (
	"strconv"
	"testing"
)

// TestGenerationLookup: the record of a request is readable by id the moment its answer has
// ended (from memory), and after a restart (from the store); by its own key and its
// organization's admins, and by nobody else. Answers carry the gateway's timing.
func TestGenerationLookup(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	resp := tg.post(chatBody)
	resp.Body.Close()
	id := resp.Header.Get("X-Generation-Id")
	for _, h := range []string{"X-ARouter-Latency-Ms", "X-ARouter-TTFB-Ms"} {
		if v, err := strconv.ParseFloat(resp.Header.Get(h), 64); err != nil || v <= 0 {
			t.Errorf("%s = %q", h, resp.Header.Get(h))
		}
	}
	check := func(token string) {
		t.Helper()
		d := data(tg.mustCall(200, "GET", "/v1/generation?id="+id, token, nil))
		if d["id"] != id || d["model"] != "openai/gpt-4o-mini" || d["provider_name"] != "upstream" || d["tokens_completion"] != float64(16) ||
			d["total_cost"].(float64) <= 0 || d["latency"].(float64) <= 0 || d["status"] != float64(200) {
			t.Fatalf("generation: %v", d)
		}
	}
	check(tg.key)        // right away: the writer may not have stored it yet
	check(tg.adminToken) // the organization's admin

	other := tg.newOrg("Other", 0)
	if status, _ := tg.call("GET", "/v1/generation?id="+id, other.admin, nil); status != 404 {
		t.Errorf("another organization's admin: %d, want 404", status)
	}
	otherKey, _ := tg.createKey(tg.adminToken, map[string]any{"name": "another key"})
	if status, _ := tg.call("GET", "/v1/generation?id="+id, otherKey, nil); status != 404 {
		t.Errorf("another key of the same organization: %d, want 404", status)
	}
	for _, bad := range []string{"", "nope", "gen-short"} {
		if status, _ := tg.call("GET", "/v1/generation?id="+bad, tg.key, nil); status != 400 {
			t.Errorf("id %q: %d, want 400", bad, status)
		}
	}
	tg.restart() // the ring is empty now: the store answers
	check(tg.key)
}
