package bench

import (
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	var s Samples
	for i := 100; i >= 1; i-- { // unsorted on purpose
		s.Add(time.Duration(i) * time.Microsecond)
	}
	got := s.Summarize()
	want := Summary{Count: 100, Min: 1, Mean: 50.5, P50: 50, P90: 90, P99: 99, P999: 100, Max: 100}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestPercentileEdgeCases(t *testing.T) {
	if got := (&Samples{}).Summarize(); got != (Summary{}) {
		t.Fatalf("empty: %+v", got)
	}
	one := Samples{v: []int64{7000}}
	if got := one.Summarize(); got.P50 != 7 || got.P999 != 7 || got.Count != 1 {
		t.Fatalf("one sample: %+v", got)
	}
	// 1000 samples: p99.9 is the 999th, not the maximum.
	var s Samples
	for i := 1; i <= 1000; i++ {
		s.Add(time.Duration(i) * time.Microsecond)
	}
	if got := s.Summarize(); got.P999 != 999 || got.P99 != 990 || got.Max != 1000 {
		t.Fatalf("1000 samples: %+v", got)
	}
}

func TestMerge(t *testing.T) {
	a, b := Samples{v: []int64{1, 2}}, Samples{v: []int64{3}}
	a.Merge(&b)
	if a.Len() != 3 {
		t.Fatalf("len %d", a.Len())
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{5}, 5}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := append([]float64(nil), c.in...)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Errorf("median reordered its input")
			}
		}
	}
}

func TestMedianSummaryTakesEachFieldsMedian(t *testing.T) {
	runs := []Summary{
		{Count: 10, P50: 100, P99: 900},
		{Count: 10, P50: 300, P99: 200},
		{Count: 10, P50: 200, P99: 5000},
	}
	got := medianSummary(runs)
	if got.P50 != 200 || got.P99 != 900 || got.Count != 30 {
		t.Fatalf("got %+v", got)
	}
}

func TestRotate(t *testing.T) {
	xs := []string{"a", "b", "c"}
	for r, want := range []string{"abc", "bca", "cab", "abc"} {
		got := ""
		for _, x := range rotate(xs, r) {
			got += x
		}
		if got != want {
			t.Errorf("rotate(%d) = %s, want %s", r, got, want)
		}
	}
	if xs[0] != "a" {
		t.Fatal("rotate changed its input")
	}
}
