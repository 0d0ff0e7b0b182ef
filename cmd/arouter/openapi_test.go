package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// openAPIPath is the Management API's OpenAPI description, relative to this package.
const openAPIPath = "../../docs/openapi.yaml"

// loadOpenAPI loads and validates the OpenAPI document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(openAPIPath)
	if err != nil {
		t.Fatalf("load %s: %v", openAPIPath, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", openAPIPath, err)
	}
	return doc
}

// TestOpenAPIDocumentIsValid checks the document itself: valid OpenAPI 3.0 (examples included,
// which kin-openapi validates against their schemas), every operation named and described, every
// request body closed to unknown fields, every response with an example, and the answers every
// Management API operation can give (401, 403 for inference keys, 503) documented everywhere.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi: %q, want 3.0.3", doc.OpenAPI)
	}
	for _, name := range []string{"managementKey", "inferenceKey"} {
		if s := doc.Components.SecuritySchemes[name]; s == nil || s.Value.Type != "http" || s.Value.Scheme != "bearer" {
			t.Errorf("security scheme %s is not a bearer scheme", name)
		}
	}
	operationIDs := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.OperationID == "" || op.Summary == "" || op.Description == "" || len(op.Tags) == 0 {
				t.Errorf("%s: needs an operationId, a summary, a description and a tag", name)
			}
			if operationIDs[op.OperationID] {
				t.Errorf("%s: operationId %s is used twice", name, op.OperationID)
			}
			operationIDs[op.OperationID] = true
			want := []int{401, 503}
			if name != "GET /v1/key" && name != "GET /v1/generation" { // both take inference keys
				want = append(want, 403)
			}
			for _, status := range want {
				if op.Responses.Status(status) == nil {
					t.Errorf("%s: does not document %d", name, status)
				}
			}
			if rb := op.RequestBody; rb != nil {
				mt := rb.Value.Content.Get("application/json")
				if mt == nil {
					t.Errorf("%s: request body is not application/json", name)
					continue
				}
				checkClosed(t, name+" request body", mt.Schema, map[*openapi3.Schema]bool{})
			}
			for status, r := range op.Responses.Map() {
				checkExamples(t, name+" "+status, r.Value)
			}
		}
	}
	for name, r := range doc.Components.Responses {
		checkExamples(t, "response "+name, r.Value)
	}
}

// checkClosed fails unless every object schema in s rejects unknown properties.
func checkClosed(t *testing.T, where string, s *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) {
	t.Helper()
	if s == nil || s.Value == nil || seen[s.Value] {
		return
	}
	seen[s.Value] = true
	v := s.Value
	if v.Type.Is("object") {
		if v.AdditionalProperties.Has == nil || *v.AdditionalProperties.Has {
			t.Errorf("%s: an object schema does not set additionalProperties: false", where)
		}
	}
	for _, p := range v.Properties {
		checkClosed(t, where, p, seen)
	}
	checkClosed(t, where, v.Items, seen)
}

// checkExamples fails unless every content of r has an example.
func checkExamples(t *testing.T, where string, r *openapi3.Response) {
	t.Helper()
	for ct, mt := range r.Content {
		if mt.Example == nil && len(mt.Examples) == 0 {
			t.Errorf("%s %s: no example", where, ct)
		}
	}
}

// closeResponseObjects makes every object schema with properties reject unknown ones, unless it
// says otherwise. The document leaves answers open, so that clients tolerate fields added later;
// the test closes them, so that a field the gateway adds or renames without the document fails.
func closeResponseObjects(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(*openapi3.SchemaRef)
	walk = func(s *openapi3.SchemaRef) {
		if s == nil || s.Value == nil || seen[s.Value] {
			return
		}
		v := s.Value
		seen[v] = true
		if v.Type.Is("object") && len(v.Properties) > 0 && v.AdditionalProperties.Has == nil && v.AdditionalProperties.Schema == nil {
			closed := false
			v.AdditionalProperties.Has = &closed
		}
		for _, p := range v.Properties {
			walk(p)
		}
		walk(v.Items)
		for _, list := range []openapi3.SchemaRefs{v.AllOf, v.AnyOf, v.OneOf} {
			for _, x := range list {
				walk(x)
			}
		}
	}
	for _, s := range doc.Components.Schemas {
		walk(s)
	}
}

// specClient calls a real gateway and checks every exchange against the OpenAPI document.
type specClient struct {
	t      *testing.T
	tg     *testGateway
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
	// seen records, per documented operation ("GET /v1/keys/{hash}"), the statuses it answered.
	seen map[string]map[int]bool
	// components records the component responses checked by against.
	components map[string]bool
}

// emailFormat checks format: email as the gateway does: a bare address, as net/mail parses it.
type emailFormat struct{}

func (emailFormat) Validate(s string) error {
	if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
		return fmt.Errorf("%q is not a bare email address", s)
	}
	return nil
}

