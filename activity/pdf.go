package activity

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/arouter/arouter/money"
)

// Page geometry, in millimetres (A4 portrait).
const (
	pageW, pageH = 210.0, 297.0
	margin       = 15.0
	contentW     = pageW - 2*margin
	rowH         = 5.0
)

// maxTableRows bounds a table: the biggest groups are listed and the rest summed in one row, so
// that an organization with thousands of keys still gets a report one can read.
const maxTableRows = 40

// Colours (RGB).
var (
	ink      = [3]int{33, 37, 41}
	muted    = [3]int{108, 117, 125}
	rule     = [3]int{206, 212, 218}
	band     = [3]int{241, 243, 245}
	barColor = [3]int{52, 101, 164}
)

// pdfDoc is one report being drawn. Text goes through tr, which maps UTF-8 to the code page of
// the standard PDF fonts (Windows-1252: Latin scripts, €, …); other characters print as ".".
type pdfDoc struct {
	*fpdf.Fpdf
	tr func(string) string
}

// WritePDF renders r as an A4 report: title, organization, period, scope and filters, the
// totals, a bar chart of the daily cost, and a table per grouping. The output depends only on r
// (the creation date is r.Generated), so the same report renders to the same bytes.
func WritePDF(w io.Writer, r *Report) error {
	f := fpdf.New("P", "mm", "A4", "")
	d := &pdfDoc{Fpdf: f, tr: f.UnicodeTranslatorFromDescriptor("")}
	f.SetCatalogSort(true) // resources in a fixed order, not map order
	f.SetCreationDate(r.Generated)
	f.SetModificationDate(r.Generated)
	f.SetTitle("ARouter usage report: "+r.Organization, true)
	f.SetCreator("ARouter", true)
	f.SetMargins(margin, margin, margin)
	f.SetAutoPageBreak(true, margin)
	f.AliasNbPages("{nb}")
	f.SetFooterFunc(func() {
		f.SetY(-10)
		d.font("", 7.5, muted)
		d.CellFormat(0, 4, d.tr(fmt.Sprintf("ARouter usage report · %s · %s · page %d of {nb}",
			r.Organization, periodText(r.From, r.To), f.PageNo())), "", 0, "C", false, 0, "")
	})
	f.AddPage()

	d.header(r)
	d.totals(r.Totals)
	d.heading("Daily cost (USD)", "")
	d.chart(r.Daily, 62)
	for _, t := range r.Tables {
		d.table(t)
	}
	return f.Output(w)
}

func (d *pdfDoc) font(style string, size float64, c [3]int) {
	d.SetFont("Helvetica", style, size)
	d.SetTextColor(c[0], c[1], c[2])
}

func (d *pdfDoc) header(r *Report) {
	d.font("B", 20, ink)
	d.CellFormat(0, 10, "Usage report", "", 1, "L", false, 0, "")
	d.font("B", 13, ink)
	d.CellFormat(0, 8, d.tr(fit(d, r.Organization, contentW)), "", 1, "L", false, 0, "")
	d.Ln(1)
	lines := [][2]string{
		{"Period", fmt.Sprintf("%s (%d UTC days; figures are whole days)", periodText(r.From, r.To), int(r.To.Sub(r.From)/day))},
		{"Scope", r.Scope},
	}
	if len(r.Filters) > 0 {
		lines = append(lines, [2]string{"Filters", strings.Join(r.Filters, "; ")})
	}
	lines = append(lines,
		[2]string{"Grouped by", string(r.GroupBy)},
		[2]string{"Generated", r.Generated.UTC().Format("2006-01-02 15:04 UTC")})
	for _, l := range lines {
		d.font("", 9.5, muted)
		d.CellFormat(24, 5, l[0], "", 0, "L", false, 0, "")
		d.font("", 9.5, ink)
		d.CellFormat(0, 5, d.tr(fit(d, l[1], contentW-24)), "", 1, "L", false, 0, "")
	}
	d.Ln(3)
}

// periodText shows a range with its last day inclusive, as people read dates.
func periodText(from, to time.Time) string {
	last := to.Add(-day)
	if last.Equal(from) {
		return from.Format("2006-01-02")
	}
	return from.Format("2006-01-02") + " to " + last.Format("2006-01-02")
}

func (d *pdfDoc) heading(title, note string) {
	if d.GetY()+rowH*6 > pageH-margin { // keep a heading with what follows it
		d.AddPage()
	}
	d.Ln(2)
	d.font("B", 12, ink)
	d.CellFormat(d.GetStringWidth(title)+2, 7, d.tr(title), "", 0, "L", false, 0, "")
	d.font("", 8.5, muted)
	d.CellFormat(0, 7, d.tr(note), "", 1, "L", false, 0, "")
	d.Ln(1)
}

