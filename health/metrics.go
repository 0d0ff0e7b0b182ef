package health

import (
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// registerGauges adds the per-deployment gauges to set. They are built once, here: the names
// depend only on the deployment list, and each gauge computes its value from the rings when
// scraped, so Observe has nothing extra to update.
func (t *Tracker) registerGauges(set *metrics.Set) {
	for i := range t.deps {
		label := `deployment="` + escapeLabel(t.deps[i].name) + `"`
		for _, s := range [...]Span{Span5m, Span30m, Span1d} {
			set.NewGauge(`arouter_deployment_availability{`+label+`,window="`+s.String()+`"}`,
				func() float64 {
					var a accumulator
					t.sum(&a, i, s, t.now(), false)
					return a.availability()
				})
		}
		set.NewGauge(`arouter_deployment_ttfb_p50_seconds{`+label+`}`, func() float64 {
			return t.Window(i, Span5m, t.now()).TTFBp50.Seconds()
		})
		set.NewGauge(`arouter_deployment_ttfb_p99_seconds{`+label+`}`, func() float64 {
			return t.Window(i, Span5m, t.now()).TTFBp99.Seconds()
		})
		set.NewGauge(`arouter_deployment_healthy{`+label+`}`, func() float64 {
			if t.Healthy(i) {
				return 1
			}
			return 0
		})
		set.NewGauge(`arouter_deployment_probe_failures{`+label+`}`, func() float64 {
			return float64(t.deps[i].probeFailures.Load())
		})
	}
}

// labelEscaper escapes a label value as the Prometheus text format requires. A raw newline would
// also be rejected by the metrics package's name validation.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(v string) string { return labelEscaper.Replace(v) }
