package main

import (
	"context"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/admin"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/cachekeys"
	"github.com/arouter/arouter/config"
	"github.com/arouter/arouter/retention"
	"github.com/arouter/arouter/store/postgres"
	"github.com/arouter/arouter/store/sqlite"
)

// store is everything the gateway and the CLI use of the database. store/sqlite (one file,
// the default) and store/postgres (shared by replicas) implement it.
type store interface {
	admin.Store
	admin.ActivityStore
	admin.GenerationStore
	admin.BootstrapStore
	accounting.Sink
	cachekeys.Loader
	byok.Loader
	retention.Deleter
	creditTotals
	// LoadSpend reads the spend counters a budget.Ledger starts from.
	LoadSpend(ctx context.Context, now time.Time) (budget.Snapshot, error)
	// RekeyBYOK re-encrypts every provider credential (arouter byok rekey).
	RekeyBYOK(ctx context.Context, reseal func(ciphertext, aad []byte) ([]byte, error)) (int, error)
	// Ping is the readiness check (/readyz).
	Ping(ctx context.Context) error
	// Path names the store for messages, without secrets.
	Path() string
	Close() error
}

var (
	_ store = (*sqlite.Store)(nil)
	_ store = (*postgres.Store)(nil)
)

// openStore opens the configured store: PostgreSQL when store.postgres is set, else the
// SQLite file. (Each branch returns a nil interface on error, never a nil *Store in one.)
func openStore(cfg *config.Config) (store, error) {
	if cfg.Store.Postgres != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := postgres.Open(ctx, cfg.Store.Postgres)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	st, err := sqlite.Open(cfg.Store.SQLite)
	if err != nil {
		return nil, err
	}
	return st, nil
}
