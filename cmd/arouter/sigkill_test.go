package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/store/sqlite"
)

// startProcess runs `arouter serve` and returns it with the address it listens on.
func startProcess(t *testing.T, bin, cfg string) (*exec.Cmd, string) {
	t.Helper()
	return startProcessEnv(t, bin, cfg)
}

// startProcessEnv is startProcess with variables (NAME=value) added to the environment.
func startProcessEnv(t *testing.T, bin, cfg string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), env...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	logs := bufio.NewScanner(stderr)
	addr := ""
	for addr == "" && logs.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(logs.Bytes(), &line) == nil && line.Msg == "arouter listening" {
			addr = line.Addr
		}
	}
	if addr == "" {
		t.Fatal("gateway never said it was listening")
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	return cmd, addr
}

// completeRequest sends one chat request, reads the whole answer and returns its generation id.
func completeRequest(addr, token, body string) (string, error) {
	req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+addr+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d, %v: %s", resp.StatusCode, err, b)
	}
	id := resp.Header.Get("X-Generation-Id")
	if id == "" {
		return "", fmt.Errorf("no X-Generation-Id")
	}
	return id, nil
}

// TestSIGKILLLosesNoCompletedRequest runs the real binary, kills it with SIGKILL right after the
// last of many requests completed, and restarts it on the same store: every completed request
// has exactly one usage record, and the spend roll-ups count each once. The flush interval is
// an hour, so before the kill the records exist only in the spool.
func TestSIGKILLLosesNoCompletedRequest(t *testing.T) {
	t.Parallel()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "arouter.db")
	cfg := filepath.Join(dir, "arouter.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(processYAML, db)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "keys", "create", "--name", "sigkill", "--config", cfg).Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	token := strings.TrimSpace(string(out))

	cmd, addr := startProcess(t, bin, cfg)
	var (
		mu  sync.Mutex
		ids []string
	)
	run := func(n, workers int, body string) {
		var wg sync.WaitGroup
		jobs := make(chan struct{}, n)
		for range n {
			jobs <- struct{}{}
		}
		close(jobs)
		for range workers {
			wg.Go(func() {
				for range jobs {
					id, err := completeRequest(addr, token, body)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					ids = append(ids, id)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	// Streams last, so that some complete right before the kill: a stream's record is spooled
	// before the client receives [DONE], as a plain request's is before its answer is sent.
	run(300, 16, chatBody)
	run(40, 10, streamBody)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("gateway exit: %v, want killed", err)
	}
	if t.Failed() {
		return
	}
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := st.CountUsage(context.Background()); err != nil || n != 0 {
		t.Fatalf("%d records stored before the kill (%v); the test expects them all still in the spool", n, err)
	}
	st.Close()

	// The restart stores the spooled records before it listens.
	cmd2, _ := startProcess(t, bin, cfg)
	if err := cmd2.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd2.Wait(); err != nil {
		t.Fatalf("restarted gateway exited with %v", err)
	}
	st, err = sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if n, err := st.CountUsage(ctx); err != nil || n != int64(len(ids)) {
		t.Fatalf("%d usage records after the restart (%v), want exactly %d", n, err, len(ids))
	}
	var cost money.Nanos
	budgetID := int64(0)
	for _, id := range ids {
		r, err := st.UsageByGeneration(ctx, id)
		if err != nil {
			t.Fatalf("completed request %s has no record: %v", id, err)
		}
		cost += r.Cost
		budgetID = r.BudgetID
	}
	spend, err := st.LoadSpend(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := spend.Keys[budgetID].Total; got != cost || cost == 0 {
		t.Errorf("spend rolled up from the replay: %d, want the records' total %d", got, cost)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "spool", "*", "seg-*")); len(left) != 0 {
		t.Errorf("spool segments left after everything was stored: %v", left)
	}
}

// While another process holds SQLite's write lock, the gateway keeps answering, spools the
// records and retries; when the lock is released every record is stored exactly once.
func TestStoreLockedKeepsServingAndStoresEverythingAfter(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	path := filepath.Join(tg.dir, "arouter.db")
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
		}
	}()

	var ids []string
	for range 40 {
		resp := tg.post(chatBody)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request while the store is locked: %d %s", resp.StatusCode, body)
		}
		ids = append(ids, resp.Header.Get("X-Generation-Id"))
	}
	// Wait for the writer to have failed at least once (SQLite gives up after its busy timeout).
	deadline := time.Now().Add(30 * time.Second)
	for {
		logs, _ := os.ReadFile(tg.logPath)
		if strings.Contains(string(logs), "usage batch write failed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never reported the locked store")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(tg.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{fmt.Sprintf("arouter_accounting_queue_depth %d\n", len(ids)), "arouter_accounting_spool_bytes ",
		"arouter_accounting_spool_full 0\n", "arouter_accounting_batch_write_errors_total "} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	locked = false
	recs := tg.records(ids...) // stops the gateway, which stores what is spooled
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.CountUsage(ctx); err != nil || n != int64(len(ids)) || len(recs) != len(ids) {
		t.Fatalf("%d records stored (%v), want %d", n, err, len(ids))
	}
}
