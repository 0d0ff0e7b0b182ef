package proxy

import (
	"strconv"

	"github.com/VictoriaMetrics/metrics"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/money"
)

// Process-wide metric handles with fixed names, built once so the request path only does atomic
// adds. Per-provider handles live on each upstream (see newUpstream) because their names depend
// on the configuration.
var (
	chatRequests        = metrics.NewCounter(`arouter_chat_requests_total{stream="false"}`)
	chatStreamRequests  = metrics.NewCounter(`arouter_chat_requests_total{stream="true"}`)
	chatDuration        = metrics.NewPrometheusHistogram(`arouter_chat_duration_seconds`)
	streamTTFB          = metrics.NewPrometheusHistogram(`arouter_stream_first_byte_seconds`)
	streamsInFlight     = metrics.NewGauge(`arouter_streams_in_flight`, nil)
	streamsCancelled    = metrics.NewCounter(`arouter_streams_cancelled_total`)
	streamsInterrupted  = metrics.NewCounter(`arouter_streams_interrupted_total`)
	accountingDrops     = metrics.NewCounter(`arouter_usage_records_not_enqueued_total`)
	tokensPrompt        = metrics.NewCounter(`arouter_tokens_total{kind="prompt"}`)
	tokensCompletion    = metrics.NewCounter(`arouter_tokens_total{kind="completion"}`)
	tokensReasoning     = metrics.NewCounter(`arouter_tokens_total{kind="reasoning"}`)
	tokensCached        = metrics.NewCounter(`arouter_tokens_total{kind="cached"}`)
	tokensCacheWrite    = metrics.NewCounter(`arouter_tokens_total{kind="cache_write"}`)
	costUSD             = metrics.NewFloatCounter(`arouter_cost_usd_total`)
	upstreamErrConnect  = metrics.NewCounter(`arouter_upstream_errors_total{reason="connect"}`)
	upstreamErrTimeout  = metrics.NewCounter(`arouter_upstream_errors_total{reason="timeout"}`)
	upstreamErrStatus   = metrics.NewCounter(`arouter_upstream_errors_total{reason="status"}`)
	upstreamErrMalform  = metrics.NewCounter(`arouter_upstream_errors_total{reason="malformed"}`)
	upstreamErrStream   = metrics.NewCounter(`arouter_upstream_errors_total{reason="stream"}`)
	errorsOtherStatuses = metrics.NewCounter(`arouter_errors_total{status="other"}`)
	failovers           = metrics.NewCounter(`arouter_failovers_total`)
)

// errorCounters holds arouter_errors_total{status=…} for the statuses the gateway answers with.
var errorCounters = func() map[int]*metrics.Counter {
	m := map[int]*metrics.Counter{}
	for _, s := range []int{400, 401, 402, 403, 404, 405, 408, 413, 429, 431, 500, 502, 503, 504} {
		m[s] = metrics.NewCounter(`arouter_errors_total{status="` + strconv.Itoa(s) + `"}`)
	}
	return m
}()

func errorsByStatus(status int) *metrics.Counter {
	if c, ok := errorCounters[status]; ok {
		return c
	}
	return errorsOtherStatuses
}

// countUsage adds one request's tokens and cost to the totals.
func countUsage(u *catalog.Usage, cost money.Nanos) {
	tokensPrompt.AddInt64(u.Prompt)
	tokensCompletion.AddInt64(u.Completion)
	tokensReasoning.AddInt64(u.Reasoning)
	tokensCached.AddInt64(u.Cached)
	tokensCacheWrite.AddInt64(u.CacheWrite)
	costUSD.Add(cost.USD())
}

// upstreamMetrics are one provider's handles.
type upstreamMetrics struct {
	duration *metrics.PrometheusHistogram // time until the provider's response headers
	requests *metrics.Counter
}

func newUpstreamMetrics(set *metrics.Set, provider string) upstreamMetrics {
	return upstreamMetrics{
		duration: set.NewPrometheusHistogram(`arouter_upstream_header_seconds{provider="` + provider + `"}`),
		requests: set.NewCounter(`arouter_upstream_requests_total{provider="` + provider + `"}`),
	}
}
