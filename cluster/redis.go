// Package cluster is what gateway replicas share through Redis: key-budget and organization
// spend counters with their reservations (Budgets, a budget.Remote), and invalidations of
// cached keys and provider credentials (Bus). The durable truth stays in the store; Redis
// holds what replicas must agree on at request speed.
//
// Every Redis key and channel starts with the configured prefix. Scripts touch keys they build
// from the prefix, so the server must be a single Redis (or a Sentinel-managed primary), not
// Redis Cluster.
package cluster

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"
)

// Options configure the connection.
type Options struct {
	URL    string // redis://[:password@]host:port/db, or rediss:// for TLS
	Prefix string // starts every key and channel, e.g. "arouter:"
	// Timeout bounds each round trip: the most Redis can add to a request.
	Timeout time.Duration
}

// Open connects to Redis and checks that it answers.
func Open(ctx context.Context, o Options) (*redis.Client, error) {
	c, err := NewClient(o)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*o.Timeout)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis %s: %w; check redis.url and that the server is running", Redact(o.URL), err)
	}
	return c, nil
}

// NewClient returns a client for o.URL without connecting: for a replica that starts while
// Redis is unreachable (redis.on_failure: fail_open) and uses it once it answers.
func NewClient(o Options) (*redis.Client, error) {
	ro, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url %s: %w", Redact(o.URL), err)
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = o.Timeout, o.Timeout, o.Timeout
	// A request waits for a pooled connection no longer than for the server itself.
	ro.PoolTimeout = o.Timeout
	// Retries would multiply the time a request can wait; the caller's policy decides instead.
	ro.MaxRetries = -1
	// The caller's context then bounds a whole call (pool wait, dial, write and read), not
	// each step apart.
	ro.ContextTimeoutEnabled = true
	// Maintenance notifications are a Redis Enterprise feature; on a plain server the client
	// only logs its failure to enable them.
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(ro), nil
}

// LogTo routes go-redis's own messages (a connection pool failing to dial, say), which it
// prints to stderr by default, to log at debug level: what matters of them is already logged,
// once per outage, by Budgets and Bus. It sets go-redis's process-wide logger; only cmd calls it.
func LogTo(log *zap.Logger) {
	redis.SetLogger(zapPrintf{log})
}

type zapPrintf struct{ log *zap.Logger }

func (z zapPrintf) Printf(_ context.Context, format string, v ...any) {
	z.log.Debug("redis client: " + fmt.Sprintf(format, v...))
}

// Redact hides a URL's password, for messages and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
