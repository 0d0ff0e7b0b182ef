package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/internal/redistest"
	"github.com/arouter/arouter/internal/tcprelay"
	"github.com/arouter/arouter/store/postgres/pgtest"
)

// replicaYAML configures one replica of a set sharing PostgreSQL and Redis: %s are the
// PostgreSQL URL, the Redis URL, the Redis prefix, the replica's spool directory and the
// accounting flush interval. Keys are never re-read from the store on a timer (refresh_after
// 1h), so a key deleted elsewhere can only be refused through Redis's invalidations. Redis
// may take 5s per round trip instead of the default 200ms: with on_failure fail_closed a slow
// answer is a 503, and these tests are about what replicas share, not about how fast Redis is
// on a machine running the whole test suite at once.
const replicaYAML = `
listen: 127.0.0.1:0
store: {postgres: "%s"}
redis: {url: "%s", prefix: "%s", on_failure: fail_closed, timeout: 5s}
keys: {refresh_after: 1h}
accounting: {spool_dir: "%s", flush_interval: %s}
providers:
  - {id: mock, kind: mock, probe: false, mock: {event_delay: 1ms, tokens: 10}}
models:
  - id: openai/gpt-4o-mini
    pricing: {prompt: "0.15", completion: "0.60"}
    deployments: [{provider: mock, model: gpt-4o-mini}]
`

// limitedBody asks for at most 10 tokens, so that the gateway's estimate is close to the cost.
const limitedBody = `{"model":"openai/gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"Say hello"}]}`

// replicaSet is several `arouter serve` processes on one PostgreSQL schema and one Redis prefix.
type replicaSet struct {
	t        *testing.T
	bin, dir string
	pgURL    string // as the test reaches PostgreSQL (not through a relay)
	prefix   string // of the replicas' Redis keys and channels
	admin    string // the instance admin's management token
	cfgs     []string
	cmds     []*exec.Cmd
	addrs    []string
}

// startReplicas starts n replicas; storeURL, when not empty, is the PostgreSQL URL the
// replicas use instead of the test's (through a relay).
func startReplicas(t *testing.T, n int, flush string, relayTo func(pgURL string) string) *replicaSet {
	t.Helper()
	pgURL := pgtest.URL(t)
	redisURL := redistest.URL(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := apikey.GenerateManagement()
	if err != nil {
		t.Fatal(err)
	}
	rs := &replicaSet{t: t, bin: bin, dir: t.TempDir(), pgURL: pgURL, admin: admin}
	storeURL := pgURL
	if relayTo != nil {
		storeURL = relayTo(pgURL)
	}
	prefix := redistest.Prefix(t, redisURL)
	rs.prefix = prefix
	for i := range n {
		cfg := filepath.Join(rs.dir, fmt.Sprintf("replica%d.yaml", i))
		spool := filepath.Join(rs.dir, fmt.Sprintf("spool%d", i))
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(replicaYAML, storeURL, redisURL, prefix, spool, flush)), 0o600); err != nil {
			t.Fatal(err)
		}
		rs.cfgs = append(rs.cfgs, cfg)
		rs.cmds = append(rs.cmds, nil)
		rs.addrs = append(rs.addrs, "")
		rs.start(i) // one after the other: the first bootstraps the store and seeds Redis
	}
	return rs
}

// start (re)starts replica i.
func (rs *replicaSet) start(i int) {
	rs.t.Helper()
	rs.cmds[i], rs.addrs[i] = startProcessEnv(rs.t, rs.bin, rs.cfgs[i], "AROUTER_ADMIN_KEY="+rs.admin)
}

// createKey creates an inference key through replica i's Management API.
func (rs *replicaSet) createKey(i int, fields map[string]any) (token, hash string) {
	rs.t.Helper()
	var out struct {
		Key  string
		Data struct{ Hash string }
	}
	if status := rs.call(i, "POST", "/v1/keys", rs.admin, fields, &out); status != 201 {
		rs.t.Fatalf("create key: status %d", status)
	}
	return out.Key, out.Data.Hash
}

