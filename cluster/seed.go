package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/arouter/arouter/budget"
)

// loadChunk is how many key budgets and organizations one load script call carries: small
// enough that Redis, which runs a script alone, never stalls other replicas noticeably.
const loadChunk = 500

// seedLockTTL bounds how long a seeder that died holds the seed lock.
const seedLockTTL = 2 * time.Minute

// Seed loads the store's counters into an empty Redis and reports whether it did: false when
// another replica has seeded it, or is seeding it now. Call it at start-up, before serving.
// Settlements that arrive while Redis is unseeded are dropped by the script; reconciliation
// counts them once their records are stored.
func (b *Budgets) Seed(ctx context.Context, s budget.Snapshot) (bool, error) {
	if n, err := b.bg.Exists(ctx, b.seeded).Result(); err != nil || n == 1 {
		return false, wrapSeed(err)
	}
	lock := b.o.Prefix + "seeding"
	got, err := b.bg.SetNX(ctx, lock, b.replica, seedLockTTL).Result()
	if err != nil || !got {
		return false, wrapSeed(err)
	}
	defer unlockScript.Run(context.Background(), b.bg, []string{lock}, b.replica) //nolint:errcheck // it expires anyway
	if err := b.load(ctx, "seed", s); err != nil {
		return false, wrapSeed(err)
	}
	if err := b.bg.Set(ctx, b.seeded, "1", 0).Err(); err != nil {
		return false, wrapSeed(err)
	}
	return true, nil
}

func wrapSeed(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("seed budget counters in redis: %w", err)
}

// load runs loadScript over s in chunks.
func (b *Budgets) load(ctx context.Context, mode string, s budget.Snapshot) error {
	st := starts(s.At)
	args := make([]any, 0, 2+13*loadChunk)
	n := 0
	send := func() error {
		if n == 0 {
			return nil
		}
		err := loadScript.Run(ctx, b.bg, []string{b.seeded}, args...).Err()
		args, n = args[:0], 0
		return err
	}
	args = append(args, b.o.Prefix, mode)
	for id, k := range s.Keys {
		args = append(args, "k", id, int64(k.Total), int64(k.BYOKTotal),
			st[0], int64(k.Day), int64(k.BYOKDay), st[1], int64(k.Week), int64(k.BYOKWeek),
			st[2], int64(k.Month), int64(k.BYOKMonth))
		if n++; n == loadChunk {
			if err := send(); err != nil {
				return err
			}
			args = append(args, b.o.Prefix, mode)
		}
	}
	for id, o := range s.Orgs {
		args = append(args, "o", id, int64(o.Credits), int64(o.Used))
		if n++; n == loadChunk {
			if err := send(); err != nil {
				return err
			}
			args = append(args, b.o.Prefix, mode)
		}
	}
	return send()
}

// reseed seeds Redis again after it lost its data, once at a time, in the background.
func (b *Budgets) reseed() {
	if b.o.Store == nil || !b.seeding.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer b.seeding.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		snap, err := b.o.Store.LoadSpend(ctx, time.Now())
		if err != nil {
			b.o.Logger.Error("reseeding budget counters in redis failed: the store could not be read; will retry on the next request", zap.Error(err))
			return
		}
		seeded, err := b.Seed(ctx, snap)
		switch {
		case err != nil:
			b.o.Logger.Error("reseeding budget counters in redis failed; will retry on the next request", zap.Error(err))
		case seeded:
			b.o.Logger.Warn("redis had lost its budget counters; seeded them again from the store")
		}
	}()
}

// reconcileLoop raises Redis's counters to the store's every ReconcileEvery. What Redis can
// miss: the settlements a replica had queued when it was killed, those dropped while Redis was
// unseeded, and those it could not deliver before shutting down. Their records reach the
// store (the spool sees to that), and from there Redis.
func (b *Budgets) reconcileLoop() {
	t := time.NewTicker(b.o.ReconcileEvery)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
		}
		if err := b.Reconcile(context.Background()); err != nil {
			b.o.Logger.Warn("reconciling redis's budget counters with the store failed; will retry", zap.Error(err))
		}
	}
}

// Reconcile raises Redis's counters to what the store holds, now.
func (b *Budgets) Reconcile(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	snap, err := b.o.Store.LoadSpend(ctx, time.Now())
	if err != nil {
		return fmt.Errorf("read the store: %w", err)
	}
	if err := b.load(ctx, "reconcile", snap); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}
