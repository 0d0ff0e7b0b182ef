package health

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// The TTFB histogram is log-linear: four equal-width sub-buckets per power of two of nanoseconds,
// from 2^20 ns (~1 ms) up. That bounds the width of every bucket to 25% of its lower edge, and
// the bucket of a duration comes from a bit length and a shift, no floating point and no table
// search, which keeps Observe cheap. 64 buckets of uint32 make one histogram 256 bytes, small
// enough to keep one per time bucket.
const (
	histBuckets = 64
	histMinExp  = 20 // bucket 1 starts at 2^20 ns = 1.048576 ms; bucket 0 holds everything below
	histSubBits = 2  // 4 sub-buckets per octave
	histSubs    = 1 << histSubBits
)

// histogram counts durations per log-linear bucket. Counts are uint32: a time bucket would need
// more than four billion successful requests to one deployment to overflow one.
type histogram [histBuckets]atomic.Uint32

// histIndex returns the bucket of d. Everything under ~1 ms lands in bucket 0 and everything from
// ~51.5 s on in the last bucket, whose upper edge is open.
func histIndex(d time.Duration) int {
	ns := uint64(d)
	if d < 1<<histMinExp {
		return 0
	}
	e := bits.Len64(ns) - 1
	sub := int(ns>>(e-histSubBits)) & (histSubs - 1)
	i := 1 + (e-histMinExp)*histSubs + sub
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histLower returns the smallest duration that falls in bucket i.
func histLower(i int) time.Duration {
	if i <= 0 {
		return 0
	}
	j := i - 1
	e := histMinExp + j/histSubs
	return time.Duration(uint64(histSubs+j%histSubs) << (e - histSubBits))
}

// histUpper returns the exclusive upper edge of bucket i; for the open last bucket it returns
// the bucket's lower edge, which is then the largest value a percentile can report.
func histUpper(i int) time.Duration {
	if i >= histBuckets-1 {
		return histLower(histBuckets - 1)
	}
	return histLower(i + 1)
}

func (h *histogram) reset() {
	for i := range h {
		h[i].Store(0)
	}
}

// histCounts is a plain copy of one or more histograms summed, read once so that the
// percentiles of one Window agree with each other while writers keep adding.
type histCounts [histBuckets]uint64

func (c *histCounts) addFrom(h *histogram) {
	for i := range h {
		c[i] += uint64(h[i].Load())
	}
}

func (c *histCounts) total() uint64 {
	var n uint64
	for _, v := range c {
		n += v
	}
	return n
}

// quantile returns the q-quantile (0 < q <= 1) of the counted durations, interpolating linearly
// inside the bucket that holds it: the answer lies within the bounds of the true value's bucket,
// so it is off by at most that bucket's width (25%). It returns 0 when nothing was counted.
func (c *histCounts) quantile(q float64, total uint64) time.Duration {
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum uint64
	last := 0
	for i, n := range c {
		if n == 0 {
			continue
		}
		last = i
		cum += n
		if float64(cum) >= rank {
			return interpolate(i, (rank-float64(cum-n))/float64(n))
		}
	}
	return interpolate(last, 1) // only reached if rounding put rank past the last count
}

// interpolate returns the point a fraction frac of the way through bucket i.
func interpolate(i int, frac float64) time.Duration {
	lo, hi := histLower(i), histUpper(i)
	frac = min(max(frac, 0), 1)
	return lo + time.Duration(frac*float64(hi-lo))
}

// Throughput goes into the same log-linear histogram as durations: a rate of r tokens per second
// is stored as r·2^20 "nanoseconds", so 1 token/s starts bucket 1 and the open last bucket starts
// near 49,000 tokens/s, with the same 25% precision over that whole range. Rates under 1 token/s
// share bucket 0.
const rateScale = 1 << histMinExp

// rateToDuration maps a rate onto the histogram's scale, saturating instead of overflowing.
func rateToDuration(r float64) time.Duration {
	v := r * rateScale
	if !(v < 1<<62) { // also catches NaN
		return 1 << 62
	}
	if v < 0 {
		return 0
	}
	return time.Duration(v)
}

// durationToRate is the inverse of rateToDuration.
func durationToRate(d time.Duration) float64 { return float64(d) / rateScale }
