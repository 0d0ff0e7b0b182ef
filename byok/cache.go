package byok

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Loader reads every live (not deleted) credential, sealed. store/sqlite implements it.
type Loader interface {
	LoadBYOK(ctx context.Context) ([]SealedCredential, error)
}

// DefaultReloadInterval is how often a Cache rereads the store when Options leave it zero:
// how long a change made by another process (a CLI on the same store, another gateway)
// takes to apply. Changes made through this process's Management API apply at once (Reload).
const DefaultReloadInterval = 5 * time.Second

// Options tune a Cache. The zero value is usable.
type Options struct {
	// Interval between background reloads: DefaultReloadInterval when zero, none when negative.
	Interval time.Duration
	// OnError is told of failed background reloads and of credentials that could not be
	// opened. Errors name credentials by id and label, never by secret.
	OnError func(error)
}

// Cache holds every organization's opened credentials for the request path. Lookup reads an
// immutable snapshot through an atomic pointer: no lock, no allocation. Reload builds a new
// snapshot from the Loader and swaps it in; the background reload does the same periodically.
type Cache struct {
	loader Loader
	sealer *Sealer
	opts   Options

	snap    atomic.Pointer[snapshot]
	reload  sync.Mutex // one reload at a time, so an older load never replaces a newer one
	stop    chan struct{}
	stopped sync.WaitGroup
	once    sync.Once
}

// cacheKey is a map key that Lookup can build without allocating.
type cacheKey struct {
	org      int64
	provider string
}

type entry struct {
	cred       *Credential
	ciphertext []byte // to reuse the opened credential while its row is unchanged
}

type snapshot struct {
	byKey map[cacheKey]entry
}

// NewCache loads every credential once, then keeps reloading in the background until Close.
// sealer may be nil (no master key configured): credentials are then listed but not usable.
// Only a failing Loader makes NewCache fail; credentials that cannot be opened are reported
// to Options.OnError and kept, unusable (see Credential.Usable).
func NewCache(ctx context.Context, l Loader, sealer *Sealer, o Options) (*Cache, error) {
	if o.Interval == 0 {
		o.Interval = DefaultReloadInterval
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	c := &Cache{loader: l, sealer: sealer, opts: o, stop: make(chan struct{})}
	c.snap.Store(&snapshot{byKey: map[cacheKey]entry{}})
	if err := c.Reload(ctx); err != nil {
		var oe *OpenErrors
		if !errors.As(err, &oe) {
			return nil, err
		}
		o.OnError(err)
	}
	if o.Interval > 0 {
		c.stopped.Add(1)
		go c.loop()
	}
	return c, nil
}

// Lookup returns orgID's credential for provider. It does not allocate. The Credential is
// shared and must not be modified.
func (c *Cache) Lookup(orgID int64, provider string) (*Credential, bool) {
	e, ok := c.snap.Load().byKey[cacheKey{orgID, provider}]
	return e.cred, ok
}

// Len returns the number of credentials held.
func (c *Cache) Len() int { return len(c.snap.Load().byKey) }

// OpenErrors lists the credentials a reload could not open. The reload still published them
// (unusable) and every other credential.
type OpenErrors struct{ Errs []error }

func (e *OpenErrors) Error() string {
	return fmt.Sprintf("%d BYOK credential(s) could not be opened: %v", len(e.Errs), errors.Join(e.Errs...))
}

func (e *OpenErrors) Unwrap() []error { return e.Errs }

// Reload reads every credential from the Loader now and publishes them. On a Loader error the
// previous snapshot stays. A credential whose row did not change since the last reload is
// kept as it was, without decrypting it again; the others are opened, and those that cannot
// be are published unusable and reported in an *OpenErrors (once: while their row stays the
// same, later reloads keep them quietly).
func (c *Cache) Reload(ctx context.Context) error {
	c.reload.Lock()
	defer c.reload.Unlock()
	rows, err := c.loader.LoadBYOK(ctx)
	if err != nil {
		return fmt.Errorf("load BYOK credentials: %w", err)
	}
	prev := c.snap.Load()
	next := &snapshot{byKey: make(map[cacheKey]entry, len(rows))}
	var failed []error
	for i := range rows {
		r := &rows[i]
		k := cacheKey{r.OrgID, r.Provider}
		if old, ok := prev.byKey[k]; ok && old.cred.ID == r.ID && old.cred.Mode == r.Mode &&
			old.cred.Label == r.Label && bytes.Equal(old.ciphertext, r.Ciphertext) {
			next.byKey[k] = old
			continue
		}
		cred := &Credential{ID: r.ID, OrgID: r.OrgID, Provider: r.Provider, Label: r.Label, Mode: r.Mode, CreatedAt: r.CreatedAt}
		if pt, err := c.sealer.Open(r.Ciphertext, AAD(r.OrgID, r.Provider)); err != nil {
			failed = append(failed, fmt.Errorf("credential %d (%q, organization %d): %w", r.ID, r.Label, r.OrgID, err))
		} else {
			cred.Secret = string(pt)
			clear(pt)
		}
		next.byKey[k] = entry{cred: cred, ciphertext: r.Ciphertext}
	}
	c.snap.Store(next)
	if len(failed) > 0 {
		return &OpenErrors{Errs: failed}
	}
	return nil
}

func (c *Cache) loop() {
	defer c.stopped.Done()
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), max(c.opts.Interval, time.Second))
			if err := c.Reload(ctx); err != nil {
				c.opts.OnError(err)
			}
			cancel()
		}
	}
}

// Close stops the background reload and waits for it. Lookup keeps working on the last
// snapshot. Close is idempotent.
func (c *Cache) Close() {
	c.once.Do(func() { close(c.stop) })
	c.stopped.Wait()
}
