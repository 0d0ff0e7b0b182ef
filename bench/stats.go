package bench

import (
	"math"
	"slices"
	"time"
)

// Samples holds every measured duration of a run, in nanoseconds. Keeping them all (rather
// than a bucketed histogram) makes the percentiles exact; a run of a few hundred thousand
// requests costs a few megabytes.
type Samples struct{ v []int64 }

// Add records one duration.
func (s *Samples) Add(d time.Duration) { s.v = append(s.v, int64(d)) }

// Merge appends all of o's samples.
func (s *Samples) Merge(o *Samples) { s.v = append(s.v, o.v...) }

// Len is the number of samples.
func (s *Samples) Len() int { return len(s.v) }

// Summary is the distribution of a set of samples, in microseconds.
type Summary struct {
	Count int     `json:"count"`
	Min   float64 `json:"min_us"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p99_9_us"`
	Max   float64 `json:"max_us"`
}

// Summarize sorts the samples (in place) and computes their distribution. An empty set gives a
// zero Summary.
func (s *Samples) Summarize() Summary {
	n := len(s.v)
	if n == 0 {
		return Summary{}
	}
	slices.Sort(s.v)
	var sum float64
	for _, x := range s.v {
		sum += float64(x)
	}
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Summary{
		Count: n,
		Min:   us(s.v[0]),
		Mean:  sum / float64(n) / 1e3,
		P50:   us(percentile(s.v, 50)),
		P90:   us(percentile(s.v, 90)),
		P99:   us(percentile(s.v, 99)),
		P999:  us(percentile(s.v, 99.9)),
		Max:   us(s.v[n-1]),
	}
}

// percentile is the nearest-rank percentile of sorted: the smallest sample that at least p% of
// the samples do not exceed. With fewer than 1000 samples p99.9 is therefore the maximum, which
// is the honest answer.
func percentile(sorted []int64, p float64) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(n)/100 - 1e-9)) // tolerate 99.9/100*1000 = 999.0000000000001
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// median of xs (not modified); the mean of the two middle values for an even count, 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// medianSummary takes each field's median over runs, which is how every figure the suite
// reports is formed: one bad run on a shared machine moves nothing.
func medianSummary(runs []Summary) Summary {
	field := func(f func(Summary) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	var total int
	for _, r := range runs {
		total += r.Count
	}
	return Summary{
		Count: total,
		Min:   field(func(s Summary) float64 { return s.Min }),
		Mean:  field(func(s Summary) float64 { return s.Mean }),
		P50:   field(func(s Summary) float64 { return s.P50 }),
		P90:   field(func(s Summary) float64 { return s.P90 }),
		P99:   field(func(s Summary) float64 { return s.P99 }),
		P999:  field(func(s Summary) float64 { return s.P999 }),
		Max:   field(func(s Summary) float64 { return s.Max }),
	}
}
