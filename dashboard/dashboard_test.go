package dashboard

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func serve(t *testing.T, method, path string) *fasthttp.Response {
	t.Helper()
	h := New()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	if !h.Handles(ctx.Path()) {
		t.Fatalf("Handles(%q) = false", path)
	}
	h.Handle(&ctx)
	resp := &fasthttp.Response{}
	ctx.Response.CopyTo(resp)
	return resp
}

func checkSecurityHeaders(t *testing.T, path string, r *fasthttp.Response) {
	t.Helper()
	csp := string(r.Header.Peek("Content-Security-Policy"))
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", path, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: Content-Security-Policy %q allows inline script or eval", path, csp)
	}
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-store",
	} {
		if got := string(r.Header.Peek(name)); got != want {
			t.Errorf("%s: %s = %q, want %q", path, name, got, want)
		}
	}
}

func TestAssetsServedWithContentTypes(t *testing.T) {
	for path, want := range map[string]string{
		"/dashboard":            "text/html; charset=utf-8",
		"/dashboard/":           "text/html; charset=utf-8",
		"/dashboard/index.html": "text/html; charset=utf-8",
		"/dashboard/app.js":     "text/javascript; charset=utf-8",
		"/dashboard/keys.js":    "text/javascript; charset=utf-8",
		"/dashboard/app.css":    "text/css; charset=utf-8",
	} {
		r := serve(t, "GET", path)
		if r.StatusCode() != 200 {
			t.Errorf("GET %s: status %d, want 200", path, r.StatusCode())
		}
		if got := string(r.Header.ContentType()); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, want)
		}
		if len(r.Body()) == 0 {
			t.Errorf("GET %s: empty body", path)
		}
		checkSecurityHeaders(t, path, r)
	}
}

// The page must work under its own CSP: no inline script or style, scripts loaded by URL.
func TestIndexHasNoInlineScript(t *testing.T) {
	body := string(serve(t, "GET", "/dashboard/").Body())
	if !strings.Contains(body, `<script type="module" src="/dashboard/app.js">`) {
		t.Errorf("index.html does not load /dashboard/app.js as a module")
	}
	if strings.Count(body, "<script") != 1 || strings.Contains(body, "style=") || strings.Contains(body, "<style") {
		t.Errorf("index.html has inline script or style, which the CSP blocks")
	}
}

// No asset may put API strings into the page as markup.
func TestNoInnerHTML(t *testing.T) {
	for p, f := range New().files {
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if strings.Contains(string(f.body), bad) {
				t.Errorf("%s uses %s", p, bad)
			}
		}
	}
}

func TestUnknownPathsAndDirectories404(t *testing.T) {
	for _, path := range []string{
		"/dashboard/nope.js", "/dashboard/assets/app.js", "/dashboard/assets/", "/dashboard/e2e/",
		"/dashboard/.hidden", "/dashboard/%2e%2e/dashboard/dashboard.go", "/dashboard/dashboard.go", "/dashboard/keys",
	} {
		r := serve(t, "GET", path)
		if r.StatusCode() != 404 {
			t.Errorf("GET %s: status %d, want 404", path, r.StatusCode())
		}
		if strings.Contains(string(r.Body()), "<a href") || strings.Contains(string(r.Body()), "app.js") {
			t.Errorf("GET %s: body looks like a listing: %q", path, r.Body())
		}
		checkSecurityHeaders(t, path, r)
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	r := serve(t, "POST", "/dashboard/")
	if r.StatusCode() != 405 || string(r.Header.Peek("Allow")) != "GET, HEAD" {
		t.Errorf("POST /dashboard/: status %d Allow %q, want 405 and GET, HEAD", r.StatusCode(), r.Header.Peek("Allow"))
	}
	if r := serve(t, "HEAD", "/dashboard/app.css"); r.StatusCode() != 200 {
		t.Errorf("HEAD /dashboard/app.css: status %d", r.StatusCode())
	}
}

func TestHandlesOnlyItsPrefix(t *testing.T) {
	h := New()
	for path, want := range map[string]bool{
		"/dashboard": true, "/dashboard/": true, "/dashboard/app.js": true,
		"/dashboards": false, "/v1/keys": false, "/": false,
	} {
		if got := h.Handles([]byte(path)); got != want {
			t.Errorf("Handles(%q) = %v, want %v", path, got, want)
		}
	}
}
