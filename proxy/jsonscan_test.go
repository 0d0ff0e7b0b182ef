package proxy

import (
	"strings"
	"testing"
)

// skipStringByByte is skipString as it was before it jumped between quotes, one byte at a
// time: the reference the fast one must agree with.
func skipStringByByte(b []byte, i int) (end int, hasEscape bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			hasEscape = true
			j++
		case '"':
			return j + 1, hasEscape
		}
	}
	return -1, hasEscape
}

// checkSkipString compares skipString with the reference at every quote of b.
func checkSkipString(t *testing.T, b []byte) {
	t.Helper()
	for i := range b {
		if b[i] != '"' {
			continue
		}
		end, esc := skipString(b, i)
		wantEnd, wantEsc := skipStringByByte(b, i)
		if end != wantEnd || (end >= 0 && esc != wantEsc) {
			t.Fatalf("skipString(%q, %d) = %d, %v; want %d, %v", b, i, end, esc, wantEnd, wantEsc)
		}
	}
}

// Escapes right at the end of the byte loop, runs of backslashes before a quote, and long
// strings with and without escapes.
func TestSkipStringAgreesWithTheByteLoop(t *testing.T) {
	t.Parallel()
	var cases []string
	for pad := shortString - 3; pad <= shortString+3; pad++ {
		p := strings.Repeat("a", pad)
		for _, tail := range []string{`"`, `\""`, `\\"`, `\\\""`, `\\\\"x"`, `\n" `, `\`, `\"`, ``, `\u0022"`} {
			cases = append(cases, `"`+p+tail, `"`+p+tail+strings.Repeat("b", 100)+`"`)
		}
	}
	cases = append(cases,
		`"`+strings.Repeat(`line\n`, 200)+`"`,
		`"`+strings.Repeat("x", 1000)+`","next":"y"`,
		`"`+strings.Repeat(`\\`, 300)+`"`,
		`"`+strings.Repeat(`\\`, 300)+`\"`+`"`,
		`{"content":"`+strings.Repeat(`say \"hi\" `, 50)+`","finish_reason":"stop"}`,
	)
	for _, c := range cases {
		checkSkipString(t, []byte(c))
	}
}

func FuzzSkipString(f *testing.F) {
	f.Add([]byte(`"` + strings.Repeat("a", shortString) + `\\\""`))
	f.Add([]byte(`"` + strings.Repeat(`a\n`, 30) + `"`))
	f.Fuzz(func(t *testing.T, b []byte) { checkSkipString(t, b) })
}