// call sends a JSON request to replica i and decodes the answer into out.
func (rs *replicaSet) call(i int, method, path, token string, body, out any) int {
	rs.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, "http://"+rs.addrs[i]+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		rs.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			rs.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// chat sends one chat request to replica i and returns its status, generation id and cost.
func (rs *replicaSet) chat(i int, token string) (status int, id string, cost float64, err error) {
	req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+rs.addrs[i]+"/v1/chat/completions", strings.NewReader(limitedBody))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	var out struct{ Usage struct{ Cost float64 } }
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", 0, err
	}
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &out); err != nil {
			return resp.StatusCode, "", 0, err
		}
	}
	return resp.StatusCode, resp.Header.Get("X-Generation-Id"), out.Usage.Cost, nil
}

// db connects the test itself to the replicas' PostgreSQL schema.
func (rs *replicaSet) db() *pgx.Conn {
	rs.t.Helper()
	c, err := pgx.Connect(context.Background(), rs.pgURL)
	if err != nil {
		rs.t.Fatal(err)
	}
	rs.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// recordsOf counts the stored usage records of the given generation ids, by id.
func recordsOf(t *testing.T, db *pgx.Conn, ids []string) map[string]int {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT generation_id, count(*) FROM usage_records WHERE generation_id = ANY($1) GROUP BY generation_id`, ids)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		got[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// load is chat requests sent by workers spread over a set's replicas until finish.
type load struct {
	mu   sync.Mutex
	ids  []string // generation ids of the requests that completed
	stop atomic.Bool
	wg   sync.WaitGroup
}

// startLoad starts workers sending requests with token, worker w to replica w % len(addrs).
// A worker stops at its first failed request, which is a test error if mustSucceed(replica).
func (rs *replicaSet) startLoad(token string, workers int, mustSucceed func(replica int) bool) *load {
	l := &load{}
	for w := range workers {
		replica := w % len(rs.addrs)
		l.wg.Go(func() {
			for !l.stop.Load() {
				status, id, _, err := rs.chat(replica, token)
				if err != nil || status != 200 {
					if mustSucceed(replica) {
						rs.t.Errorf("replica %d: status %d, %v", replica, status, err)
					}
					return
				}
				l.mu.Lock()
				l.ids = append(l.ids, id)
				l.mu.Unlock()
			}
		})
	}
	return l
}

// completed returns the ids of the requests completed so far.
func (l *load) completed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids[:len(l.ids):len(l.ids)]
}

// finish stops the workers and returns every completed request's id.
func (l *load) finish() []string {
	l.stop.Store(true)
	l.wg.Wait()
	return l.completed()
}

// (a) A key whose limit allows about 50 requests, 200 requests at once spread over three
// replicas: the spend the store settles exceeds the limit by at most one request.
func TestReplicasShareOneKeyLimit(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 3, "10ms", nil)
	probe, _ := rs.createKey(0, map[string]any{"name": "probe"})
	status, _, cost, err := rs.chat(0, probe)
	if err != nil || status != 200 || cost <= 0 {
		t.Fatalf("probe request: %d %v cost %v", status, err, cost)
	}
	limit := 50 * cost
	token, hash := rs.createKey(0, map[string]any{"name": "limited", "limit": limit})

	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			status, _, _, err := rs.chat(i%3, token)
			switch {
			case err != nil:
				t.Error(err)
			case status == 200:
				admitted.Add(1)
			case status == 402:
				refused.Add(1)
			default:
				t.Errorf("status %d, want 200 or 402", status)
			}
		})
	}
	wg.Wait()
	if admitted.Load() < 25 {
		t.Fatalf("only %d of 200 requests admitted; the limit allows about 50", admitted.Load())
	}

	// Every admitted request's record reaches the store; their sum is the settled spend.
	db := rs.db()
	var keyID int64
	if err := db.QueryRow(context.Background(), `SELECT id FROM api_keys WHERE encode(hash, 'hex') = $1`, hash).Scan(&keyID); err != nil {
		t.Fatal(err)
	}
	var n int64
	var spentNanos int64
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := db.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(cost_nanos), 0) FROM usage_records WHERE key_id = $1`, keyID).Scan(&n, &spentNanos); err != nil {
			t.Fatal(err)
		}
		if n == admitted.Load() || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n != admitted.Load() {
		t.Fatalf("%d records stored for %d admitted requests", n, admitted.Load())
	}
	spent := float64(spentNanos) / 1e9
	t.Logf("limit $%.9f (50 requests): %d admitted, %d refused, spent $%.9f", limit, admitted.Load(), refused.Load(), spent)
	if spent > limit+cost*1.0001 {
		t.Fatalf("spent $%.9f against a limit of $%.9f: over by more than one request ($%.9f)", spent, limit, cost)
	}
}

