package main

import (
	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/dashboard"
	"github.com/arouter/arouter/proxy"
)

// sideRoutes puts several off-hot-path handlers (the Management API, the dashboard) behind the
// proxy's one ManagementAPI hook: the first that Handles a path serves it.
type sideRoutes []proxy.ManagementAPI

var _ proxy.ManagementAPI = sideRoutes(nil)

func (r sideRoutes) Handles(path []byte) bool {
	for _, h := range r {
		if h.Handles(path) {
			return true
		}
	}
	return false
}

func (r sideRoutes) Handle(ctx *fasthttp.RequestCtx) {
	for _, h := range r {
		if h.Handles(ctx.Path()) {
			h.Handle(ctx)
			return
		}
	}
}

// managementRoutes serves the Management API and, beside it, the web console that calls it.
func managementRoutes(api proxy.ManagementAPI) proxy.ManagementAPI {
	return sideRoutes{api, dashboard.New()}
}