// totals draws the range's totals as a grid of labelled figures.
func (d *pdfDoc) totals(u Usage) {
	d.heading("Totals", "")
	cells := [][2]string{
		{"Cost (USD)", usd(u.Cost)}, {"Requests", count(u.Requests)}, {"BYOK cost (USD)", usd(u.BYOKCost)},
		{"Prompt tokens", count(u.PromptTokens)}, {"Completion tokens", count(u.CompletionTokens)}, {"Reasoning tokens", count(u.ReasoningTokens)},
		{"Cached tokens", count(u.CachedTokens)}, {"Cache-write tokens", count(u.CacheWriteTokens)}, {"BYOK requests", count(u.BYOKRequests)},
	}
	const cols, cellW, cellH = 3, contentW / 3, 13.0
	x0, y0 := d.GetX(), d.GetY()
	d.SetDrawColor(rule[0], rule[1], rule[2])
	d.SetLineWidth(0.2)
	for i, c := range cells {
		x, y := x0+float64(i%cols)*cellW, y0+float64(i/cols)*cellH
		d.SetFillColor(band[0], band[1], band[2])
		d.Rect(x+0.5, y+0.5, cellW-1, cellH-1, "FD")
		d.SetXY(x+3, y+1.5)
		d.font("", 7.5, muted)
		d.CellFormat(cellW-6, 4, c[0], "", 0, "L", false, 0, "")
		d.SetXY(x+3, y+5.5)
		d.font("B", 11, ink)
		d.CellFormat(cellW-6, 6, c[1], "", 0, "L", false, 0, "")
	}
	d.SetXY(x0, y0+float64((len(cells)+cols-1)/cols)*cellH+2)
}

// chart draws the daily cost as a bar chart h millimetres tall, with a labelled value axis and
// dates along the bottom.
func (d *pdfDoc) chart(days []Row, h float64) {
	if d.GetY()+h > pageH-margin {
		d.AddPage()
	}
	const axisW, labelsH = 20.0, 6.0
	x0, top := margin+axisW, d.GetY()+2
	w, bottom := contentW-axisW, d.GetY()+h-labelsH
	ph := bottom - top

	var peak money.Nanos
	for i := range days {
		peak = max(peak, days[i].Cost)
	}
	step, ceiling := scale(peak)

	d.SetLineWidth(0.15)
	d.font("", 7, muted)
	for v := money.Nanos(0); v <= ceiling; v += step {
		y := bottom - float64(v)/float64(ceiling)*ph
		d.SetDrawColor(rule[0], rule[1], rule[2])
		d.Line(x0, y, x0+w, y)
		d.SetXY(margin, y-2)
		d.CellFormat(axisW-2, 4, usd(v), "", 0, "R", false, 0, "")
	}
	if n := len(days); n > 0 {
		slot := w / float64(n)
		bw := max(slot*0.7, 0.2)
		d.SetFillColor(barColor[0], barColor[1], barColor[2])
		for i := range days {
			if days[i].Cost <= 0 {
				continue
			}
			bh := float64(days[i].Cost) / float64(ceiling) * ph
			d.Rect(x0+float64(i)*slot+(slot-bw)/2, bottom-bh, bw, bh, "F")
		}
		every := (n + 9) / 10 // at most about ten dates
		for i := 0; i < n; i += every {
			cx := x0 + (float64(i)+0.5)*slot
			d.SetXY(cx-10, bottom+1)
			d.CellFormat(20, 4, days[i].Day.Format("Jan 2"), "", 0, "C", false, 0, "")
		}
	}
	d.SetDrawColor(muted[0], muted[1], muted[2])
	d.SetLineWidth(0.3)
	d.Line(x0, bottom, x0+w, bottom)
	if peak == 0 {
		d.font("", 9, muted)
		d.SetXY(x0, top+ph/2-3)
		d.CellFormat(w, 6, "No spend in this period", "", 0, "C", false, 0, "")
	}
	d.SetXY(margin, bottom+labelsH+2)
}

// scale picks a round step (1, 2 or 5 times a power of ten nano-USD) giving at most five
// gridlines above zero, and the ceiling of the axis: the first step at or above peak.
func scale(peak money.Nanos) (step, ceiling money.Nanos) {
	if peak <= 0 {
		return money.PerUSD / 4, money.PerUSD
	}
	for p := money.Nanos(1); ; p *= 10 {
		for _, m := range []money.Nanos{1, 2, 5} {
			if s := m * p; s*5 >= peak {
				return s, (peak + s - 1) / s * s
			}
		}
	}
}

var groupTitles = map[GroupBy][2]string{ // table heading, first column
	ByDay: {"By day", "Day"}, ByModel: {"By model", "Model"}, ByKey: {"By key", "Key"},
	ByMember: {"By member", "Member (key creator)"}, ByProvider: {"By provider", "Provider"},
}

