package main

import (
	"context"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/config"
	"github.com/arouter/arouter/health"
	"github.com/arouter/arouter/proxy"
)

// startProber starts active health probes: a GET of each provider's models list, which every
// OpenAI-compatible server answers cheaply without generating anything.
func (g *gateway) startProber(cat *catalog.Catalog, providers []proxy.ProviderOptions) (*health.Prober, error) {
	var targets []health.ProbeTarget
	for i, p := range providers {
		cp := &g.cfg.Providers[i]
		t := health.ProbeTarget{Provider: p.ID, Probe: modelsProbe(p, cp), Disabled: !*cp.Probe}
		for _, d := range cat.Deployments() {
			if d.Provider == p.ID {
				t.Deployments = append(t.Deployments, d.Index)
			}
		}
		if len(t.Deployments) > 0 {
			targets = append(targets, t)
		}
	}
	pr, err := health.NewProber(g.health, targets, health.ProberOptions{
		Interval: g.cfg.Routing.Probes.Interval,
		Timeout:  g.cfg.Routing.Probes.Timeout,
		Metrics:  g.metrics,
		Logger:   g.log,
	})
	if err != nil {
		return nil, err
	}
	pr.Start()
	return pr, nil
}

// modelsProbe GETs the provider's models list with its key: base_url/models for OpenAI's API,
// /v1/models for Anthropic's, /v1beta/models for Gemini's (the built-in mock serves OpenAI's
// list whatever wire it speaks). Any 2xx is healthy; a 401 counts as a failure too, since
// requests with that key would fail the same way.
func modelsProbe(p proxy.ProviderOptions, cp *config.Provider) health.ProbeFunc {
	client := &fasthttp.Client{Name: "arouter-probe", NoDefaultUserAgentHeader: true, MaxConnsPerHost: 2}
	url := p.BaseURL + "/models"
	switch {
	case cp.Kind == config.KindMock && p.Adapter != nil:
		url = p.BaseURL + "/v1/models"
	case cp.Kind == config.KindAnthropic:
		url = p.BaseURL + "/v1/models"
	case cp.Kind == config.KindGemini:
		url = p.BaseURL + "/v1beta/models"
	}
	return func(ctx context.Context) error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer func() {
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}()
		req.SetRequestURI(url)
		switch {
		case p.Adapter != nil && cp.Kind != config.KindMock:
			p.Adapter.SetAuth(&req.Header, p.APIKey)
			req.Header.SetMethod(fasthttp.MethodGet)
		case p.APIKey != "":
			req.Header.Set("Authorization", "Bearer "+p.APIKey)
		}
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(5 * time.Second)
		}
		if err := client.DoDeadline(req, resp, deadline); err != nil {
			return err
		}
		if c := resp.StatusCode(); c < 200 || c > 299 {
			return fmt.Errorf("GET %s: HTTP %d", url, c)
		}
		return nil
	}
}
