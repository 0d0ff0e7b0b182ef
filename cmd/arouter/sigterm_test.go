package main

import (
	"bufio"
	"context"
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

	"github.com/arouter/arouter/store/sqlite"
)

const processYAML = `
listen: 127.0.0.1:0
store: {sqlite: "%s"}
accounting: {flush_interval: 1h, batch_size: 10000}
providers:
  - {id: mock, kind: mock, mock: {event_delay: 30ms, tokens: 10}}
models:
  - id: openai/gpt-4o-mini
    pricing: {prompt: "0.15", completion: "0.60"}
    deployments: [{provider: mock, model: gpt-4o-mini}]
`

// buildBinary compiles arouter once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "arouter-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "arouter")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// TestSIGTERMDrainsStreamsAndFlushesEveryRecord runs the real binary: requests in flight when
// SIGTERM arrives finish, and every request leaves exactly one record. The flush interval is an
// hour, so only the shutdown flush can have written them.
func TestSIGTERMDrainsStreamsAndFlushesEveryRecord(t *testing.T) {
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
	out, err := exec.Command(bin, "keys", "create", "--name", "sigterm", "--config", cfg).Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	token := strings.TrimSpace(string(out))

	cmd, addr := startProcess(t, bin, cfg)

	const plain, streams = 30, 10
	post := func(body string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+addr+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		return http.DefaultClient.Do(req)
	}
	for range plain {
		resp, err := post(chatBody)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("plain request: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	// Open the streams and wait until each has its first event: they are in flight.
	var wg sync.WaitGroup
	started := make(chan struct{}, streams)
	results := make(chan string, streams)
	for range streams {
		wg.Go(func() {
			resp, err := post(streamBody)
			if err != nil {
				started <- struct{}{}
				results <- err.Error()
				return
			}
			defer resp.Body.Close()
			r := bufio.NewReader(resp.Body)
			_, _ = r.ReadString('\n')
			started <- struct{}{}
			rest, _ := io.ReadAll(r)
			results <- string(rest)
		})
	}
	for range streams {
		<-started
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	for rest := range results {
		if !strings.HasSuffix(rest, "data: [DONE]\n\n") {
			t.Errorf("an in-flight stream was cut by shutdown: %q", rest)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gateway exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not exit after SIGTERM")
	}
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.CountUsage(context.Background())
	if err != nil || n != plain+streams {
		t.Fatalf("%d usage records (%v), want exactly %d", n, err, plain+streams)
	}
}
