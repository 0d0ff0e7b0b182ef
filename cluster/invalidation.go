package cluster

import (
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/arouter/arouter/apikey"
)

// KeyInvalidator drops a key from this replica's key cache. cachekeys.Cache implements it.
type KeyInvalidator interface {
	Invalidate(h apikey.Hash)
}

// CredentialReloader rereads organizations' provider credentials. byok.Cache implements it.
type CredentialReloader interface {
	Reload(ctx context.Context) error
}

// Bus tells every replica about changes that their caches must not wait a refresh for: a key
// disabled, deleted, rotated or limited on one replica is refused by all of them as soon as
// the message arrives (milliseconds), instead of after keys.refresh_after. Messages lost while
// Redis is away are covered by those periodic refreshes.
//
// Messages on the channel "<prefix>invalidate": "key:<hex hash>" or "byok".
type Bus struct {
	rdb     *redis.Client
	channel string
	keys    KeyInvalidator
	byok    CredentialReloader // may be nil
	timeout time.Duration
	log     *zap.Logger
	sub     *redis.PubSub
	reload  chan struct{} // to reloadBYOK; closed when run ends
	stopped chan struct{}
}

// NewBus subscribes to the channel and applies what other replicas publish to keys and byok
// (nil when this process holds no credentials). While Redis answers, it returns once the
// subscription is active, so that no change published after it returns is missed; while it
// does not (within ctx), it says so in the log and subscribes when Redis is back, and until
// then changes made elsewhere apply at the caches' next refresh.
func NewBus(ctx context.Context, rdb *redis.Client, prefix string, keys KeyInvalidator, byok CredentialReloader, timeout time.Duration, log *zap.Logger) *Bus {
	b := &Bus{rdb: rdb, channel: prefix + "invalidate", keys: keys, byok: byok, timeout: timeout, log: log,
		stopped: make(chan struct{})}
	b.sub = rdb.Subscribe(ctx, b.channel)
	confirm, cancel := context.WithTimeout(ctx, max(5*timeout, time.Second))
	defer cancel()
	if _, err := b.sub.Receive(confirm); err != nil { // the subscription confirmation
		log.Warn("not subscribed to key invalidations yet (redis unreachable); will subscribe when it answers", zap.Error(err))
	}
	b.reload = make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(b.run)
	if byok != nil {
		wg.Go(b.reloadBYOK)
	}
	go func() { wg.Wait(); close(b.stopped) }()
	return b
}

func (b *Bus) run() {
	for m := range b.sub.Channel() {
		invalidations.Inc()
		switch payload := m.Payload; {
		case strings.HasPrefix(payload, "key:"):
			var h apikey.Hash
			if raw, err := hex.DecodeString(payload[4:]); err == nil && len(raw) == len(h) {
				copy(h[:], raw)
				b.keys.Invalidate(h)
			}
		case payload == "byok" && b.byok != nil:
			select { // a reload already due covers this change too
			case b.reload <- struct{}{}:
			default:
			}
		}
	}
	close(b.reload)
}

// reloadBYOK rereads credentials when told to, apart from run, so that key invalidations
// never wait behind a reload.
func (b *Bus) reloadBYOK() {
	for range b.reload {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := b.byok.Reload(ctx); err != nil {
			b.log.Warn("reloading provider credentials after another replica changed them failed; the periodic reload will retry", zap.Error(err))
		}
		cancel()
	}
}

// Keys returns a KeyInvalidator that drops the key here and tells every other replica.
func (b *Bus) Keys() KeyInvalidator { return keyPublisher{b} }

// BYOK returns a CredentialReloader that reloads here and tells every other replica.
func (b *Bus) BYOK(local CredentialReloader) CredentialReloader {
	return byokPublisher{b, local}
}

type keyPublisher struct{ b *Bus }

func (p keyPublisher) Invalidate(h apikey.Hash) {
	p.b.keys.Invalidate(h)
	p.b.publish("key:" + hex.EncodeToString(h[:]))
}

type byokPublisher struct {
	b     *Bus
	local CredentialReloader
}

func (p byokPublisher) Reload(ctx context.Context) error {
	err := p.local.Reload(ctx)
	p.b.publish("byok")
	return err
}

// publish sends one message. A failure is logged, not returned: the change is stored, and the
// other replicas' periodic refreshes apply it within keys.refresh_after.
func (b *Bus) publish(msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	if err := b.rdb.Publish(ctx, b.channel, msg).Err(); err != nil {
		publishErrors.Inc()
		b.log.Warn("could not tell other replicas about a change; they apply it at their next refresh (keys.refresh_after)", zap.Error(err))
	}
}

// Close unsubscribes.
func (b *Bus) Close() error {
	err := b.sub.Close()
	<-b.stopped
	return err
}
