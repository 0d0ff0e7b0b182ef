package main

import (
	"io"
	"strings"
	"time"

	"github.com/arouter/arouter/accounting"
)

// checkGenerationOperations runs GET /v1/generation against the OpenAPI document, for
// TestOpenAPIMatchesImplementation: ann administers the organization of inference key token,
// other acts in another context. Answers with every shape of record are validated: plain,
// streamed, cut at max_tokens, failed.
func checkGenerationOperations(c *specClient, ann, other, token string) {
	t, tg := c.t, c.tg
	t.Helper()
	tg.key = token
	request := func(body string) string {
		resp := tg.post(body)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return "/v1/generation?id=" + resp.Header.Get("X-Generation-Id")
	}
	plain := request(chatBody)
	if d := data(c.ok(200, "GET", plain, token, nil)); !strings.HasPrefix(d["upstream_id"].(string), "chatcmpl-") || d["finish_reason"] != "stop" {
		t.Errorf("GET %s: %v", plain, d)
	}
	c.ok(200, "GET", plain, ann, nil)
	c.ok(200, "GET", request(strings.Replace(streamBody, `"messages"`, `"max_tokens":2,"messages"`, 1)), token, nil)
	failed := request(`{"model":"openai/gpt-4o-mini","mock":{"fault":"status","fault_status":400},"messages":[{"role":"user","content":"hi"}]}`)
	if d := data(c.ok(200, "GET", failed, ann, nil)); d["upstream_id"] != nil || d["finish_reason"] != "error" {
		t.Errorf("GET %s: %v", failed, d)
	}
	c.ok(404, "GET", plain, other, nil)
	c.ok(404, "GET", "/v1/generation?id="+accounting.NewGenerationID(time.Now()).String(), ann, nil)
	c.ok(401, "GET", plain, "sk-ar-v1-"+strings.Repeat("0", 64), nil)
	c.bad(401, "GET", plain, "", nil)
	c.bad(400, "GET", "/v1/generation?id=gen-nope", ann, nil)
	c.bad(400, "GET", "/v1/generation", token, nil)
}
