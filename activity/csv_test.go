package activity

import (
	"bytes"
	"encoding/csv"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// A CSV export reads back through encoding/csv field for field: names with commas, quotes and
// line breaks survive, amounts are exact, and the header names the grouping's columns.
func TestCSVRoundTrip(t *testing.T) {
	t.Parallel()
	tricky := []string{`a,"b"`, "line\nbreak", `"quoted"`, "plain", "trailing space ", "déjà vu €"}
	var rows []Row
	for i, name := range tricky {
		rows = append(rows, Row{
			Day: date("2026-03-01").AddDate(0, 0, i%2),
			Key: Key{Hash: apikey.HashToken([]byte(name)), Name: name, Label: "sk-ar-v1-abc…xyz"},
			Usage: Usage{Requests: int64(i + 1), PromptTokens: 1000, CompletionTokens: 20, ReasoningTokens: 3,
				CachedTokens: 4, CacheWriteTokens: 5, Cost: money.Nanos(1_000_000_001 * int64(i)), BYOKRequests: 1, BYOKCost: 7},
		})
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, ByKey, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "\r\n") {
		t.Error("lines do not end in CRLF (RFC 4180)")
	}
	if !strings.Contains(buf.String(), `"a,""b"""`) {
		t.Errorf("a,\"b\" is not quoted as RFC 4180 says: %s", buf.String())
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"date", "key_hash", "key_name", "key_label", "requests", "prompt_tokens", "completion_tokens",
		"reasoning_tokens", "cached_tokens", "cache_write_tokens", "cost_usd", "byok_requests", "byok_cost_usd"}
	if !reflect.DeepEqual(recs[0], want) {
		t.Errorf("header %q, want %q", recs[0], want)
	}
	if len(recs) != len(rows)+1 {
		t.Fatalf("%d records, want %d", len(recs), len(rows)+1)
	}
	for i, r := range rows {
		got := recs[i+1]
		wantRec := []string{r.Day.Format("2006-01-02"), r.Key.Hash.String(), r.Key.Name, r.Key.Label,
			itoa(r.Requests), "1000", "20", "3", "4", "5", r.Cost.String(), "1", "0.000000007"}
		if !reflect.DeepEqual(got, wantRec) {
			t.Errorf("row %d:\n got %q\nwant %q", i, got, wantRec)
		}
	}
	if recs[3][10] != "2.000000002" {
		t.Errorf("cost %q, want the exact 2.000000002", recs[3][10])
	}
}

func TestCSVHeaders(t *testing.T) {
	t.Parallel()
	for g, cols := range map[GroupBy][]string{
		ByDay:      {"date", "requests"},
		ByModel:    {"date", "model", "requests"},
		ByProvider: {"date", "provider", "requests"},
		ByMember:   {"date", "member_id", "member_email", "member_name", "requests"},
	} {
		h := CSVHeader(g)
		if !reflect.DeepEqual(h[:len(cols)], cols) || h[len(h)-1] != "byok_cost_usd" {
			t.Errorf("%s: header %q", g, h)
		}
	}
	var buf bytes.Buffer
	rows := []Row{{Day: date("2026-03-01"), Member: Member{ID: 7, Email: "bob@acme.test", Name: "Bob"}, Usage: Usage{Requests: 2}}}
	if err := WriteCSV(&buf, ByMember, rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 2 || recs[1][1] != "7" || recs[1][2] != "bob@acme.test" || recs[1][3] != "Bob" {
		t.Errorf("member rows %q, %v", recs, err)
	}
}

// Names a spreadsheet would run as formulas are defused with a leading apostrophe.
func TestCSVFormulaInjection(t *testing.T) {
	t.Parallel()
	var rows []Row
	for _, name := range []string{"=HYPERLINK(\"http://evil\")", "+1", "-2", "@SUM(A1)", "\tx", "safe=1"} {
		rows = append(rows, Row{Day: date("2026-03-01"), Key: Key{Name: name}})
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, ByKey, rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs[1:] {
		name := rows[i].Key.Name
		want := "'" + name
		if name == "safe=1" {
			want = name
		}
		if r[2] != want {
			t.Errorf("key name %q written as %q, want %q", name, r[2], want)
		}
	}
}
