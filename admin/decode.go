package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
)

// fields is a request body decoded one level deep, so that a field sent as null can be told
// apart from a field not sent at all (PATCH clears the first and keeps the second).
type fields map[string]json.RawMessage

// decodeFields reads body as a JSON object whose keys must all be in allowed.
func decodeFields(body []byte, allowed ...string) (fields, *apiError) {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	var f fields
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&f); err != nil || f == nil {
		return nil, newError(400, "request body must be a JSON object")
	}
	if d.More() {
		return nil, newError(400, "request body must be a single JSON object")
	}
	var unknown []string
	for name := range f {
		if !contains(allowed, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, badField(unknown[0], "unknown field; accepted fields are %s", strings.Join(allowed, ", "))
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// has reports whether name was sent; null reports whether it was sent as null.
func (f fields) has(name string) bool  { _, ok := f[name]; return ok }
func (f fields) null(name string) bool { return string(bytes.TrimSpace(f[name])) == "null" }

// str reads a string field of 1 to maxLen characters, none of them a control character:
// names and emails end up in tables, CSV rows, PDF reports and log lines, where a newline or a
// NUL would break a row or forge a line.
func (f fields) str(name string, maxLen int) (string, *apiError) {
	var s string
	if err := json.Unmarshal(f[name], &s); err != nil || f.null(name) {
		return "", badField(name, "must be a string")
	}
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > maxLen {
		return "", badField(name, "must be 1 to %d characters", maxLen)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", badField(name, "must not contain control characters (newlines, tabs, NUL)")
	}
	return s, nil
}

func (f fields) boolean(name string) (bool, *apiError) {
	var b bool
	if err := json.Unmarshal(f[name], &b); err != nil || f.null(name) {
		return false, badField(name, "must be true or false")
	}
	return b, nil
}

// usd reads an amount of USD written as a JSON number, exactly (no float rounding).
func (f fields) usd(name string) (money.Nanos, *apiError) {
	raw := bytes.TrimSpace(f[name])
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil || f.null(name) || len(raw) == 0 || raw[0] == '"' {
		return 0, badField(name, "must be a number of USD such as 10 or 2.50")
	}
	// A big.Rat reads any JSON number exactly, including the exponent form (1e-6) that some
	// encoders write for small amounts; the amount must then be a whole number of nano-USD.
	r, ok := new(big.Rat).SetString(n.String())
	if !ok {
		return 0, badField(name, "must be a number of USD such as 10 or 2.50")
	}
	if r.Sign() < 0 {
		return 0, badField(name, "must not be negative")
	}
	r.Mul(r, big.NewRat(int64(money.PerUSD), 1))
	if !r.IsInt() {
		return 0, badField(name, "has more than 9 decimal places (the smallest unit is 0.000000001 USD)")
	}
	if !r.Num().IsInt64() || r.Num().Int64() > maxUSD {
		return 0, badField(name, "is too large")
	}
	return money.Nanos(r.Num().Int64()), nil
}

// maxUSD bounds any amount the API accepts (a billion dollars), far below overflow.
const maxUSD = 1_000_000_000 * int64(money.PerUSD)

// period reads limit_reset: "daily", "weekly", "monthly" or null.
func (f fields) period(name string) (apikey.Period, *apiError) {
	if f.null(name) {
		return apikey.NoReset, nil
	}
	var s string
	if err := json.Unmarshal(f[name], &s); err != nil {
		return 0, badField(name, "must be \"daily\", \"weekly\", \"monthly\" or null")
	}
	p, err := apikey.ParsePeriod(s)
	if err != nil || s == "" {
		return 0, badField(name, "%q is not a reset period; use \"daily\", \"weekly\", \"monthly\" or null", s)
	}
	return p, nil
}

// futureTime reads an RFC 3339 time (null: the zero time) that must lie after now.
func (f fields) futureTime(name string, now time.Time) (time.Time, *apiError) {
	if f.null(name) {
		return time.Time{}, nil
	}
	var s string
	if err := json.Unmarshal(f[name], &s); err != nil {
		return time.Time{}, badField(name, "must be an RFC 3339 time such as 2027-01-31T00:00:00Z, or null")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, badField(name, "%q is not an RFC 3339 time such as 2027-01-31T00:00:00Z", s)
	}
	if !t.After(now) {
		return time.Time{}, badField(name, "%s is not in the future", t.UTC().Format(time.RFC3339))
	}
	return t.UTC(), nil
}

// strings reads an array of strings (null: nil).
func (f fields) strings(name string, maxItems int) ([]string, *apiError) {
	if f.null(name) {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(f[name], &list); err != nil {
		return nil, badField(name, "must be an array of strings")
	}
	if len(list) > maxItems {
		return nil, badField(name, "must have at most %d entries", maxItems)
	}
	return list, nil
}

// int reads a non-negative integer.
func (f fields) int(name string) (int64, *apiError) {
	var v int64
	if err := json.Unmarshal(f[name], &v); err != nil || f.null(name) || v < 0 {
		return 0, badField(name, "must be a non-negative integer")
	}
	return v, nil
}

// usdJSON renders nano-USD as an exact JSON number.
type usdJSON money.Nanos

func (u usdJSON) MarshalJSON() ([]byte, error) { return money.AppendUSD(nil, money.Nanos(u)), nil }

// timeJSON renders a time as RFC 3339 UTC, or null when zero.
type timeJSON time.Time

func (t timeJSON) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return []byte(fmt.Sprintf("%q", time.Time(t).UTC().Format(time.RFC3339))), nil
}
