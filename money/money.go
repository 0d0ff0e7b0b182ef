// Package money holds the gateway's one representation of an amount of money: an integer count
// of nano-USD. Prices per token are fractions of a micro-dollar, so micro-USD would round small
// requests to zero; nano-USD keeps them exact while an int64 still holds 9.2 billion dollars.
// Floats appear only at the edges (JSON output), never in sums.
package money

import (
	"errors"
	"math/bits"
	"strconv"
)

// Nanos is an amount in nano-USD (1e-9 USD).
type Nanos int64

// PerUSD is the number of Nanos in one US dollar.
const PerUSD Nanos = 1_000_000_000

// ParseUSD parses a decimal dollar amount such as "0.15", "3", or "0.0000375" exactly, without
// going through a float. At most nine fractional digits are accepted: finer amounts cannot be
// represented and are refused rather than silently rounded.
func ParseUSD(s string) (Nanos, error) {
	if s == "" {
		return 0, errors.New("empty amount")
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	whole, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			whole, frac = s[:i], s[i+1:]
			break
		}
	}
	if whole == "" && frac == "" {
		return 0, errors.New("no digits")
	}
	if len(frac) > 9 {
		return 0, errors.New("more than 9 decimal places")
	}
	var n int64
	for _, digits := range []string{whole, frac} {
		for i := 0; i < len(digits); i++ {
			c := digits[i]
			if c < '0' || c > '9' {
				return 0, errors.New("not a decimal number")
			}
			if n > (1<<63-1)/10-9 {
				return 0, errors.New("amount too large")
			}
			n = n*10 + int64(c-'0')
		}
	}
	for i := len(frac); i < 9; i++ {
		if n > (1<<63-1)/10 {
			return 0, errors.New("amount too large")
		}
		n *= 10
	}
	if neg {
		n = -n
	}
	return Nanos(n), nil
}

// AppendUSD appends n as a decimal dollar amount with trailing zeros trimmed ("0.000123", "2",
// "-0.5"). It does not allocate when dst has room, so the response path can use it.
func AppendUSD(dst []byte, n Nanos) []byte {
	v := int64(n)
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	dst = strconv.AppendInt(dst, v/int64(PerUSD), 10)
	frac := v % int64(PerUSD)
	if frac == 0 {
		return dst
	}
	var digits [9]byte
	for i := 8; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	end := 9
	for end > 0 && digits[end-1] == '0' {
		end--
	}
	dst = append(dst, '.')
	return append(dst, digits[:end]...)
}

// String formats n in dollars, e.g. "0.000123".
func (n Nanos) String() string { return string(AppendUSD(nil, n)) }

// USD returns n as a float64 number of dollars, for presentation only.
func (n Nanos) USD() float64 { return float64(n) / float64(PerUSD) }

// PricePerMillion is a price per million tokens in nano-USD. Keeping the per-million unit means
// a price like $0.0375/M stays an integer (37_500_000) instead of a fraction per token.
type PricePerMillion int64

// MaxCharge is the most Cost returns: $1,000,000, far above any real request. Token counts come
// from clients (max_tokens) and providers, so they can be absurd; saturating here keeps every
// sum of charges in a budget far from int64 overflow, which would turn a cost negative and
// into free credit.
const MaxCharge Nanos = 1_000_000 * PerUSD

// Cost returns the price of tokens, rounded up to the next nano-USD so that a request is never
// billed at zero because of truncation, and at most MaxCharge. It computes in 128 bits, so no
// count overflows.
func (p PricePerMillion) Cost(tokens int64) Nanos {
	if tokens <= 0 || p <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(tokens), uint64(p))
	lo, carry := bits.Add64(lo, 999_999, 0)
	hi += carry
	if hi >= 1_000_000 { // the quotient would not fit 64 bits
		return MaxCharge
	}
	q, _ := bits.Div64(hi, lo, 1_000_000)
	if q > uint64(MaxCharge) {
		return MaxCharge
	}
	return Nanos(q)
}
