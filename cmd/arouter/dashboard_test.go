package main

import (
	"testing"

	"github.com/valyala/fasthttp"
)

type fakeAPI struct{ served *string }

func (fakeAPI) Handles(path []byte) bool      { return string(path) == "/v1/keys" }
func (f fakeAPI) Handle(*fasthttp.RequestCtx) { *f.served = "api" }

// The dashboard sits beside the Management API behind the proxy's one hook; each keeps its
// own paths and everything else stays unanswered (the proxy's 404).
func TestManagementRoutesServeDashboardBesideAPI(t *testing.T) {
	var served string
	r := managementRoutes(fakeAPI{&served})
	for path, want := range map[string]string{"/v1/keys": "api", "/dashboard/": "dashboard", "/dashboard": "dashboard", "/nope": ""} {
		served = ""
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(path)
		if r.Handles(ctx.Path()) != (want != "") {
			t.Errorf("Handles(%s) = %v", path, !(want != ""))
			continue
		}
		if want == "" {
			continue
		}
		r.Handle(&ctx)
		if want == "dashboard" {
			if ctx.Response.StatusCode() != 200 || len(ctx.Response.Header.Peek("Content-Security-Policy")) == 0 {
				t.Errorf("%s: status %d, CSP %q", path, ctx.Response.StatusCode(), ctx.Response.Header.Peek("Content-Security-Policy"))
			}
			continue
		}
		if served != want {
			t.Errorf("%s served by %q, want %q", path, served, want)
		}
	}
}
