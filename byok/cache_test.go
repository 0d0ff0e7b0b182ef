package byok

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memLoader is a Loader over a slice the test changes.
type memLoader struct {
	mu    sync.Mutex
	rows  []SealedCredential
	err   error
	loads atomic.Int64
}

func (m *memLoader) LoadBYOK(context.Context) ([]SealedCredential, error) {
	m.loads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	return append([]SealedCredential(nil), m.rows...), nil
}

func (m *memLoader) set(rows []SealedCredential, err error) {
	m.mu.Lock()
	m.rows, m.err = rows, err
	m.mu.Unlock()
}

func sealed(s *Sealer, id, org int64, provider, secret string, mode Mode) SealedCredential {
	return SealedCredential{ID: id, OrgID: org, Provider: provider, Label: Label("", provider, secret), Mode: mode,
		Ciphertext: s.Seal([]byte(secret), AAD(org, provider)), CreatedAt: time.Unix(1_700_000_000, 0).UTC()}
}

func TestCacheLookupAndReload(t *testing.T) {
	t.Parallel()
	s := mustSealer(t, newKey(t))
	l := &memLoader{rows: []SealedCredential{
		sealed(s, 1, 10, "openai", "sk-org10-openai", Prefer),
		sealed(s, 2, 10, "anthropic", "sk-org10-anthropic", Only),
		sealed(s, 3, 20, "openai", "sk-org20-openai", Fallback),
	}}
	c, err := NewCache(context.Background(), l, s, Options{Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []struct {
		org      int64
		provider string
		secret   string
		mode     Mode
	}{{10, "openai", "sk-org10-openai", Prefer}, {10, "anthropic", "sk-org10-anthropic", Only}, {20, "openai", "sk-org20-openai", Fallback}} {
		cred, ok := c.Lookup(q.org, q.provider)
		if !ok || cred.Secret != q.secret || cred.Mode != q.mode || cred.OrgID != q.org || cred.Provider != q.provider || !cred.Usable() {
			t.Errorf("Lookup(%d, %s) = %+v, %v", q.org, q.provider, cred, ok)
		}
	}
	for _, q := range []struct {
		org      int64
		provider string
	}{{20, "anthropic"}, {30, "openai"}, {10, ""}, {0, "openai"}} {
		if cred, ok := c.Lookup(q.org, q.provider); ok || cred != nil {
			t.Errorf("Lookup(%d, %q) found %+v", q.org, q.provider, cred)
		}
	}
	if c.Len() != 3 {
		t.Errorf("Len = %d", c.Len())
	}

	// A change applies on Reload; an unchanged row keeps its opened credential.
	kept, _ := c.Lookup(10, "anthropic")
	rows := []SealedCredential{l.rows[1], sealed(s, 4, 20, "openai", "sk-org20-new", Only)}
	l.set(rows, nil)
	if err := c.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Lookup(10, "openai"); ok {
		t.Error("a deleted credential is still found")
	}
	if cred, _ := c.Lookup(20, "openai"); cred.Secret != "sk-org20-new" || cred.ID != 4 || cred.Mode != Only {
		t.Errorf("replaced credential: %+v", cred)
	}
	if cred, _ := c.Lookup(10, "anthropic"); cred != kept {
		t.Error("an unchanged credential was opened again")
	}

	// A failing loader keeps the last snapshot.
	l.set(nil, errors.New("disk on fire"))
	if err := c.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Reload with a failing loader: %v", err)
	}
	if c.Len() != 2 {
		t.Errorf("after a failed reload: %d credentials, want the 2 from before", c.Len())
	}
}

// Credentials that cannot be opened are listed unusable, so that the request path can refuse
// rather than silently bill the platform's key, and reported without their secrets.
func TestCacheUnopenableCredentials(t *testing.T) {
	t.Parallel()
	s, other := mustSealer(t, newKey(t)), mustSealer(t, newKey(t))
	moved := sealed(s, 2, 2, "openai", "sk-moved-secret", Prefer)
	moved.OrgID = 3 // copied to another organization's row
	l := &memLoader{rows: []SealedCredential{
		sealed(s, 1, 1, "openai", "sk-good-secret", Prefer),
		moved,
		sealed(other, 3, 4, "openai", "sk-other-key-secret", Only),
	}}
	var reported []error
	var mu sync.Mutex
	c, err := NewCache(context.Background(), l, s, Options{Interval: -1, OnError: func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatalf("NewCache failed for unopenable credentials: %v", err)
	}
	defer c.Close()
	if len(reported) != 1 {
		t.Fatalf("reported %v", reported)
	}
	var oe *OpenErrors
	if !errors.As(reported[0], &oe) || len(oe.Errs) != 2 {
		t.Fatalf("report: %v", reported[0])
	}
	msg := reported[0].Error()
	if strings.Contains(msg, "sk-") && !strings.Contains(msg, "…") {
		t.Errorf("report may contain a secret: %s", msg)
	}
	for _, secret := range []string{"sk-moved-secret", "sk-other-key-secret"} {
		if strings.Contains(msg, secret) {
			t.Errorf("report contains a secret: %s", msg)
		}
	}
	if cred, ok := c.Lookup(1, "openai"); !ok || !cred.Usable() {
		t.Errorf("good credential: %+v", cred)
	}
	for _, org := range []int64{3, 4} {
		cred, ok := c.Lookup(org, "openai")
		if !ok || cred.Usable() || cred.Secret != "" {
			t.Errorf("org %d: %+v, %v; want listed, unusable", org, cred, ok)
		}
	}
	// Reported once: a reload with the same rows is quiet.
	if err := c.Reload(context.Background()); err != nil {
		t.Errorf("second reload: %v", err)
	}

	// With no master key at all, every credential is listed unusable.
	nc, err := NewCache(context.Background(), l, nil, Options{Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if cred, ok := nc.Lookup(1, "openai"); !ok || cred.Usable() {
		t.Errorf("without a master key: %+v, %v", cred, ok)
	}
}

func TestNewCacheFailsWhenTheLoaderFails(t *testing.T) {
	t.Parallel()
	if _, err := NewCache(context.Background(), &memLoader{err: errors.New("no store")}, nil, Options{}); err == nil {
		t.Fatal("NewCache succeeded with a failing loader")
	}
}

func TestCacheBackgroundReload(t *testing.T) {
	t.Parallel()
	s := mustSealer(t, newKey(t))
	l := &memLoader{}
	errs := make(chan error, 10)
	c, err := NewCache(context.Background(), l, s, Options{Interval: 5 * time.Millisecond, OnError: func(err error) {
		select {
		case errs <- err:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	l.set([]SealedCredential{sealed(s, 1, 1, "openai", "sk-appears-later", Prefer)}, nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if cred, ok := c.Lookup(1, "openai"); ok && cred.Secret == "sk-appears-later" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background reload never picked up the new credential")
		}
		time.Sleep(time.Millisecond)
	}
	l.set(nil, errors.New("store gone"))
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "store gone") {
			t.Errorf("reported %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a failing background reload was not reported")
	}
	c.Close()
	c.Close() // idempotent
	n := l.loads.Load()
	time.Sleep(30 * time.Millisecond)
	if l.loads.Load() != n {
		t.Error("reloads continue after Close")
	}
	if _, ok := c.Lookup(1, "openai"); !ok {
		t.Error("Lookup after Close lost the last snapshot")
	}
}

// Readers never see a torn or missing snapshot while reloads swap them (run with -race).
func TestCacheConcurrentLookupAndReload(t *testing.T) {
	t.Parallel()
	s := mustSealer(t, newKey(t))
	a := []SealedCredential{sealed(s, 1, 1, "openai", "sk-version-a", Prefer)}
	b := []SealedCredential{sealed(s, 2, 1, "openai", "sk-version-b", Only)}
	l := &memLoader{rows: a}
	c, err := NewCache(context.Background(), l, s, Options{Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cred, ok := c.Lookup(1, "openai")
				if !ok || (cred.Secret != "sk-version-a" || cred.ID != 1) && (cred.Secret != "sk-version-b" || cred.ID != 2) {
					t.Errorf("inconsistent credential %+v, %v", cred, ok)
					return
				}
			}
		})
	}
	for i := range 200 {
		if i%2 == 0 {
			l.set(b, nil)
		} else {
			l.set(a, nil)
		}
		if err := c.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
