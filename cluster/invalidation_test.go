package cluster

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/arouter/arouter/apikey"
)

// recorder records what a replica's caches were told.
type recorder struct {
	keys chan apikey.Hash
	byok chan struct{}
}

func newRecorder() *recorder {
	return &recorder{keys: make(chan apikey.Hash, 16), byok: make(chan struct{}, 16)}
}

func (r *recorder) Invalidate(h apikey.Hash) { r.keys <- h }

func (r *recorder) Reload(context.Context) error {
	r.byok <- struct{}{}
	return nil
}

func TestChangesReachEveryReplicaWithinASecond(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	bus := func(r *recorder) *Bus {
		rdb, err := Open(ctx, Options{URL: f.url, Prefix: f.prefix, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		b := NewBus(ctx, rdb, f.prefix, r, r, time.Second, zap.NewNop())
		t.Cleanup(func() { b.Close(); rdb.Close() })
		return b
	}
	here, there := newRecorder(), newRecorder()
	a := bus(here)
	bus(there)

	h := apikey.HashToken([]byte("sk-ar-v1-deleted"))
	a.Keys().Invalidate(h)
	for _, r := range []*recorder{here, there} {
		select {
		case got := <-r.keys:
			if got != h {
				t.Fatalf("invalidated %x, want %x", got, h)
			}
		case <-time.After(time.Second):
			t.Fatal("a key invalidated on one replica did not reach the other within a second")
		}
	}

	if err := a.BYOK(here).Reload(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-there.byok:
	case <-time.After(time.Second):
		t.Fatal("a credential change on one replica did not reach the other within a second")
	}
}