// (b) A key deleted through one replica is refused by the others within a second, though
// they would not re-read it from the store for an hour.
func TestAKeyDeletedOnOneReplicaIsRefusedByAll(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 3, "10ms", nil)
	token, hash := rs.createKey(0, map[string]any{"name": "doomed"})
	for i := range 3 { // every replica has the key cached
		if status, _, _, err := rs.chat(i, token); err != nil || status != 200 {
			t.Fatalf("replica %d before the delete: %d %v", i, status, err)
		}
	}
	if status := rs.call(0, "DELETE", "/v1/keys/"+hash, rs.admin, nil, nil); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	deleted := time.Now()
	rs.waitRefused(token, deleted, "deleted")
	t.Logf("refused by every replica %v after the delete", time.Since(deleted))

	// The CLI working on the shared store tells the replicas too.
	token, hash = rs.createKey(0, map[string]any{"name": "disabled by the CLI"})
	for i := range 3 {
		if status, _, _, err := rs.chat(i, token); err != nil || status != 200 {
			t.Fatalf("replica %d before the CLI disabled the key: %d %v", i, status, err)
		}
	}
	cli := exec.Command(rs.bin, "keys", "disable", hash, "--config", rs.cfgs[0])
	cli.Env = append(os.Environ(), "AROUTER_ADMIN_KEY="+rs.admin)
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("arouter keys disable: %v: %s", err, out)
	}
	rs.waitRefused(token, time.Now(), "disabled by the CLI")
}

