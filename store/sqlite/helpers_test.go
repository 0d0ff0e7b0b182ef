package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/money"
)

// openTest opens a fresh store in the test's own temporary directory.
func openTest(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "data", "arouter.db"))
}

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// testKey returns a key whose every field is set, with times at the stored precision.
func testKey(i int, expires bool) *apikey.Key {
	token := fmt.Sprintf("%s%064d", apikey.Prefix, i)
	k := &apikey.Key{
		Hash:      apikey.HashToken([]byte(token)),
		Name:      fmt.Sprintf("key %d", i),
		Label:     apikey.Label(token),
		Disabled:  i%3 == 2,
		CreatedAt: time.UnixMilli(1_700_000_000_000 + int64(i)).UTC(),
	}
	if expires {
		k.ExpiresAt = time.UnixMilli(1_800_000_000_123 + int64(i)).UTC()
	}
	return k
}

// testRecords returns n records with distinct generation ids and every field set, with times
// at the stored (microsecond) precision.
func testRecords(n int) []accounting.Record {
	base := time.UnixMicro(1_750_000_000_123_456).UTC()
	recs := make([]accounting.Record, n)
	for i := range recs {
		ts := base.Add(time.Duration(i) * time.Millisecond)
		recs[i] = accounting.Record{
			GenerationID:     accounting.NewGenerationID(ts),
			Time:             ts,
			KeyID:            int64(i%7 + 1),
			Model:            "openai/gpt-4o-mini",
			Provider:         "openai",
			UpstreamModel:    "gpt-4o-mini-2024-07-18",
			PromptTokens:     int64(1000 + i),
			CompletionTokens: int64(200 + i),
			ReasoningTokens:  int64(i % 50),
			CachedTokens:     int64(i % 100),
			CacheWriteTokens: int64(i % 13),
			Cost:             money.Nanos(123_456_789 + i),
			Latency:          time.Duration(1_500_000+i) * time.Microsecond,
			TTFB:             time.Duration(250_000+i) * time.Microsecond,
			Status:           200,
			Streamed:         i%2 == 0,
			Cancelled:        i%5 == 0,
		}
		if i%11 == 0 {
			recs[i].Status = 502
			recs[i].ErrorCode = "upstream_status"
		}
	}
	return recs
}

func countUsage(t testing.TB, s *Store) int64 {
	t.Helper()
	n, err := s.CountUsage(context.Background())
	if err != nil {
		t.Fatalf("CountUsage: %v", err)
	}
	return n
}
