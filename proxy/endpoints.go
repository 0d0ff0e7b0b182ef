package proxy

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/health"
)

// HealthReader is the read side of health statistics, for the endpoints listing.
// health.Tracker implements it.
type HealthReader interface {
	Window(i int, s health.Span, now time.Time) health.Window
	Healthy(i int) bool
}

// endpointsPath matches /v1/models/{author}/{slug}/endpoints and returns the model id.
func endpointsModel(path string) (string, bool) {
	const prefix, suffix = "/v1/models/", "/endpoints"
	if !strings.HasPrefix(path, prefix) || !strings.HasSuffix(path, suffix) {
		return "", false
	}
	id := path[len(prefix) : len(path)-len(suffix)]
	return id, strings.Count(id, "/") == 1
}

// endpoints serves GET /v1/models/{author}/{slug}/endpoints (OpenRouter's shape, extended):
// each deployment of the model with its routing status, breaker state, uptime over 5 minutes,
// 30 minutes and a day, and latency and throughput percentiles. It is computed per call; it is
// a monitoring endpoint, not on the request path.
func (s *Server) endpoints(ctx *fasthttp.RequestCtx, m *catalog.Model) {
	type percentiles struct {
		P50 float64 `json:"p50"`
		P90 float64 `json:"p90,omitempty"`
		P99 float64 `json:"p99,omitempty"`
	}
	type window struct {
		Requests     int64       `json:"requests"`
		Errors       int64       `json:"errors"`
		Uptime       float64     `json:"uptime"`
		TTFBMs       percentiles `json:"ttfb_ms"`
		LatencyMs    percentiles `json:"latency_ms"`
		TokensPerSec percentiles `json:"throughput_tokens_per_second"`
	}
	type endpoint struct {
		Name          string            `json:"name"`
		Provider      string            `json:"provider_name"`
		UpstreamModel string            `json:"upstream_model"`
		Status        string            `json:"status"`
		StatusUntil   *string           `json:"status_until"`
		Breaker       string            `json:"breaker"`
		Healthy       bool              `json:"healthy"`
		UptimeLast5m  float64           `json:"uptime_last_5m"`
		UptimeLast30m float64           `json:"uptime_last_30m"`
		UptimeLast1d  float64           `json:"uptime_last_1d"`
		Windows       map[string]window `json:"windows"`
		Pricing       map[string]string `json:"pricing"`
		Weight        int               `json:"weight,omitempty"`
	}
	now := time.Now()
	out := make([]endpoint, 0, len(m.Deployments))
	for _, d := range m.Deployments {
		st := s.bal.Status(d, now)
		e := endpoint{
			Name: d.Name(), Provider: d.Provider, UpstreamModel: d.UpstreamModel,
			Status:  st.Reason.String(),
			Breaker: breakerName(s.bal.State(d)),
			Healthy: s.healthReader.Healthy(d.Index),
			Windows: map[string]window{},
			Pricing: map[string]string{"prompt": perToken(m.Prices.Prompt), "completion": perToken(m.Prices.Completion)},
		}
		if m.Policy == catalog.PolicyWeighted {
			e.Weight = d.Weight
		}
		if !st.Until.IsZero() {
			u := st.Until.UTC().Format(time.RFC3339)
			e.StatusUntil = &u
		}
		for _, span := range []health.Span{health.Span5m, health.Span30m, health.Span1d} {
			w := s.healthReader.Window(d.Index, span, now)
			e.Windows[span.String()] = window{
				Requests: w.Requests, Errors: w.Errors, Uptime: w.Availability,
				TTFBMs:       percentiles{ms(w.TTFBp50), ms(w.TTFBp90), ms(w.TTFBp99)},
				LatencyMs:    percentiles{P50: ms(w.LatencyP50)},
				TokensPerSec: percentiles{P50: w.TokensPerSecondP50},
			}
			switch span {
			case health.Span5m:
				e.UptimeLast5m = w.Availability
			case health.Span30m:
				e.UptimeLast30m = w.Availability
			default:
				e.UptimeLast1d = w.Availability
			}
		}
		out = append(out, e)
	}
	b, _ := json.Marshal(map[string]any{"data": map[string]any{
		"id": m.ID, "name": m.Name, "routing_policy": m.Policy.String(), "endpoints": out,
	}})
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	ctx.Response.SetBody(b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func breakerName(st gobreaker.State) string {
	switch st {
	case gobreaker.StateOpen:
		return "open"
	case gobreaker.StateHalfOpen:
		return "half-open"
	}
	return "closed"
}