func newSpecClient(t *testing.T, tg *testGateway) *specClient {
	t.Helper()
	doc := loadOpenAPI(t)
	closeResponseObjects(doc)
	doc.Servers = openapi3.Servers{{URL: tg.url}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	// A bearer scheme's token must have the form of the token schema named for it.
	tokens := map[string]*openapi3.Schema{
		"managementKey": doc.Components.Schemas["ManagementToken"].Value,
		"inferenceKey":  doc.Components.Schemas["InferenceToken"].Value,
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus:             true,
		MultiError:                        true,
		RejectWhenRequestBodyNotSpecified: true,
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			token, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
			if !ok {
				return in.NewError(errors.New("no bearer token"))
			}
			if err := tokens[in.SecuritySchemeName].VisitJSON(token); err != nil {
				return in.NewError(err)
			}
			return nil
		},
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidator("email", emailFormat{})},
	}
	return &specClient{t: t, tg: tg, doc: doc, router: router, opts: opts,
		seen: map[string]map[int]bool{}, components: map[string]bool{}}
}

// request builds a request; body is nil (no body), a string (sent as it is) or a value to encode.
func (c *specClient) request(method, path, token string, body any) *http.Request {
	c.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.tg.url+path, bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// roundTrip sends req over loopback and returns the status, headers and raw body.
func (c *specClient) roundTrip(req *http.Request) (int, http.Header, []byte) {
	c.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

// ok sends a request the document describes as valid and checks the answer (status want).
func (c *specClient) ok(want int, method, path, token string, body any) map[string]any {
	c.t.Helper()
	return c.send(want, true, method, path, token, body)
}

// bad sends a request that the document itself must reject (a wrong type, an unknown field, a
// missing key...) and checks that the gateway refuses it too, with an answer the document
// describes.
func (c *specClient) bad(want int, method, path, token string, body any) map[string]any {
	c.t.Helper()
	return c.send(want, false, method, path, token, body)
}

func (c *specClient) send(want int, valid bool, method, path, token string, body any) map[string]any {
	c.t.Helper()
	ctx := context.Background()
	req := c.request(method, path, token, body)
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Fatalf("%s %s: no operation of the document matches: %v", method, path, err)
	}
	op := route.Method + " " + route.Path
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: c.opts}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	switch {
	case valid && reqErr != nil:
		c.t.Errorf("%s %s %v: the document rejects this request: %v", method, path, body, reqErr)
	case !valid && reqErr == nil:
		c.t.Errorf("%s %s %v: the document accepts this request, which the test expects the gateway to refuse with %d", method, path, body, want)
	}

	status, header, raw := c.roundTrip(c.request(method, path, token, body))
	if c.seen[op] == nil {
		c.seen[op] = map[int]bool{}
	}
	c.seen[op][status] = true
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: c.opts}
	rin.SetBodyBytes(raw)
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		c.t.Errorf("%s %s: the %d answer does not match the document: %v\n%s", method, path, status, err, raw)
	}
	if status != want {
		c.t.Fatalf("%s %s %v: status %d, want %d: %s", method, path, body, status, want, raw)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") { // a file: the caller checks it
		return map[string]any{"body": string(raw), "content-type": ct, "content-disposition": header.Get("Content-Disposition")}
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: %d answer is not a JSON object: %s", method, path, status, raw)
	}
	return out
}

// against sends a request that no operation of the document describes (an unknown endpoint, a
// method an endpoint does not serve, an inference request) and checks the answer against the
// component response named, headers included.
func (c *specClient) against(name string, want int, method, path, token string, body any) http.Header {
	c.t.Helper()
	if route, _, err := c.router.FindRoute(c.request(method, path, token, body)); err == nil {
		c.t.Fatalf("%s %s is documented as %s %s", method, path, route.Method, route.Path)
	}
	ref := c.doc.Components.Responses[name]
	if ref == nil {
		c.t.Fatalf("no component response %s", name)
	}
	r := ref.Value
	status, header, raw := c.roundTrip(c.request(method, path, token, body))
	if status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, raw)
	}
	c.components[name] = true
	for h, hr := range r.Headers {
		v := header.Get(h)
		if v == "" {
			if hr.Value.Required {
				c.t.Errorf("%s %s: no %s header, which %s requires", method, path, h, name)
			}
			continue
		}
		if err := hr.Value.Schema.Value.VisitJSON(v); err != nil {
			c.t.Errorf("%s %s: header %s: %v", method, path, h, err)
		}
	}
	mt := r.Content.Get(header.Get("Content-Type"))
	if mt == nil {
		c.t.Fatalf("%s %s: content type %q is not documented for %s", method, path, header.Get("Content-Type"), name)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		c.t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
	}
	if err := mt.Schema.Value.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
		c.t.Errorf("%s %s: the %d answer does not match %s: %v\n%s", method, path, status, name, err, raw)
	}
	return header
}

