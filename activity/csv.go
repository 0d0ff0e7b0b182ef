package activity

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// CSVHeader returns the header row of a CSV export grouped by g: the date, the group's columns,
// then the usage columns. Column names match the JSON fields of GET /v1/activity, except that
// amounts say their unit (cost_usd).
func CSVHeader(g GroupBy) []string {
	h := []string{"date"}
	h = append(h, groupColumns[g]...)
	return append(h, "requests", "prompt_tokens", "completion_tokens", "reasoning_tokens",
		"cached_tokens", "cache_write_tokens", "cost_usd", "byok_requests", "byok_cost_usd")
}

var groupColumns = map[GroupBy][]string{
	ByModel:    {"model"},
	ByProvider: {"provider"},
	ByKey:      {"key_hash", "key_name", "key_label"},
	ByMember:   {"member_id", "member_email", "member_name"},
}

// WriteCSV writes rows, one per group and day (a query grouped by g and split per day), after
// a header row, as RFC 4180 CSV: CRLF line ends, and fields holding commas, quotes or line
// breaks quoted with their quotes doubled. Amounts are exact decimals of USD.
//
// A text field that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a
// carriage return) gets a leading apostrophe: key and member names are chosen by any member,
// and the file is opened by someone else (OWASP's advice against CSV injection).
func WriteCSV(w io.Writer, g GroupBy, rows []Row) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(CSVHeader(g)); err != nil {
		return err
	}
	rec := make([]string, 0, len(CSVHeader(g)))
	for i := range rows {
		r := &rows[i]
		rec = append(rec[:0], r.Day.Format("2006-01-02"))
		switch g {
		case ByModel:
			rec = append(rec, text(r.Model))
		case ByProvider:
			rec = append(rec, text(r.Provider))
		case ByKey:
			rec = append(rec, r.Key.Hash.String(), text(r.Key.Name), text(r.Key.Label))
		case ByMember:
			rec = append(rec, strconv.FormatInt(r.Member.ID, 10), text(r.Member.Email), text(r.Member.Name))
		}
		u := &r.Usage
		rec = append(rec, itoa(u.Requests), itoa(u.PromptTokens), itoa(u.CompletionTokens), itoa(u.ReasoningTokens),
			itoa(u.CachedTokens), itoa(u.CacheWriteTokens), u.Cost.String(), itoa(u.BYOKRequests), u.BYOKCost.String())
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// text defuses a field a spreadsheet would evaluate.
func text(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
