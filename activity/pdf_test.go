package activity

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ledongthuc/pdf"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
)

// fakeSource answers queries from a fixed list of per-day, per-key-model-provider rows, summing
// them as the store does.
type fakeSource struct {
	cells []cell
}

type cell struct {
	day             time.Time
	key             Key
	member          Member
	model, provider string
	u               Usage
}

func (f *fakeSource) Activity(_ context.Context, q Query) ([]Row, error) {
	sums := map[string]*Row{}
	var out []*Row
	for _, c := range f.cells {
		if c.day.Before(q.From) || !c.day.Before(q.To) || q.Model != "" && c.model != q.Model {
			continue
		}
		r := Row{}
		if q.PerDay || q.GroupBy == ByDay {
			r.Day = c.day
		}
		switch q.GroupBy {
		case ByModel:
			r.Model = c.model
		case ByProvider:
			r.Provider = c.provider
		case ByKey:
			r.Key = c.key
		case ByMember:
			r.Member = c.member
		}
		id := fmt.Sprint(r.Day, r.Model, r.Provider, r.Key.Hash, r.Member.ID)
		if sums[id] == nil {
			sums[id] = &r
			out = append(out, &r)
		}
		sums[id].Add(c.u)
	}
	rows := make([]Row, len(out))
	for i, r := range out {
		rows[i] = *r
	}
	return rows, nil
}

// newFakeSource makes usage of keys keys over days days from from, by three members, on three
// models and two providers, with an uneven daily cost.
func newFakeSource(from time.Time, days, keys int) *fakeSource {
	f := &fakeSource{}
	models := []string{"openai/gpt-4o-mini", "anthropic/claude-sonnet-4-6", "google/gemini-2.5-flash"}
	for d := range days {
		for k := range keys {
			if (d+2*k)%4 == 0 {
				continue
			}
			name := fmt.Sprintf("service-%03d", k)
			if k == 0 {
				name = `billing, "prod"`
			}
			f.cells = append(f.cells, cell{
				day:      from.AddDate(0, 0, d),
				key:      Key{Hash: apikey.HashToken([]byte(name)), Name: name, Label: fmt.Sprintf("sk-ar-v1-%03d…abc", k)},
				member:   Member{ID: int64(k%3 + 1), Email: fmt.Sprintf("user%d@acme.test", k%3+1), Name: "User"},
				model:    models[(d+k)%3],
				provider: []string{"openai", "anthropic"}[k%2],
				u: Usage{Requests: int64(10 + d + k), PromptTokens: int64(1000 * (d + 1)), CompletionTokens: int64(100 * (k + 1)),
					ReasoningTokens: int64(d), CachedTokens: int64(k), CacheWriteTokens: 1,
					Cost: money.Nanos(12_345_678 * int64(1+(d*7+k)%11)), BYOKRequests: int64(d % 2), BYOKCost: money.Nanos(d * 1000)},
			})
		}
	}
	return f
}

func renderReport(t *testing.T, src Source, q Query) (*Report, []byte) {
	t.Helper()
	rep, err := Collect(context.Background(), src, q)
	if err != nil {
		t.Fatal(err)
	}
	rep.Organization = "Acme Corp"
	rep.Scope = "every key of the organization"
	rep.Generated = time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC)
	var buf bytes.Buffer
	if err := WritePDF(&buf, rep); err != nil {
		t.Fatal(err)
	}
	return rep, buf.Bytes()
}

// pdfText extracts the text of every page.
func pdfText(t *testing.T, b []byte) (string, int) {
	t.Helper()
	r, err := pdf.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a readable PDF: %v", err)
	}
	tr, err := r.GetPlainText()
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	return string(text), r.NumPage()
}