// Table columns: widths in millimetres, adding up to contentW.
var (
	colTitles = []string{"", "Requests", "Prompt tok.", "Completion tok.", "Reasoning tok.", "Cached tok.", "Cost USD", "BYOK USD"}
	colWidths = []float64{40, 17, 21, 21, 20, 18, 24, 19}
)

func (d *pdfDoc) table(t Table) {
	rows := t.Rows
	note := fmt.Sprintf("%d groups", len(rows))
	if len(rows) == 1 {
		note = "1 group"
	}
	limit := maxTableRows
	if t.GroupBy == ByDay {
		limit = MaxDays // every day: a year is a few pages
	}
	if len(rows) > limit {
		note = fmt.Sprintf("the %d largest of %d groups; the CSV export lists all", limit-1, len(rows))
	}
	d.heading(groupTitles[t.GroupBy][0], note)
	d.tableHeader(t.GroupBy)
	if len(rows) == 0 {
		d.font("I", 8, muted)
		d.CellFormat(contentW, rowH, "No usage", "", 1, "L", false, 0, "")
		return
	}
	shown := rows
	var rest Usage
	if len(rows) > limit {
		shown = rows[:limit-1]
		rest = Total(rows[limit-1:])
	}
	for i := range shown {
		d.tableRow(t.GroupBy, rowName(&shown[i], t.GroupBy), &shown[i].Usage, i%2 == 1, "")
	}
	if len(rows) > limit {
		d.tableRow(t.GroupBy, fmt.Sprintf("%d others", len(rows)-len(shown)), &rest, len(shown)%2 == 1, "I")
	}
	total := Total(rows)
	d.tableRow(t.GroupBy, "Total", &total, false, "B")
}

func (d *pdfDoc) tableHeader(g GroupBy) {
	d.font("B", 7.5, ink)
	d.SetFillColor(band[0], band[1], band[2])
	d.SetDrawColor(rule[0], rule[1], rule[2])
	d.SetLineWidth(0.2)
	for i, title := range colTitles {
		align := "R"
		if i == 0 {
			title, align = groupTitles[g][1], "L"
		}
		d.cellFit(colWidths[i], rowH+1, title, "B", align, true, 7.5)
	}
	d.Ln(-1)
}

func (d *pdfDoc) tableRow(g GroupBy, name string, u *Usage, shaded bool, style string) {
	if d.GetY()+rowH > pageH-margin {
		d.AddPage()
		d.tableHeader(g)
	}
	d.font(style, 7.5, ink)
	d.SetFillColor(250, 250, 251)
	border := ""
	if style == "B" {
		border = "T"
	}
	cells := []string{fit(d, name, colWidths[0]-1), count(u.Requests), count(u.PromptTokens), count(u.CompletionTokens),
		count(u.ReasoningTokens), count(u.CachedTokens), usd(u.Cost), usd(u.BYOKCost)}
	for i, c := range cells {
		align := "R"
		if i == 0 {
			align = "L"
		}
		d.cellFit(colWidths[i], rowH, d.tr(c), border, align, shaded, 7.5)
	}
	d.Ln(-1)
}

// cellFit draws a table cell, shrinking the font (from size, down to 60% of it) when the text
// would overflow into the next cell, as exact amounts of big spenders can.
func (d *pdfDoc) cellFit(w, h float64, txt, border, align string, fill bool, size float64) {
	const padding = 2 // the cell margin on both sides
	for s := size; s > size*0.6 && d.GetStringWidth(txt) > w-padding; s -= 0.5 {
		d.SetFontSize(s - 0.5)
	}
	d.CellFormat(w, h, txt, border, 0, align, fill, 0, "")
	d.SetFontSize(size)
}

// rowName is a row's first cell: the group's label, with a key's display label.
func rowName(r *Row, g GroupBy) string {
	if g == ByKey {
		return r.Key.Name + "  " + r.Key.Label
	}
	return Label(r, g)
}

// fit shortens s with an ellipsis until it fits in w millimetres at the current font.
func fit(d *pdfDoc, s string, w float64) string {
	if d.GetStringWidth(d.tr(s)) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && d.GetStringWidth(d.tr(string(r)+"…")) > w {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// count writes n with thousands separators.
func count(n int64) string { return group(strconv.FormatInt(n, 10)) }

// usd writes an amount exactly (as the API and the CSV do), with thousands separators.
func usd(n money.Nanos) string {
	s := n.String()
	whole, frac, ok := strings.Cut(s, ".")
	if ok {
		return group(whole) + "." + frac
	}
	return group(whole)
}

func group(digits string) string {
	sign := ""
	if strings.HasPrefix(digits, "-") {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}
