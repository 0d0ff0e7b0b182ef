// Package dashboard serves the web console under /dashboard: a few hand-written HTML, CSS and
// JavaScript files embedded in the binary, so that `make run` serves it with nothing else
// installed. The pages hold no data of their own: the browser calls the Management API with
// the management key the user signs in with, so every role check is the API's.
//
// Only GET and HEAD of the embedded files are answered; everything else under /dashboard is
// 404 (no directory listings). Every answer carries a strict Content-Security-Policy (no
// inline script, no framing) and is never cached, since pages show one-time secrets.
package dashboard

import (
	"embed"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/valyala/fasthttp"
)

// Prefix is the path the console is served under.
const Prefix = "/dashboard"

//go:embed assets
var assets embed.FS

// Handler serves the embedded console. Its zero value is not usable; use New.
type Handler struct {
	files map[string]file // by path below Prefix, e.g. "/app.js"
}

type file struct {
	body        []byte
	contentType string
}

// securityHeaders go on every answer under Prefix, files and errors alike. connect-src 'self'
// lets the pages call the Management API on the same origin and nothing else; blob: in
// img-src is not needed since downloads go through an anchor with a Blob URL (a navigation).
var securityHeaders = [][2]string{
	{"Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
	{"Cache-Control", "no-store"},
	{"X-Frame-Options", "DENY"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
}

// New reads the embedded files once; serving then never touches the file system.
func New() *Handler {
	h := &Handler{files: map[string]file{}}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		h.files[strings.TrimPrefix(p, "assets")] = file{body: body, contentType: contentType(p)}
		return nil
	})
	if err != nil {
		panic("dashboard: reading embedded assets: " + err.Error()) // only a broken build gets here
	}
	return h
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// Handles reports whether path belongs to the console: /dashboard and everything below it.
func (h *Handler) Handles(p []byte) bool {
	s := string(p)
	return s == Prefix || strings.HasPrefix(s, Prefix+"/")
}

// Handle serves one request under Prefix.
func (h *Handler) Handle(ctx *fasthttp.RequestCtx) {
	for _, kv := range securityHeaders {
		ctx.Response.Header.Set(kv[0], kv[1])
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		writeError(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed; the dashboard answers GET and HEAD")
		return
	}
	rel := strings.TrimPrefix(string(ctx.Path()), Prefix)
	if rel == "" || rel == "/" {
		rel = "/index.html"
	}
	f, ok := h.files[rel]
	if !ok || rel != path.Clean(rel) {
		writeError(ctx, fasthttp.StatusNotFound, "no such dashboard page; open /dashboard/")
		return
	}
	ctx.Response.Header.SetContentType(f.contentType)
	ctx.Response.SetBodyRaw(f.body)
}

func writeError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString(msg + "\n")
}