// The PDF is a valid document whose text has the title, organization, period, the totals
// exactly as computed, and a table per grouping.
func TestPDFReport(t *testing.T) {
	t.Parallel()
	from := date("2026-03-01")
	src := newFakeSource(from, 30, 6)
	q := Query{OrgID: 1, From: from, To: from.AddDate(0, 0, 30), GroupBy: ByModel}
	rep, b := renderReport(t, src, q)
	if !bytes.HasPrefix(b, []byte("%PDF-1.")) || !bytes.Contains(b[len(b)-32:], []byte("%%EOF")) {
		t.Fatalf("not a PDF file: %q … %q", b[:16], b[len(b)-16:])
	}
	text, pages := pdfText(t, b)
	total := Total(src.mustRows(t, Query{OrgID: 1, From: q.From, To: q.To, GroupBy: ByDay}))
	if rep.Totals != total || total.Requests == 0 {
		t.Fatalf("report totals %+v, want %+v", rep.Totals, total)
	}
	for _, want := range []string{
		"Usage report", "Acme Corp", "2026-03-01 to 2026-03-30", "every key of the organization",
		usd(total.Cost), count(total.Requests), count(total.PromptTokens), count(total.CompletionTokens),
		count(total.ReasoningTokens), usd(total.BYOKCost), "Daily cost (USD)",
		"By model", "By key", "By member", "By provider", "anthropic/claude-sonnet-4-6", `billing, "prod"`, "user2@acme.test",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q", want)
		}
	}
	if strings.Contains(text, "By day") {
		t.Error("a report grouped by model has a day table (the chart shows the days)")
	}
	if pages < 1 || !strings.Contains(text, fmt.Sprintf("page 1 of %d", pages)) {
		t.Errorf("%d pages; footer missing from %q", pages, text)
	}
	// The same report renders to the same bytes.
	if _, again := renderReport(t, src, q); !bytes.Equal(again, b) {
		t.Error("two renderings of one report differ")
	}
	if os.Getenv("AROUTER_PDF_OUT") != "" {
		if err := os.WriteFile(os.Getenv("AROUTER_PDF_OUT"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Many keys over a year: the key table is cut at maxTableRows with the rest summed, tables
// continue over pages with their header repeated, and a day table appears when grouping by day.
func TestPDFReportLarge(t *testing.T) {
	t.Parallel()
	from := date("2025-03-01")
	src := newFakeSource(from, 366, 90)
	q := Query{OrgID: 1, From: from, To: from.AddDate(0, 0, 366), GroupBy: ByDay}
	rep, b := renderReport(t, src, q)
	text, pages := pdfText(t, b)
	if pages < 8 {
		t.Errorf("%d pages for a year of 90 keys", pages)
	}
	for _, want := range []string{"By day", "By key", fmt.Sprintf("the %d largest of 90 groups", maxTableRows-1), "2026-03-01",
		"51 others", usd(rep.Totals.Cost), fmt.Sprintf("page %d of %d", pages, pages)} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q", want)
		}
	}
	if n := strings.Count(text, "Completion tok."); n < pages-1 {
		t.Errorf("table header printed %d times over %d pages", n, pages)
	}
}

// An empty period still makes a report, saying so.
func TestPDFReportEmpty(t *testing.T) {
	t.Parallel()
	from := date("2026-03-01")
	_, b := renderReport(t, &fakeSource{}, Query{OrgID: 1, From: from, To: from.AddDate(0, 0, 7), GroupBy: ByKey})
	text, _ := pdfText(t, b)
	for _, want := range []string{"No spend in this period", "No usage", "2026-03-01 to 2026-03-07"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q", want)
		}
	}
}

func (f *fakeSource) mustRows(t *testing.T, q Query) []Row {
	t.Helper()
	rows, err := f.Activity(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestScale(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ peak, step, ceiling money.Nanos }{
		{0, money.PerUSD / 4, money.PerUSD},
		{1, 1, 1},
		{7, 2, 8},
		{999_999_999, 200_000_000, money.PerUSD},
		{money.PerUSD, 200_000_000, money.PerUSD},
		{1_234 * money.PerUSD, 500 * money.PerUSD, 1_500 * money.PerUSD},
	} {
		if step, ceiling := scale(c.peak); step != c.step || ceiling != c.ceiling {
			t.Errorf("scale(%v) = %v, %v; want %v, %v", c.peak, step, ceiling, c.step, c.ceiling)
		}
	}
}

func TestGroupDigits(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"0": "0", "999": "999", "1000": "1,000", "1234567": "1,234,567", "-1234": "-1,234"} {
		if got := group(in); got != want {
			t.Errorf("group(%q) = %q, want %q", in, got, want)
		}
	}
	if got := usd(1_234_567_890_000_000); got != "1,234,567.89" {
		t.Errorf("usd = %q", got)
	}
}