// checkCoverage fails for every documented operation the test never called, every status an
// operation documents that it never answered (503, a store outage, excepted) and every
// component response that no operation refers to and the test never checked.
func (c *specClient) checkCoverage() {
	c.t.Helper()
	referenced := map[string]bool{}
	var missing []string
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if c.seen[name] == nil {
				missing = append(missing, name+": never called")
				continue
			}
			for status, r := range op.Responses.Map() {
				if r.Ref != "" {
					referenced[strings.TrimPrefix(r.Ref, "#/components/responses/")] = true
				}
				code, err := strconv.Atoi(status)
				if err != nil {
					missing = append(missing, name+": status "+status+" is not a status code")
					continue
				}
				if code != http.StatusServiceUnavailable && !c.seen[name][code] {
					missing = append(missing, fmt.Sprintf("%s: documents %d, never answered it", name, code))
				}
			}
		}
	}
	for name := range c.doc.Components.Responses {
		if !referenced[name] && !c.components[name] {
			missing = append(missing, "component response "+name+": neither referenced nor checked")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		c.t.Error(m)
	}
}

// TestOpenAPIMatchesImplementation runs every operation of docs/openapi.yaml against a real
// gateway, happy paths and refusals, and validates every request and answer with kin-openapi:
// the document must accept the requests the gateway serves, reject those the test sends as
// invalid, and describe every answer exactly (closed objects, so a renamed or added field fails).
func TestOpenAPIMatchesImplementation(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{extraYAML: twoModels})
	c := newSpecClient(t, tg)
	admin := tg.adminToken // the instance admin, acting in their personal context
	id := func(v any) int64 { return int64(v.(float64)) }
	future := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	const zeros = "0000000000000000000000000000000000000000000000000000000000000000"

	// Identity.
	me := data(c.ok(200, "GET", "/v1/me", admin, nil))
	personal := id(me["organization"].(map[string]any)["id"])
	adminID := id(me["user"].(map[string]any)["id"])
	if me["role"] != "admin" {
		t.Errorf("the instance admin's role in their personal context: %v", me["role"])
	}
	c.ok(200, "GET", "/v1/orgs", admin, nil)

	// An organization: the instance admin creates it, invites Ann as its admin and leaves.
	out := c.ok(201, "POST", "/v1/orgs", admin, map[string]any{"name": "Acme"})
	org := id(data(out)["id"])
	founder := out["management_key"].(string)
	members := fmt.Sprintf("/v1/orgs/%d/members", org)
	member := func(uid int64) string { return fmt.Sprintf("%s/%d", members, uid) }
	c.bad(400, "POST", "/v1/orgs", admin, map[string]any{"name": ""})
	c.ok(400, "POST", "/v1/orgs", admin, map[string]any{"name": "a\nb"})     // would split a CSV or PDF row
	c.ok(400, "POST", "/v1/keys", admin, map[string]any{"name": "a\u0000b"}) // a NUL
	c.bad(400, "POST", "/v1/orgs", admin, map[string]any{"name": "x", "plan": "pro"})
	c.bad(400, "POST", "/v1/orgs", admin, "not json")

	out = c.ok(201, "POST", members, founder, map[string]any{"email": "ann@acme.test", "name": "Ann", "role": "admin"})
	annID := id(data(out)["user"].(map[string]any)["id"])
	ann := c.ok(201, "POST", "/v1/invitations/redeem", "", map[string]any{"code": invitationCode(t, out)})["key"].(string)
	out = c.ok(200, "DELETE", member(adminID), ann, nil)
	if out["keys_disabled"] != float64(0) {
		t.Errorf("the founder had no keys: %v", out)
	}
	c.ok(401, "GET", "/v1/me", founder, nil) // well formed, but no longer a member

	// Members.
	out = c.ok(201, "POST", members, ann, map[string]any{"email": "bob@acme.test"})
	bobID := id(data(out)["user"].(map[string]any)["id"])
	bob := c.ok(201, "POST", "/v1/invitations/redeem", "", map[string]any{"code": invitationCode(t, out), "name": "bob's laptop"})["key"].(string)
	if data(out)["role"] != "member" {
		t.Errorf("default role: %v", data(out)["role"])
	}
	out = c.ok(201, "POST", members, ann, map[string]any{"email": tg.admin.Email, "role": "member"})
	if _, ok := out["management_key"]; ok {
		t.Errorf("an existing user's management key was given to an Admin: %v", out)
	}
	adminInvitation := invitationCode(t, out) // redeemed below, with the instance admin's own key
	c.ok(409, "POST", members, ann, map[string]any{"email": "bob@acme.test"})
	c.bad(400, "POST", members, ann, map[string]any{"email": "bob"})
	c.bad(400, "POST", members, ann, map[string]any{"email": "Carol <carol@acme.test>"})
	c.bad(400, "POST", members, ann, map[string]any{"email": "carol@acme.test", "role": "owner"})
	c.bad(400, "POST", members, ann, map[string]any{"email": "carol@acme.test", "team": "red"})
	c.bad(400, "POST", members, ann, map[string]any{"role": "member"})
	c.ok(400, "POST", fmt.Sprintf("/v1/orgs/%d/members", personal), admin, map[string]any{"email": "carol@acme.test"})
	c.ok(403, "POST", members, bob, map[string]any{"email": "carol@acme.test"})
	c.ok(404, "POST", members, admin, map[string]any{"email": "carol@acme.test"}) // another organization
	c.ok(200, "GET", members, ann, nil)
	c.ok(403, "GET", members, bob, nil)
	c.ok(404, "GET", members, admin, nil)
	c.bad(404, "GET", "/v1/orgs/acme/members", ann, nil)

	c.ok(409, "PATCH", member(annID), ann, map[string]any{"role": "member"}) // the last admin
	c.ok(409, "DELETE", member(annID), ann, nil)
	out = c.ok(200, "PATCH", member(bobID), ann, map[string]any{"role": "admin"})
	if d := data(out); d["user"].(map[string]any)["id"] != float64(bobID) || d["role"] != "admin" {
		t.Errorf("PATCH role: %v", out)
	}
	c.ok(200, "PATCH", member(bobID), ann, map[string]any{"role": "member"})
	c.bad(400, "PATCH", member(bobID), ann, map[string]any{"role": "boss"})
	c.bad(400, "PATCH", member(bobID), ann, map[string]any{})
	c.bad(400, "PATCH", member(bobID), ann, map[string]any{"role": "admin", "until": "never"})
	c.ok(403, "PATCH", member(annID), bob, map[string]any{"role": "member"})
	c.ok(404, "PATCH", member(999999), ann, map[string]any{"role": "admin"})
	c.ok(404, "PATCH", member(bobID), admin, map[string]any{"role": "admin"}) // another organization
	c.bad(404, "PATCH", member(0), ann, map[string]any{"role": "admin"})
	c.ok(403, "DELETE", member(annID), bob, nil)
	c.ok(404, "DELETE", member(999999), ann, nil)
	c.ok(404, "DELETE", member(bobID), admin, nil)

	// Credits: granted by the instance admin (here to Acme, which it has left), read by Admins.
	grant := func(body string) string { return fmt.Sprintf(`{"organization_id": %d, %s}`, org, body) }
	if got := data(c.ok(200, "POST", "/v1/credits", admin, grant(`"amount": 10`)))["total_credits"]; got != float64(10) {
		t.Errorf("credits after a grant of 10: %v", got)
	}
	c.ok(200, "POST", "/v1/credits", admin, grant(`"amount": 0.000000001`)) // the smallest amount
	c.ok(200, "POST", "/v1/credits", admin, grant(`"amount": 1e-9`))        // as some encoders write it
	c.ok(400, "POST", "/v1/credits", admin, grant(`"amount": 1e-10`))       // below a nano-dollar
	c.ok(200, "POST", "/v1/credits", admin, map[string]any{"amount": 1})    // its own context
	c.ok(404, "POST", "/v1/credits", admin, map[string]any{"amount": 1, "organization_id": 999999})
	c.ok(200, "GET", "/v1/credits", ann, nil)
	c.ok(403, "GET", "/v1/credits", bob, nil)
	c.ok(403, "POST", "/v1/credits", bob, map[string]any{"amount": 1})
	c.ok(403, "POST", "/v1/credits", ann, map[string]any{"amount": 1}) // an Admin, not the operator
	for _, body := range []any{
		map[string]any{"amount": -1},
		map[string]any{"amount": 0},
		map[string]any{"amount": "5"},
		map[string]any{"amount": 2000000},
		map[string]any{"amount": 1, "currency": "EUR"},
		map[string]any{"amount": 1, "organization_id": "acme"},
		map[string]any{"amount": 1, "organization_id": -1},
		map[string]any{},
		"[1]",
	} {
		c.bad(400, "POST", "/v1/credits", admin, body)
	}

	// Keys.
	expires := future(90 * 24 * time.Hour)
	out = c.ok(201, "POST", "/v1/keys", ann, map[string]any{"name": "production", "limit": 5, "limit_reset": "monthly",
		"allowed_models": []string{"acme/*"}, "expires_at": expires, "include_byok_in_limit": false})
	prodToken, prodHash := out["key"].(string), data(out)["hash"].(string)
	if d := data(out); d["limit_reset"] != "monthly" || d["expires_at"] != expires || d["limit_remaining"] != float64(5) {
		t.Errorf("created key: %v", d)
	}
	out = c.ok(201, "POST", "/v1/keys", ann, map[string]any{"name": "ci"})
	ciToken, ciHash := out["key"].(string), data(out)["hash"].(string)
	if d := data(out); d["limit"] != nil || d["limit_reset"] != nil || d["expires_at"] != nil || len(d["allowed_models"].([]any)) != 0 {
		t.Errorf("a key created with a name only: %v", d)
	}
	out = c.ok(201, "POST", "/v1/keys", bob, map[string]any{"name": "bob's", "limit": nil, "limit_reset": nil,
		"allowed_models": nil, "expires_at": nil})
	bobToken, bobHash := out["key"].(string), data(out)["hash"].(string)
	for _, body := range []any{
		map[string]any{"limit": 1},
		map[string]any{"name": "   "},
		map[string]any{"name": strings.Repeat("n", 201)},
		map[string]any{"name": "x", "colour": "red"},
		map[string]any{"name": "x", "limit": -1},
		map[string]any{"name": "x", "limit": "10"},
		map[string]any{"name": "x", "limit_reset": "hourly"},
		map[string]any{"name": "x", "limit_reset": ""},
		map[string]any{"name": "x", "expires_at": "next tuesday"},
		map[string]any{"name": "x", "allowed_models": "acme/*"},
		map[string]any{"name": "x", "include_byok_in_limit": "yes"},
		map[string]any{"name": "x", "disabled": true},
		`not json`,
	} {
		c.bad(400, "POST", "/v1/keys", ann, body)
	}
	c.ok(400, "POST", "/v1/keys", ann, map[string]any{"name": "x", "expires_at": "2001-01-01T00:00:00Z"})
	c.ok(400, "POST", "/v1/keys", ann, map[string]any{"name": "x", "allowed_models": []string{"nobody/*"}})

	if n := len(c.ok(200, "GET", "/v1/keys", ann, nil)["data"].([]any)); n != 3 {
		t.Errorf("Ann lists %d keys, want 3", n)
	}
	if n := len(c.ok(200, "GET", "/v1/keys", bob, nil)["data"].([]any)); n != 1 {
		t.Errorf("Bob, a Member, lists %d keys, want his own 1", n)
	}
	c.ok(200, "GET", "/v1/keys?offset=0&include_disabled=true", ann, nil)
	if n := len(c.ok(200, "GET", "/v1/keys?offset=100", ann, nil)["data"].([]any)); n != 0 {
		t.Errorf("page 2 has %d keys", n)
	}
	c.bad(400, "GET", "/v1/keys?offset=-1", ann, nil)
	c.bad(400, "GET", "/v1/keys?offset=first", ann, nil)
	c.bad(400, "GET", "/v1/keys?include_disabled=maybe", ann, nil)

	c.ok(200, "GET", "/v1/keys/"+prodHash, ann, nil)
	c.ok(200, "GET", "/v1/keys/"+bobHash, ann, nil)
	c.ok(200, "GET", "/v1/keys/"+bobHash, bob, nil)
	c.ok(404, "GET", "/v1/keys/"+prodHash, bob, nil)   // another member's key
	c.ok(404, "GET", "/v1/keys/"+prodHash, admin, nil) // another organization's key
	c.ok(404, "GET", "/v1/keys/"+zeros, ann, nil)
	c.bad(404, "GET", "/v1/keys/not-a-hash", ann, nil)

	// GET /v1/key: an inference key reads itself.
	if d := data(c.ok(200, "GET", "/v1/key", prodToken, nil)); d["hash"] != prodHash {
		t.Errorf("GET /v1/key: %v", d)
	}
	c.ok(401, "GET", "/v1/key", "sk-ar-v1-"+zeros, nil)
	c.bad(403, "GET", "/v1/key", admin, nil)
	c.bad(401, "GET", "/v1/key", "", nil)
	c.bad(401, "GET", "/v1/key", "garbage", nil)

	// PATCH: nulls clear, absent fields stay.
	out = c.ok(200, "PATCH", "/v1/keys/"+prodHash, ann, map[string]any{"name": "prod", "limit": nil, "limit_reset": nil,
		"allowed_models": nil, "expires_at": nil, "include_byok_in_limit": true})
	if d := data(out); d["name"] != "prod" || d["limit"] != nil || d["limit_remaining"] != nil || d["limit_reset"] != nil ||
		d["expires_at"] != nil || len(d["allowed_models"].([]any)) != 0 || d["include_byok_in_limit"] != true {
		t.Errorf("PATCH with nulls: %v", d)
	}
	out = c.ok(200, "PATCH", "/v1/keys/"+prodHash, ann, map[string]any{"limit": 7.5, "limit_reset": "weekly",
		"allowed_models": []string{"openai/gpt-4o-mini", "acme/*"}, "expires_at": "2099-01-01T00:00:00+02:00", "disabled": false})
	if d := data(out); d["limit"] != 7.5 || d["limit_reset"] != "weekly" || d["expires_at"] != "2098-12-31T22:00:00Z" || d["name"] != "prod" {
		t.Errorf("PATCH: %v", d)
	}
	for _, body := range []any{
		map[string]any{"disabled": "no"},
		map[string]any{"disabled": nil},
		map[string]any{"name": nil},
		map[string]any{"enabled": true},
		map[string]any{"limit": -0.5},
		map[string]any{"limit_reset": "yearly"},
		map[string]any{"expires_at": "tomorrow"},
		`[]`,
	} {
		c.bad(400, "PATCH", "/v1/keys/"+prodHash, ann, body)
	}
	c.ok(400, "PATCH", "/v1/keys/"+prodHash, ann, map[string]any{"allowed_models": []string{"nobody/*"}})
	c.ok(404, "PATCH", "/v1/keys/"+prodHash, bob, map[string]any{"name": "mine"})
	c.ok(404, "PATCH", "/v1/keys/"+prodHash, admin, map[string]any{"disabled": true})
	c.ok(404, "PATCH", "/v1/keys/"+zeros, ann, map[string]any{"disabled": true})

	// A disabled key: refused, and listed only on request.
	if d := data(c.ok(200, "PATCH", "/v1/keys/"+bobHash, ann, map[string]any{"disabled": true})); d["disabled"] != true {
		t.Errorf("disable: %v", d)
	}
	c.ok(401, "GET", "/v1/key", bobToken, nil)
	if n := len(c.ok(200, "GET", "/v1/keys?include_disabled=true", ann, nil)["data"].([]any)); n != 3 {
		t.Errorf("with include_disabled: %d keys, want 3", n)
	}
	if n := len(c.ok(200, "GET", "/v1/keys", ann, nil)["data"].([]any)); n != 2 {
		t.Errorf("without include_disabled: %d keys, want 2", n)
	}

	// Rotation with a grace period: both tokens work, and the keys share one budget.
	grace := future(time.Hour)
	out = c.ok(201, "POST", "/v1/keys/"+prodHash+"/rotate", ann, map[string]any{"old_key_expires_at": grace})
	newToken, newHash := out["key"].(string), data(out)["hash"].(string)
	prev := out["previous"].(map[string]any)
	if newHash == prodHash || prev["hash"] != prodHash || prev["expires_at"] != grace || data(out)["name"] != "prod" ||
		data(out)["limit"] != 7.5 {
		t.Errorf("rotation: %v", out)
	}
	c.ok(200, "GET", "/v1/key", prodToken, nil)
	// OpenRouter's SDKs require these of the current key (they validate the answer).
	if k := data(c.ok(200, "GET", "/v1/key", newToken, nil)); k["is_free_tier"] != false || k["is_provisioning_key"] != false ||
		k["is_management_key"] != false || k["rate_limit"].(map[string]any)["requests"] != float64(-1) {
		t.Errorf("GET /v1/key lacks OpenRouter's current-key fields: %v", k)
	}
	// Without a grace period the old token stops at once.
	out = c.ok(201, "POST", "/v1/keys/"+ciHash+"/rotate", ann, nil)
	c.ok(401, "GET", "/v1/key", ciToken, nil)
	c.ok(200, "GET", "/v1/key", out["key"].(string), nil)
	// Neither an expired key nor one in its grace period is rotated again: the successor would
	// inherit its expiry. Its successor is the key to rotate.
	if msg, _ := errMessage(c.ok(409, "POST", "/v1/keys/"+ciHash+"/rotate", ann, nil)); !strings.Contains(msg, "expired") {
		t.Errorf("rotating an expired key: %q", msg)
	}
	if msg, _ := errMessage(c.ok(409, "POST", "/v1/keys/"+prodHash+"/rotate", ann, nil)); !strings.Contains(msg, "successor") {
		t.Errorf("rotating a key in its grace period: %q", msg)
	}
	c.ok(201, "POST", "/v1/keys/"+data(out)["hash"].(string)+"/rotate", ann, map[string]any{"old_key_expires_at": nil})
	c.ok(400, "POST", "/v1/keys/"+newHash+"/rotate", ann, map[string]any{"old_key_expires_at": future(40 * 24 * time.Hour)})
	c.ok(400, "POST", "/v1/keys/"+newHash+"/rotate", ann, map[string]any{"old_key_expires_at": "2001-01-01T00:00:00Z"})
	c.bad(400, "POST", "/v1/keys/"+newHash+"/rotate", ann, map[string]any{"old_key_expires_at": "in an hour"})
	c.bad(400, "POST", "/v1/keys/"+newHash+"/rotate", ann, map[string]any{"grace": "1h"})
	c.ok(404, "POST", "/v1/keys/"+newHash+"/rotate", bob, nil)
	c.ok(404, "POST", "/v1/keys/"+newHash+"/rotate", admin, nil)
	c.ok(404, "POST", "/v1/keys/"+zeros+"/rotate", ann, map[string]any{})

	// Deletion.
	if out := c.ok(200, "DELETE", "/v1/keys/"+prodHash, ann, nil); out["deleted"] != true {
		t.Errorf("DELETE: %v", out)
	}
	c.ok(401, "GET", "/v1/key", prodToken, nil)
	c.ok(200, "GET", "/v1/key", newToken, nil)
	c.ok(404, "DELETE", "/v1/keys/"+prodHash, ann, nil)
	c.ok(404, "DELETE", "/v1/keys/"+newHash, bob, nil)
	c.ok(404, "DELETE", "/v1/keys/"+newHash, admin, nil)
	c.bad(404, "DELETE", "/v1/keys/"+strings.ToUpper(zeros[:63])+"g", ann, nil)

	// Management keys: switching context.
	out = c.ok(201, "POST", "/v1/management-keys", ann, nil)
	if d := data(out); d["organization_id"] != float64(org) || d["user_id"] != float64(annID) || d["name"] != "management key" {
		t.Errorf("management key: %v", out)
	}
	c.ok(200, "GET", "/v1/me", out["key"].(string), nil)
	// Not for another organization, even one the user belongs to: that takes an invitation.
	c.ok(403, "POST", "/v1/management-keys", admin, map[string]any{"name": "acme", "organization_id": org})
	c.ok(403, "POST", "/v1/management-keys", bob, map[string]any{"organization_id": personal})
	c.ok(201, "POST", "/v1/management-keys", admin, map[string]any{"organization_id": personal})
	var annPersonal int64
	for _, o := range c.ok(200, "GET", "/v1/orgs", ann, nil)["data"].([]any) {
		if o := o.(map[string]any); o["personal"] == true {
			annPersonal = id(o["id"])
		}
	}
	if d := data(c.ok(201, "POST", "/v1/management-keys", ann, map[string]any{"organization_id": annPersonal})); id(d["organization_id"]) != annPersonal {
		t.Errorf("Ann's key for her personal context: %v", d)
	}

	// Invitations: the instance admin, an existing account with keys, redeems with one of them.
	redeem := func(code string) map[string]any { return map[string]any{"code": code} }
	c.ok(401, "POST", "/v1/invitations/redeem", "", redeem(adminInvitation))
	c.ok(403, "POST", "/v1/invitations/redeem", ann, redeem(adminInvitation)) // another user's key
	c.ok(401, "POST", "/v1/invitations/redeem", "sk-ar-mgmt-v1-"+zeros, redeem(adminInvitation))
	out = c.ok(201, "POST", "/v1/invitations/redeem", admin, redeem(adminInvitation))
	if d := data(c.ok(200, "GET", "/v1/me", out["key"].(string), nil)); d["role"] != "member" ||
		id(d["organization"].(map[string]any)["id"]) != org {
		t.Errorf("the instance admin acting in Acme: %v", d)
	}
	c.ok(404, "POST", "/v1/invitations/redeem", admin, redeem(adminInvitation)) // used
	c.ok(404, "POST", "/v1/invitations/redeem", "", redeem("sk-ar-inv-v1-"+zeros))
	c.bad(400, "POST", "/v1/invitations/redeem", "", map[string]any{})
	c.bad(400, "POST", "/v1/invitations/redeem", "", redeem("sk-ar-mgmt-v1-"+zeros))
	c.bad(400, "POST", "/v1/invitations/redeem", "", map[string]any{"code": "sk-ar-inv-v1-" + zeros, "org": 1})
	c.bad(400, "POST", "/v1/invitations/redeem", "", map[string]any{"code": "sk-ar-inv-v1-" + zeros, "name": ""})
	c.against("NotFound", 404, "GET", "/v1/invitations", "", nil)
	if h := c.against("MethodNotAllowed", 405, "GET", "/v1/invitations/redeem", "", nil); h.Get("Allow") != "POST" {
		t.Errorf("GET /v1/invitations/redeem: Allow %q", h.Get("Allow"))
	}
	c.bad(400, "POST", "/v1/management-keys", ann, map[string]any{"organization_id": strconv.FormatInt(org, 10)})
	c.bad(400, "POST", "/v1/management-keys", ann, map[string]any{"organization_id": -1})
	c.bad(400, "POST", "/v1/management-keys", ann, map[string]any{"name": ""})
	c.bad(400, "POST", "/v1/management-keys", ann, map[string]any{"org": org})

	// Listing and revoking one's own management keys.
	extra := c.ok(201, "POST", "/v1/management-keys", ann, map[string]any{"name": "to revoke"})
	extraID := id(data(extra)["id"])
	listed := false
	for _, k := range c.ok(200, "GET", "/v1/management-keys", ann, nil)["data"].([]any) {
		listed = listed || id(k.(map[string]any)["id"]) == extraID
	}
	if !listed {
		t.Errorf("GET /v1/management-keys does not list key %d", extraID)
	}
	revoke := fmt.Sprintf("/v1/management-keys/%d", extraID)
	c.ok(404, "DELETE", revoke, bob, nil) // another user's key
	c.ok(200, "DELETE", revoke, ann, nil)
	c.ok(401, "GET", "/v1/me", extra["key"].(string), nil)
	c.ok(404, "DELETE", revoke, ann, nil) // already revoked
	c.bad(404, "DELETE", "/v1/management-keys/abc", ann, nil)

	// BYOK: the organization's own provider keys, Admins only, never returned.
	const providerKey = "sk-upstream-AcmeOwnKey-7f3a"
	out = c.ok(201, "POST", "/v1/byok", ann, map[string]any{"provider": "upstream", "key": providerKey, "mode": "only", "name": "acme upstream"})
	byokID := id(data(out)["id"])
	if d := data(out); d["label"] != "acme upstream …7f3a" || d["mode"] != "only" || d["provider"] != "upstream" {
		t.Errorf("created provider key: %v", d)
	}
	if cred, ok := tg.g.byokCache.Lookup(org, "upstream"); !ok || cred.Secret != providerKey || cred.ID != byokID {
		t.Errorf("the gateway's BYOK cache after POST: %+v, %v", cred, ok)
	}
	if list := c.ok(200, "GET", "/v1/byok", ann, nil)["data"].([]any); len(list) != 1 || id(list[0].(map[string]any)["id"]) != byokID {
		t.Errorf("GET /v1/byok: %v", list)
	}
	c.ok(409, "POST", "/v1/byok", ann, map[string]any{"provider": "upstream", "key": "sk-upstream-second-key"})
	c.ok(403, "GET", "/v1/byok", bob, nil)
	c.ok(403, "POST", "/v1/byok", bob, map[string]any{"provider": "upstream", "key": "sk-upstream-bobs-key"})
	c.ok(403, "DELETE", fmt.Sprintf("/v1/byok/%d", byokID), bob, nil)
	for _, body := range []any{
		map[string]any{"key": "sk-12345678"},
		map[string]any{"provider": "upstream"},
		map[string]any{"provider": "upstream", "key": "short"},
		map[string]any{"provider": "upstream", "key": 12345678},
		map[string]any{"provider": "upstream", "key": "sk-12345678", "mode": "always"},
		map[string]any{"provider": "upstream", "key": "sk-12345678", "name": ""},
		map[string]any{"provider": "upstream", "key": "sk-12345678", "secret": true},
		"not json",
	} {
		c.bad(400, "POST", "/v1/byok", ann, body)
	}
	c.ok(400, "POST", "/v1/byok", ann, map[string]any{"provider": "nobody", "key": "sk-12345678"})
	c.ok(400, "POST", "/v1/byok", ann, map[string]any{"provider": "upstream", "key": "sk-1234\r\nX-Evil: 1"})
	// Another organization's provider key is not found.
	theirs := id(data(c.ok(201, "POST", "/v1/byok", admin, map[string]any{"provider": "upstream", "key": "sk-upstream-personal-1"}))["id"])
	if n := len(c.ok(200, "GET", "/v1/byok", admin, nil)["data"].([]any)); n != 1 {
		t.Errorf("the instance admin's personal context lists %d provider keys, want its own 1", n)
	}
	c.ok(404, "DELETE", fmt.Sprintf("/v1/byok/%d", theirs), ann, nil)
	c.ok(404, "DELETE", fmt.Sprintf("/v1/byok/%d", byokID), admin, nil)
	c.ok(404, "DELETE", "/v1/byok/999999", ann, nil)
	c.bad(404, "DELETE", "/v1/byok/abc", ann, nil)
	if out := c.ok(200, "DELETE", fmt.Sprintf("/v1/byok/%d", byokID), ann, nil); out["deleted"] != true {
		t.Errorf("DELETE /v1/byok: %v", out)
	}
	if _, ok := tg.g.byokCache.Lookup(org, "upstream"); ok {
		t.Error("the gateway's BYOK cache still has a deleted provider key")
	}
	c.ok(404, "DELETE", fmt.Sprintf("/v1/byok/%d", byokID), ann, nil)

	// Removing a member disables their keys and ends their management access.
	if out := c.ok(200, "DELETE", member(bobID), ann, nil); out["keys_disabled"] != float64(1) {
		t.Errorf("removing Bob: %v", out)
	}
	c.ok(401, "GET", "/v1/me", bob, nil)

	// Every operation refuses a request without a key, and a key of the wrong kind.
	for path, item := range c.doc.Paths.Map() {
		concrete := strings.NewReplacer("{hash}", zeros, "{id}", strconv.FormatInt(org, 10), "{user_id}", strconv.FormatInt(annID, 10)).Replace(path)
		for method := range item.Operations() {
			if path == "/v1/invitations/redeem" { // a new account redeems without a key
				c.bad(400, method, concrete, "", nil)
				c.bad(403, method, concrete, newToken, nil)
				c.bad(401, method, concrete, "garbage", nil)
				continue
			}
			c.bad(401, method, concrete, "", nil)
			if path == "/v1/generation" { // takes either kind of key
				continue
			}
			if path == "/v1/key" {
				c.bad(403, method, concrete, ann, nil)
			} else {
				c.bad(403, method, concrete, newToken, nil)
			}
		}
	}

	// What no operation describes: unknown endpoints and methods, and the 402 of the inference
	// endpoints that GET /v1/key lets an application anticipate.
	if h := c.against("MethodNotAllowed", 405, "PUT", "/v1/keys", ann, map[string]any{"name": "x"}); h.Get("Allow") != "GET, POST" {
		t.Errorf("PUT /v1/keys: Allow %q", h.Get("Allow"))
	}
	if h := c.against("MethodNotAllowed", 405, "POST", "/v1/key", "", nil); h.Get("Allow") != "GET" {
		t.Errorf("POST /v1/key: Allow %q", h.Get("Allow"))
	}
	c.against("NotFound", 404, "GET", "/v1/keys/"+newHash+"/history", ann, nil)
	c.against("NotFound", 404, "GET", "/v1/orgs/"+strconv.FormatInt(org, 10)+"/settings", ann, nil)
	out = c.ok(201, "POST", "/v1/keys", ann, map[string]any{"name": "tiny budget", "limit": 0.00001, "allowed_models": []string{"acme/tiny"}})
	tiny := strings.Replace(chatBody, "openai/gpt-4o-mini", "acme/tiny", 1)
	if status, body := tg.chatAs(out["key"].(string), tiny); status != 200 {
		t.Fatalf("a request within the limit: %d %v", status, body)
	}
	c.against("PaymentRequired", 402, "POST", "/v1/chat/completions", out["key"].(string), tiny)
	if d := data(c.ok(200, "GET", "/v1/key", out["key"].(string), nil)); d["limit_remaining"] != float64(0) {
		t.Errorf("GET /v1/key after the limit is spent: %v", d)
	}

	checkActivityOperations(c, ann, admin, annID, members, newToken, newHash)
	checkPromptLogOperations(c, ann, admin, org, newToken)
	checkGenerationOperations(c, ann, admin, newToken)

	c.checkCoverage()
}
