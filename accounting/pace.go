package accounting

import (
	"context"
	"time"
)

// A store that runs in the gateway's own process (SQLite) spends the gateway's CPUs on every
// batch, in one burst: about 3 ms of a core for 500 records on the 2-core benchmark machine.
// Requests that arrive during the burst wait for it, and the bursts were the whole difference
// between ARouter's p99 latency at 5,000 requests/s and the bare proxy's (with the store
// writes switched off, the two matched). So while the writer keeps up, it asks the store to
// pace a batch: the store calls Pause after each step of the work (SQLite: each chunk of
// rows), which rests for as long as the step took. A batch then holds a core for one step at
// a time, and the requests get it in between. When the writer falls behind (another batch is
// already waiting), it does not ask, and batches are written at full speed.

// pacingKey marks the context of a batch the store may pace.
type pacingKey struct{}

// Paced returns ctx marked as the writer marks a batch it lets the store pace. Stores' tests
// use it to check that the store pauses between steps.
func Paced(ctx context.Context) context.Context {
	return context.WithValue(ctx, pacingKey{}, true)
}

// maxPause bounds one rest: a step that took longer was mostly waiting (for the disk, for the
// database lock), not computing, and its wait left the CPUs free already.
const maxPause = time.Millisecond

// Pause rests after a step of a batch's work that began at stepStart, if the writer asked for
// pacing in ctx; otherwise it returns at once. Stores call it between steps, outside any
// lock that requests need.
func Pause(ctx context.Context, stepStart time.Time) {
	if d := pauseFor(ctx, time.Since(stepStart)); d > 0 {
		time.Sleep(d)
	}
}

// pauseFor is how long to rest after a step that lasted took.
func pauseFor(ctx context.Context, took time.Duration) time.Duration {
	if ctx.Value(pacingKey{}) == nil {
		return 0
	}
	return min(took, maxPause)
}
