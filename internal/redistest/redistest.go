// Package redistest gives tests a real Redis, named by AROUTER_TEST_REDIS_URL, and a key
// prefix of their own on it, so that tests running at once (and earlier runs) never see each
// other's counters.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL returns AROUTER_TEST_REDIS_URL, or skips the test saying how to run it.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("AROUTER_TEST_REDIS_URL")
	if u == "" {
		t.Skip("AROUTER_TEST_REDIS_URL is not set: skipping this test, which needs a real Redis; " +
			"set it to e.g. redis://127.0.0.1:6379/0 to run it (make test does)")
	}
	return u
}

// Prefix returns a fresh key prefix and deletes every key under it when the test ends.
func Prefix(t testing.TB, url string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:]) //nolint:errcheck // never fails (crypto/rand)
	prefix := "arouter-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return
		}
		c := redis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return prefix
}

// Client returns a client for url, closed when the test ends.
func Client(t testing.TB, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}
