package byok

import (
	"context"
	"testing"
)

func BenchmarkLookup(b *testing.B) {
	s := mustSealer(b, newKey(b))
	var rows []SealedCredential
	for i := range 1000 {
		rows = append(rows, sealed(s, int64(i+1), int64(i), "openai", "sk-bench", Prefer))
	}
	c, err := NewCache(context.Background(), &memLoader{rows: rows}, s, Options{Interval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var org int64
		for pb.Next() {
			c.Lookup(org%1000, "openai")
			org++
		}
	})
}
