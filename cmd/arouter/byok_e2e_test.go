package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/arouter/arouter/mockllm"
)

// TestBYOKRequestsUseTheOrganizationsKey drives the request path with an organization's own
// provider key: the key really reaches the provider, the answer and the record say is_byok, the
// credits pay only the fee, a failing own key falls back to the platform's with a header
// saying so, and "only" never touches the platform's key.
func TestBYOKRequestsUseTheOrganizationsKey(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	const orgKey = "org-own-provider-key-123"
	store := func(mode string) string {
		t.Helper()
		out := tg.mustCall(201, "POST", "/v1/byok", tg.adminToken, map[string]any{"provider": "upstream", "key": orgKey, "mode": mode})
		return idString(data(out)["id"])
	}
	chat := func() (*http.Response, map[string]any) {
		t.Helper()
		resp := tg.post(chatBody)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return resp, out
	}

	// prefer, and the provider accepts only the platform's key: the own key fails, the
	// platform's serves, and the response says so.
	id := store("prefer")
	resp, out := chat()
	if resp.StatusCode != 200 || resp.Header.Get("X-ARouter-BYOK-Fallback") != "platform" || resp.Header.Get("X-ARouter-BYOK") != "" {
		t.Fatalf("fallback to the platform key: %d %v %v", resp.StatusCode, resp.Header, out)
	}
	if u := out["usage"].(map[string]any); u["is_byok"] != nil {
		t.Fatalf("served on the platform key but usage says BYOK: %v", u)
	}

	// Now the provider accepts the organization's key: it is used, and billed as BYOK.
	tg.mock.SetBehavior(mockllm.Behavior{APIKey: orgKey})
	resp, out = chat()
	if resp.StatusCode != 200 || resp.Header.Get("X-ARouter-BYOK") != "true" {
		t.Fatalf("own key: %d %v %v", resp.StatusCode, resp.Header, out)
	}
	u := out["usage"].(map[string]any)
	list, fee := u["byok_cost"].(float64), u["cost"].(float64)
	if u["is_byok"] != true || list <= 0 || fee <= 0 || fee > list*0.05+1e-9 || fee < list*0.05-1e-9 {
		t.Fatalf("BYOK usage: %v", u)
	}
	genID := resp.Header.Get("X-Generation-Id")
	keys := tg.mustCall(200, "GET", "/v1/keys", tg.adminToken, nil)["data"].([]any)
	var byokUsage float64
	for _, k := range keys {
		byokUsage += k.(map[string]any)["byok_usage"].(float64)
	}
	if byokUsage <= 0 {
		t.Errorf("byok_usage not tracked: %v", keys)
	}

	// only: never the platform's key, even when the own key is refused.
	tg.mustCall(200, "DELETE", "/v1/byok/"+id, tg.adminToken, nil)
	store("only")
	tg.mock.SetBehavior(mockllm.Behavior{APIKey: "mock-secret"}) // refuses the organization's key
	for range 6 {                                                // more than the breaker's threshold: a refused own key is not a broken provider
		if resp, out := chat(); resp.StatusCode != 502 || resp.Header.Get("X-ARouter-BYOK") != "true" ||
			!strings.Contains(errMsg(out), "refused this organization's own key") {
			t.Fatalf("only, own key refused: %d %v", resp.StatusCode, out)
		}
	}
	resp2, err := http.Get(tg.url + "/v1/models/openai/gpt-4o-mini/endpoints")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if !strings.Contains(string(b), `"breaker":"closed"`) {
		t.Errorf("refused own keys opened the provider's breaker: %s", b)
	}

	// The organization's own account rate limited (429, Retry-After 60s): the client hears it,
	// but the deployment every tenant shares is not cooled down, so the platform's key serves
	// the next request at once.
	deleteAll := func() {
		t.Helper()
		for _, k := range tg.mustCall(200, "GET", "/v1/byok", tg.adminToken, nil)["data"].([]any) {
			tg.mustCall(200, "DELETE", "/v1/byok/"+idString(k.(map[string]any)["id"]), tg.adminToken, nil)
		}
	}
	deleteAll()
	tg.mock.SetBehavior(mockllm.Behavior{APIKey: orgKey, Fault: mockllm.FaultRateLimit, RetryAfter: 60})
	store("only")
	for range 3 {
		if resp, out := chat(); resp.StatusCode != 429 {
			t.Fatalf("own key rate limited: %d %v", resp.StatusCode, out)
		}
	}
	deleteAll()
	tg.mock.SetBehavior(mockllm.Behavior{APIKey: "mock-secret"})
	if resp, out := chat(); resp.StatusCode != 200 {
		t.Fatalf("after an organization's own key was rate limited, the shared deployment refused: %d %v", resp.StatusCode, out)
	}

	rec := tg.records(genID)[0]
	if !rec.BYOK || rec.BYOKCost <= 0 || rec.Cost <= 0 || rec.Cost >= rec.BYOKCost {
		t.Fatalf("record: %+v", rec)
	}
}

func errMsg(out map[string]any) string {
	msg, _ := errMessage(out)
	return msg
}

func idString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
