package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// twoModels adds a second model on the same provider, for allowed_models tests.
const twoModels = `
  - id: acme/tiny
    pricing: {prompt: "1", completion: "2"}
    deployments: [{provider: upstream, model: tiny}]
`

// call sends a Management API request with token and returns the status and decoded body.
func (tg *testGateway) call(method, path, token string, body any) (int, map[string]any) {
	tg.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			tg.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, tg.url+path, rd)
	if err != nil {
		tg.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tg.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		tg.t.Fatalf("%s %s: %d, body is not JSON: %s", method, path, resp.StatusCode, raw)
	}
	if resp.StatusCode >= 400 {
		e, _ := out["error"].(map[string]any)
		if code, _ := e["code"].(float64); int(code) != resp.StatusCode || e["message"] == "" {
			tg.t.Fatalf("%s %s: %d is not in the error shape: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// mustCall is call that fails the test unless the status is want.
func (tg *testGateway) mustCall(want int, method, path, token string, body any) map[string]any {
	tg.t.Helper()
	status, out := tg.call(method, path, token, body)
	if status != want {
		tg.t.Fatalf("%s %s: status %d, want %d: %v", method, path, status, want, out)
	}
	return out
}

// chatAs sends a chat completion with an inference token and returns the status and body.
func (tg *testGateway) chatAs(token, body string) (int, map[string]any) {
	tg.t.Helper()
	return tg.call(http.MethodPost, "/v1/chat/completions", token, body)
}

// data returns out["data"] as an object.
func data(out map[string]any) map[string]any {
	d, _ := out["data"].(map[string]any)
	return d
}

// errMessage returns an error answer's message and metadata.
func errMessage(out map[string]any) (string, map[string]any) {
	e, _ := out["error"].(map[string]any)
	msg, _ := e["message"].(string)
	md, _ := e["metadata"].(map[string]any)
	return msg, md
}

// org is an organization made for a test: its id, its admin's management key.
type org struct {
	id    int64
	admin string
}

// newOrg creates an organization administered by a new user of its own (the instance admin
// creates it, invites that user as admin, and leaves), so that organizations made by one test
// share no member. It returns the new admin's management key acting in it.
func (tg *testGateway) newOrg(name string, credits float64) org {
	tg.t.Helper()
	out := tg.mustCall(201, "POST", "/v1/orgs", tg.adminToken, map[string]any{"name": name})
	founder := org{id: int64(data(out)["id"].(float64)), admin: out["management_key"].(string)}
	token, _ := tg.addMember(founder, "admin@"+strings.ToLower(name)+".test", "admin")
	tg.mustCall(200, "DELETE", membersPath(founder)+"/"+strconv.FormatInt(tg.admin.ID, 10), founder.admin, nil)
	o := org{id: founder.id, admin: token}
	if credits > 0 {
		tg.grant(o, credits)
	}
	return o
}

// grant adds credits to o, as only the instance admin may.
func (tg *testGateway) grant(o org, usd float64) {
	tg.t.Helper()
	tg.mustCall(200, "POST", "/v1/credits", tg.adminToken, map[string]any{"amount": usd, "organization_id": o.id})
}

// addMember adds a new user to o, redeems the invitation as the new member does (without a
// key) and returns their management key and user id.
func (tg *testGateway) addMember(o org, email, role string) (string, int64) {
	tg.t.Helper()
	out := tg.mustCall(201, "POST", membersPath(o), o.admin, map[string]any{"email": email, "role": role})
	user := data(out)["user"].(map[string]any)
	return tg.redeem(invitationCode(tg.t, out), ""), int64(user["id"].(float64))
}

// redeem redeems an invitation code, with a management key of the invited user or none ("")
// for a new account, and returns the new management key.
func (tg *testGateway) redeem(code, token string) string {
	tg.t.Helper()
	return tg.mustCall(201, "POST", "/v1/invitations/redeem", token, map[string]any{"code": code})["key"].(string)
}

// invitationCode returns the invitation code of an answer of POST /v1/orgs/{id}/members.
func invitationCode(t testing.TB, out map[string]any) string {
	t.Helper()
	inv, _ := out["invitation"].(map[string]any)
	code, _ := inv["code"].(string)
	if !strings.HasPrefix(code, "sk-ar-inv-v1-") {
		t.Fatalf("no invitation code in %v", out)
	}
	return code
}

func membersPath(o org) string {
	return "/v1/orgs/" + strconv.FormatInt(o.id, 10) + "/members"
}

// createKey creates an inference key with the given fields and returns its token and hash.
func (tg *testGateway) createKey(mgmt string, fields map[string]any) (string, string) {
	tg.t.Helper()
	out := tg.mustCall(201, "POST", "/v1/keys", mgmt, fields)
	return out["key"].(string), data(out)["hash"].(string)
}
