package oai

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string literal. It escapes what encoding/json escapes
// (quotes, backslashes, control characters, <, >, &, U+2028/9) and replaces invalid UTF-8 with
// U+FFFD, so text from a provider can never break the JSON or the SSE framing around it: a raw
// newline inside a "data:" line would end the event early.
func AppendString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func decodeRune[S string | []byte](s S) (rune, int) {
	switch v := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(v)
	case []byte:
		return utf8.DecodeRune(v)
	}
	return utf8.RuneError, 1
}

// AppendInt appends n in decimal.
func AppendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// AppendFloat appends f as a JSON number (shortest representation that round-trips).
func AppendFloat(dst []byte, f float64) []byte { return strconv.AppendFloat(dst, f, 'g', -1, 64) }

// AppendCompact appends the JSON value raw without insignificant whitespace. Raw values copied
// from a request (schemas, tool arguments) may be pretty-printed; compacting keeps bodies small.
// raw must be valid JSON (every caller's raw was checked or produced by a decoder): the copy
// only tracks strings, so that whitespace inside them is kept.
func AppendCompact(dst, raw []byte) []byte {
	start, inString, escaped := 0, false, false
	for i, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			dst = append(dst, raw[start:i]...)
			start = i + 1
		}
	}
	return append(dst, raw[start:]...)
}

// IsObject reports whether raw is a JSON object (it must already be valid JSON).
func IsObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// IsNull reports whether raw is absent or the literal null.
func IsNull(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// AppendPassthrough appends `,"name":value` for each of names present at the top level of the
// JSON object body, value copied compactly. It lets a deployment forward request members the
// translation does not know (mockllm's per-request "mock" object) to a provider that does.
func AppendPassthrough(dst, body []byte, names []string) []byte {
	if len(names) == 0 {
		return dst
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return dst
	}
	for _, n := range names {
		if v, ok := top[n]; ok {
			dst = append(dst, ',')
			dst = AppendString(dst, n)
			dst = append(dst, ':')
			dst = AppendCompact(dst, v)
		}
	}
	return dst
}
