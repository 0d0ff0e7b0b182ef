package cachekeys

import (
	"context"
	"testing"
	"time"
)

func BenchmarkLookupHit(b *testing.B) {
	c, _, h := newTestCache(b, Options{RefreshAfter: time.Hour})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, h, time.Now()); err != nil {
		b.Fatal(err)
	}
	c.Wait()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		h := h
		for pb.Next() {
			if _, err := c.Lookup(ctx, h, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
