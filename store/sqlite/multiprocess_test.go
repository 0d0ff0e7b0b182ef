package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

// Two Stores on one file stand in for the gateway and a CLI command in another process: each
// has its own connections, so they meet only through SQLite's file locks.
func TestTwoStoresShareKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "arouter.db")
	a, b := openAt(t, path), openAt(t, path)
	ctx := context.Background()
	k := testKey(1, true)
	if err := a.InsertKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	got, err := b.LoadKey(ctx, k.Hash)
	if err != nil {
		t.Fatalf("key inserted through a, loaded through b: %v", err)
	}
	checkKey(t, "through b", got, k)
	if err := b.SetKeyDisabled(ctx, k.Hash, true); err != nil {
		t.Fatal(err)
	}
	if got, err := a.LoadKey(ctx, k.Hash); err != nil || !got.Disabled {
		t.Errorf("disable through b not seen through a: %+v, %v", got, err)
	}
}

func TestTwoStoresConcurrentWrites(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "arouter.db")
	stores := []*Store{openAt(t, path), openAt(t, path)}
	const writersPerStore, batches, batchSize = 2, 15, 120
	all := testRecords(len(stores) * writersPerStore * batches * batchSize)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*writersPerStore)
	next := 0
	for _, s := range stores {
		for range writersPerStore {
			mine := all[next : next+batches*batchSize]
			next += len(mine)
			wg.Go(func() {
				for i := 0; i < len(mine); i += batchSize {
					if err := s.WriteUsage(ctx, mine[i:i+batchSize]); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	// Readers run beside the writers, as the gateway's key lookups would.
	wg.Go(func() {
		for range 50 {
			if _, err := stores[1].CountUsage(ctx); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, s := range stores {
		if n := countUsage(t, s); n != int64(len(all)) {
			t.Errorf("store %d sees %d records, want %d", i, n, len(all))
		}
	}
}