// waitRefused waits until every replica refuses token (401), failing the test if one still
// serves it a second after since.
func (rs *replicaSet) waitRefused(token string, since time.Time, what string) {
	rs.t.Helper()
	for i := range rs.addrs {
		for {
			status, _, _, err := rs.chat(i, token)
			if err != nil {
				rs.t.Fatal(err)
			}
			if status == 401 {
				break
			}
			if time.Since(since) > time.Second {
				rs.t.Fatalf("replica %d still serves a key %s after %v (status %d)", i, what, time.Since(since), status)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// (c) A replica killed with SIGKILL in the middle of load: after it restarts, every request
// that completed has exactly one usage record. Records are flushed hourly, so those of the
// killed replica exist only in its spool when it dies.
func TestAReplicaKilledMidLoadLosesNoRecord(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 2, "1h", nil)
	token, _ := rs.createKey(0, map[string]any{"name": "load"})
	// Replica 1 is killed: its requests that fail there did not complete, and its workers stop.
	l := rs.startLoad(token, 8, func(replica int) bool { return replica == 0 })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if len(l.completed()) >= 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("load never reached 300 requests")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := rs.cmds[1].Process.Signal(syscall.SIGKILL); err != nil { // mid-load
		t.Fatal(err)
	}
	if err := rs.cmds[1].Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("replica 1 exit: %v, want killed", err)
	}
	completed := l.finish()
	if t.Failed() {
		return
	}
	// SIGTERM replica 0 so that its records are stored too, then restart the killed one: it
	// stores its spool before it listens.
	if err := rs.cmds[0].Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := rs.cmds[0].Wait(); err != nil {
		t.Fatalf("replica 0 exited with %v", err)
	}
	rs.start(1)
	got := recordsOf(t, rs.db(), completed)
	for _, id := range completed {
		if got[id] != 1 {
			t.Fatalf("request %s completed but has %d records", id, got[id])
		}
	}
	t.Logf("%d completed requests, each with one record", len(completed))
}

// (d) PostgreSQL unreachable for ten seconds under load (cut by a relay): no request fails for
// accounting's sake, and every record arrives once it is back.
func TestStoreOutageUnderLoadLosesNothing(t *testing.T) {
	t.Parallel()
	var relay *tcprelay.Relay
	rs := startReplicas(t, 2, "10ms", func(pgURL string) string {
		u, err := url.Parse(pgURL)
		if err != nil {
			t.Fatal(err)
		}
		relay = tcprelay.Start(t, u.Host)
		u.Host = relay.Addr()
		return u.String()
	})
	token, _ := rs.createKey(0, map[string]any{"name": "outage"})
	for i := range 2 { // cache the key on both replicas
		if status, _, _, err := rs.chat(i, token); err != nil || status != 200 {
			t.Fatalf("replica %d: %d %v", i, status, err)
		}
	}
	l := rs.startLoad(token, 4, func(int) bool { return true })
	time.Sleep(500 * time.Millisecond) // load before the cut
	relay.Cut()
	time.Sleep(10 * time.Second) // the outage the issue specifies
	during := len(l.completed())
	relay.Restore()
	time.Sleep(500 * time.Millisecond) // load after
	completed := l.finish()
	if t.Failed() {
		return
	}
	db := rs.db()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := recordsOf(t, db, completed)
		if len(got) == len(completed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records stored a minute after the store came back", len(got), len(completed))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d requests served (%d by the end of the outage), every record stored", len(completed), during)
}

// With redis.on_failure: fail_open a replica starts while Redis is unreachable, serves on the
// store's counters, and shares them through Redis once it answers: it seeds the empty Redis and
// key invalidations reach it.
func TestAReplicaStartsWithoutRedisWhenFailingOpen(t *testing.T) {
	t.Parallel()
	redisURL := redistest.URL(t)
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	relay := tcprelay.Start(t, u.Host)
	relay.Cut()
	rs := startReplicas(t, 1, "10ms", nil)
	// A second replica whose Redis is the cut relay, on the first one's prefix.
	cfg := strings.Replace(mustRead(t, rs.cfgs[0]), "url: \""+redisURL+"\"", "url: \"redis://"+relay.Addr()+u.Path+"\"", 1)
	cfg = strings.Replace(cfg, "on_failure: fail_closed", "on_failure: fail_open", 1)
	path := filepath.Join(rs.dir, "failopen.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	rs.cfgs, rs.cmds, rs.addrs = append(rs.cfgs, path), append(rs.cmds, nil), append(rs.addrs, "")
	rs.start(1)
	token, hash := rs.createKey(0, map[string]any{"name": "shared"})
	if status, _, _, err := rs.chat(1, token); err != nil || status != 200 {
		t.Fatalf("replica without redis: %d %v", status, err)
	}
	relay.Restore()
	// Once Redis answers, the replica subscribes (both replicas listen on the channel) and
	// seeds nothing: the first replica did. A key deleted on the first replica is then refused
	// by it well before its hour-long cache refresh.
	rdb := redistest.Client(t, redisURL)
	deadline := time.Now().Add(10 * time.Second)
	for rdb.PubSubNumSub(context.Background(), rs.prefix+"invalidate").Val()[rs.prefix+"invalidate"] < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the replica started without redis did not subscribe within 10s of redis coming back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status := rs.call(0, "DELETE", "/v1/keys/"+hash, rs.admin, nil, nil); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	rs.waitRefused(token, time.Now(), "deleted")
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
