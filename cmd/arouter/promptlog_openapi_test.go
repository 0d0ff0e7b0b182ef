package main

import (
	"fmt"
	"io"
	"strings"
)

// checkPromptLogOperations runs GET and PATCH /v1/orgs/{id} and GET /v1/generation/content
// against the OpenAPI document, for TestOpenAPIMatchesImplementation: ann administers
// organization orgID, other acts in another context, annToken is an inference key of orgID. It
// adds Dora, a Member.
func checkPromptLogOperations(c *specClient, ann, other string, orgID int64, annToken string) {
	t, tg := c.t, c.tg
	t.Helper()
	orgPath := fmt.Sprintf("/v1/orgs/%d", orgID)
	dora, _ := tg.addMember(org{id: orgID, admin: ann}, "dora@acme.test", "member")

	if d := data(c.ok(200, "GET", orgPath, dora, nil)); d["prompt_logging"] != false || d["role"] != "member" {
		t.Errorf("GET %s as a Member: %v", orgPath, d)
	}
	c.ok(404, "GET", orgPath, other, nil)
	c.bad(404, "GET", "/v1/orgs/acme", ann, nil)
	if d := data(c.ok(200, "PATCH", orgPath, ann, map[string]any{"prompt_logging": true})); d["prompt_logging"] != true || d["role"] != "admin" {
		t.Errorf("PATCH %s: %v", orgPath, d)
	}
	c.ok(200, "PATCH", orgPath, ann, map[string]any{"name": "Acme"})
	c.bad(400, "PATCH", orgPath, ann, map[string]any{})
	c.bad(400, "PATCH", orgPath, ann, map[string]any{"prompt_logging": "yes"})
	c.bad(400, "PATCH", orgPath, ann, map[string]any{"name": ""})
	c.bad(400, "PATCH", orgPath, ann, map[string]any{"logging": true})
	c.ok(403, "PATCH", orgPath, dora, map[string]any{"prompt_logging": false})
	c.ok(404, "PATCH", orgPath, other, map[string]any{"prompt_logging": false})

	// A logged request, read back by the Admin only.
	tg.key = annToken
	resp := tg.post(chatBody)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Generation-Id")
	tg.waitRecord(id)
	content := "/v1/generation/content?id=" + id
	d := data(c.ok(200, "GET", content, ann, nil))
	if !strings.Contains(d["request"].(string), "Say hello") || !strings.Contains(d["response"].(string), `"cost":`) {
		t.Errorf("GET %s: %v", content, d)
	}
	c.ok(404, "GET", content, dora, nil)
	c.ok(404, "GET", content, other, nil)
	c.bad(400, "GET", "/v1/generation/content?id=gen-nope", ann, nil)
	c.bad(400, "GET", "/v1/generation/content", ann, nil)
	c.ok(200, "PATCH", orgPath, ann, map[string]any{"prompt_logging": false})

	// A key's own opt-in.
	out := c.ok(201, "POST", "/v1/keys", ann, map[string]any{"name": "logged", "prompt_logging": true})
	if data(out)["prompt_logging"] != true {
		t.Errorf("created with prompt_logging: %v", out)
	}
	c.ok(200, "PATCH", "/v1/keys/"+data(out)["hash"].(string), ann, map[string]any{"prompt_logging": false})
	c.bad(400, "POST", "/v1/keys", ann, map[string]any{"name": "x", "prompt_logging": "on"})
}
