package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Charts are plain grouped bar charts drawn with the standard library and one bitmap font, so
// that the suite needs no plotting package.

var (
	white   = color.RGBA{255, 255, 255, 255}
	black   = color.RGBA{30, 30, 30, 255}
	grey    = color.RGBA{200, 200, 200, 255}
	red     = color.RGBA{200, 40, 40, 255}
	palette = []color.RGBA{
		{76, 114, 176, 255}, {221, 132, 82, 255}, {85, 168, 104, 255}, {196, 78, 82, 255}, {129, 114, 179, 255}, {147, 120, 96, 255},
	}
)

// panel is one bar chart: groups along the x axis, one bar per series in each group.
type panel struct {
	title  string
	unit   string // y axis label
	groups []string
	series []string
	values [][]float64 // [group][series]
	log    bool
	ref    float64 // a horizontal target line, if > 0
	refTag string
	format func(float64) string
}

const (
	panelW, panelH = 640, 400
	charW, charH   = 7, 13
)

// renderPanels draws panels side by side into one PNG.
func renderPanels(path string, ps ...panel) error {
	img := image.NewRGBA(image.Rect(0, 0, panelW*len(ps), panelH))
	fill(img, img.Bounds(), white)
	for i, p := range ps {
		p.draw(img, image.Rect(i*panelW, 0, (i+1)*panelW, panelH))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (p panel) draw(img *image.RGBA, r image.Rectangle) {
	if p.format == nil {
		p.format = func(v float64) string { return fmt.Sprintf("%.0f", v) }
	}
	text(img, r.Min.X+(r.Dx()-len(p.title)*charW)/2, r.Min.Y+20, p.title, black)
	plot := image.Rect(r.Min.X+70, r.Min.Y+40, r.Max.X-20, r.Max.Y-70)
	text(img, r.Min.X+8, plot.Min.Y-8, p.unit, black)

	hi := p.ref
	lo := math.Inf(1)
	for _, g := range p.values {
		for _, v := range g {
			hi = math.Max(hi, v)
			if v > 0 {
				lo = math.Min(lo, v)
			}
		}
	}
	if hi <= 0 {
		hi = 1
	}
	var y func(v float64) int
	var ticks []float64
	if p.log {
		if math.IsInf(lo, 1) {
			lo = hi / 10
		}
		dlo := math.Pow(10, math.Floor(math.Log10(lo)))
		dhi := math.Pow(10, math.Ceil(math.Log10(hi*1.05)))
		y = func(v float64) int {
			v = math.Max(v, dlo)
			f := (math.Log10(v) - math.Log10(dlo)) / (math.Log10(dhi) - math.Log10(dlo))
			return plot.Max.Y - int(f*float64(plot.Dy()))
		}
		for d := dlo; d <= dhi*1.0001; d *= 10 {
			for _, m := range []float64{1, 2, 5} {
				if d*m <= dhi*1.0001 {
					ticks = append(ticks, d*m)
				}
			}
		}
	} else {
		step := niceStep(hi * 1.1 / 5)
		top := math.Ceil(hi*1.1/step) * step
		y = func(v float64) int { return plot.Max.Y - int(v/top*float64(plot.Dy())) }
		for t := 0.0; t <= top*1.0001; t += step {
			ticks = append(ticks, t)
		}
	}
	for _, t := range ticks {
		ty := y(t)
		hline(img, plot.Min.X, plot.Max.X, ty, grey)
		label := p.format(t)
		text(img, plot.Min.X-6-len(label)*charW, ty+4, label, black)
	}
	vline(img, plot.Min.X, plot.Min.Y, plot.Max.Y, black)
	hline(img, plot.Min.X, plot.Max.X, plot.Max.Y, black)

	groupW := plot.Dx() / max(len(p.groups), 1)
	barW := max((groupW-20)/max(len(p.series), 1), 4)
	for gi, g := range p.groups {
		gx := plot.Min.X + gi*groupW + 10
		for si := range p.series {
			v := 0.0
			if gi < len(p.values) && si < len(p.values[gi]) {
				v = p.values[gi][si]
			}
			x0 := gx + si*barW
			top := y(v)
			fill(img, image.Rect(x0+1, top, x0+barW-1, plot.Max.Y), palette[si%len(palette)])
			if v > 0 {
				l := p.format(v)
				if len(l)*charW <= barW+8 || len(p.series) == 1 {
					text(img, x0+(barW-len(l)*charW)/2, top-3, l, black)
				}
			}
		}
		text(img, gx+(groupW-20-len(g)*charW)/2, plot.Max.Y+16, g, black)
	}
	if p.ref > 0 {
		ry := y(p.ref)
		for x := plot.Min.X; x < plot.Max.X; x += 6 {
			hline(img, x, min(x+3, plot.Max.X), ry, red)
		}
		text(img, plot.Max.X-len(p.refTag)*charW, ry-4, p.refTag, red)
	}
	if len(p.series) > 1 {
		lx, ly := plot.Min.X, r.Max.Y-24
		for si, s := range p.series {
			fill(img, image.Rect(lx, ly-9, lx+10, ly+1), palette[si%len(palette)])
			text(img, lx+14, ly, s, black)
			lx += 14 + len(s)*charW + 18
		}
	}
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) { fill(img, image.Rect(x0, y, x1, y+1), c) }
func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) { fill(img, image.Rect(x, y0, x+1, y1), c) }

func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func usLabel(v float64) string {
	switch {
	case v >= 1000:
		return trimFloat(fmt.Sprintf("%.1f", v/1000)) + "ms"
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func kLabel(v float64) string {
	if v >= 1000 {
		return trimFloat(fmt.Sprintf("%.1f", v/1000)) + "k"
	}
	return fmt.Sprintf("%.0f", v)
}

// WriteCharts draws the charts of r into dir and returns their file names.
func (r *Results) WriteCharts(dir string) ([]string, error) {
	var names []string
	// Latency percentiles per target: the open-loop run (and the closed-loop one beside it).
	var lat []panel
	for _, sc := range []string{"small_open", "small_closed"} {
		s := r.scenario(sc)
		if s == nil {
			continue
		}
		p := panel{title: s.Title, unit: "latency (us, log scale)", series: []string{"p50", "p90", "p99", "p99.9"}, log: true, format: usLabel}
		if len(p.title) > 86 {
			p.title = p.title[:86]
		}
		for _, row := range s.Rows {
			if row.Latency == nil {
				continue
			}
			p.groups = append(p.groups, row.Target)
			p.values = append(p.values, []float64{row.Latency.P50, row.Latency.P90, row.Latency.P99, row.Latency.P999})
		}
		lat = append(lat, p)
	}
	if len(lat) > 0 {
		names = append(names, "latency.png")
		if err := renderPanels(filepath.Join(dir, "latency.png"), lat...); err != nil {
			return nil, err
		}
	}
	// Throughput per target and scenario.
	var tp []panel
	for _, sc := range []string{"small_closed", "large_closed"} {
		s := r.scenario(sc)
		if s == nil {
			continue
		}
		title := map[string]string{"small_closed": "max throughput, ~1 KB completion", "large_closed": "max throughput, ~64 KB completion"}[sc]
		p := panel{title: title, unit: "requests/s", series: []string{"req/s"}, format: kLabel}
		for _, row := range s.Rows {
			p.groups = append(p.groups, row.Target)
			p.values = append(p.values, []float64{row.RPS})
		}
		tp = append(tp, p)
	}
	if len(tp) > 0 {
		names = append(names, "throughput.png")
		if err := renderPanels(filepath.Join(dir, "throughput.png"), tp...); err != nil {
			return nil, err
		}
	}
	// Memory per open stream.
	if s := r.scenario("hold"); s != nil && len(s.Rows) > 0 {
		p := panel{title: fmt.Sprintf("proxy memory per open stream, %v concurrent streams", s.Params["streams"]), unit: "KB per stream",
			series: []string{"RSS with all open", "peak"}, ref: wantStreamKB, refTag: "target 40 KB",
			format: func(v float64) string { return trimFloat(fmt.Sprintf("%.1f", v)) }}
		for _, row := range s.Rows {
			p.groups = append(p.groups, row.Target)
			p.values = append(p.values, []float64{math.Max(row.Hold.KBPerStream, 0), math.Max(row.Hold.PeakKBPerStream, 0)})
		}
		names = append(names, "memory.png")
		if err := renderPanels(filepath.Join(dir, "memory.png"), p); err != nil {
			return nil, err
		}
	}
	// Streams: time to first byte and event gaps.
	if s := r.scenario("stream"); s != nil && len(s.Rows) > 0 {
		ttfb := panel{title: "stream time to first byte", unit: "us", series: []string{"p50", "p99"}, format: usLabel}
		gaps := panel{title: "gap between events (upstream: " + fmt.Sprint(s.Params["event_delay_ms"]) + " ms)", unit: "ms",
			series: []string{"p50", "p99"}, format: func(v float64) string { return trimFloat(fmt.Sprintf("%.1f", v)) }}
		for _, row := range s.Rows {
			ttfb.groups = append(ttfb.groups, row.Target)
			ttfb.values = append(ttfb.values, []float64{row.TTFB.P50, row.TTFB.P99})
			gaps.groups = append(gaps.groups, row.Target)
			gaps.values = append(gaps.values, []float64{row.Gaps.P50 / 1000, row.Gaps.P99 / 1000})
		}
		names = append(names, "streams.png")
		if err := renderPanels(filepath.Join(dir, "streams.png"), ttfb, gaps); err != nil {
			return nil, err
		}
	}
	return names, nil
}
