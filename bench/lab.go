package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/arouter/arouter/apikey"
)

// Target names, in the order the report lists them.
const (
	TargetDirect      = "direct"      // the mock provider itself
	TargetPassthrough = "passthrough" // the bare fasthttp proxy
	TargetARouter     = "arouter"     // the gateway with every feature on
	TargetNginx       = "nginx"       // nginx proxy_pass, when installed
)

// Target is one server the load is sent to, and the process measured for it.
type Target struct {
	Name string
	Addr string // host:port
	Proc *Proc  // for direct, the mock
}

// Lab owns everything a benchmark session starts: a temporary directory, the binaries built into
// it, the mock provider and the targets. Close stops every process and removes the directory,
// whatever state the session ended in.
type Lab struct {
	Root string // the module root, where `go build` runs
	Dir  string // the session's temporary directory
	Log  io.Writer

	arouterBin, passthroughBin, testBin string
	nginxBin                            string

	mock     *Proc
	mockAddr string
	skipped  map[string]string // target → why it is not measured

	mgmtKey string // AROUTER_ADMIN_KEY of the gateway under test
	token   string // its inference key

	mu     sync.Mutex
	procs  []*Proc
	closed bool
}

// NewLab creates the session directory.
func NewLab(root string, log io.Writer) (*Lab, error) {
	dir, err := os.MkdirTemp("", "arouter-bench-")
	if err != nil {
		return nil, err
	}
	return &Lab{Root: root, Dir: dir, Log: log, skipped: map[string]string{}}, nil
}

// Close stops every process the lab started and removes its directory. Safe to call twice and
// from a signal handler.
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	procs := l.procs
	l.procs = nil
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop(5 * time.Second) }()
	}
	wg.Wait()
	_ = os.RemoveAll(l.Dir)
}

// track registers p for Close; if the lab is already closed (interrupted while p started), p is
// stopped at once.
func (l *Lab) track(p *Proc) error {
	l.mu.Lock()
	closed := l.closed
	if !closed {
		l.procs = append(l.procs, p)
	}
	l.mu.Unlock()
	if closed {
		p.Stop(time.Second)
		return fmt.Errorf("interrupted")
	}
	return nil
}

func (l *Lab) untrack(p *Proc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, q := range l.procs {
		if q == p {
			l.procs = append(l.procs[:i], l.procs[i+1:]...)
			return
		}
	}
}

// Build compiles ARouter, the passthrough and (withTests) the bench test binary into the session
// directory, so that a tree that does not build fails before anything is started.
func (l *Lab) Build(ctx context.Context, withTests bool) error {
	l.arouterBin = filepath.Join(l.Dir, "arouter")
	l.passthroughBin = filepath.Join(l.Dir, "passthrough")
	steps := [][]string{
		{"build", "-o", l.arouterBin, "./cmd/arouter"},
		{"build", "-o", l.passthroughBin, "./bench/cmd/passthrough"},
	}
	if withTests {
		l.testBin = filepath.Join(l.Dir, "bench.test")
		steps = append(steps, []string{"test", "-c", "-o", l.testBin, "./bench"})
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = l.Root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s failed (is someone editing that package? retry in a few minutes):\n%s%w",
				strings.Join(args, " "), out, err)
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		l.nginxBin = p
	} else {
		l.skipped[TargetNginx] = "nginx is not installed (not on PATH)"
	}
	return nil
}

// StartMock starts the mock provider (`arouter mock`).
func (l *Lab) StartMock() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	l.mockAddr = fmt.Sprintf("127.0.0.1:%d", port)
	p, err := startProc("mock", l.arouterBin, []string{"mock", "--listen", l.mockAddr}, nil, "", filepath.Join(l.Dir, "mock.log"))
	if err != nil {
		return err
	}
	if err := l.track(p); err != nil {
		return err
	}
	if err := p.waitListening(l.mockAddr, 10*time.Second); err != nil {
		return err
	}
	l.mock = p
	return nil
}

// SetBehavior replaces the mock's behaviour (see mockllm.Behavior) for every request.
func (l *Lab) SetBehavior(b map[string]any) error {
	body, _ := json.Marshal(b)
	_, err := httpDo("PUT", "http://"+l.mockAddr+"/_mock/behavior", "", body)
	return err
}

// WaitMockIdle waits until the mock has no stream in progress, so that streams abandoned by one
// run do not hold the mock's connections during the next.
func (l *Lab) WaitMockIdle(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := httpDo("GET", "http://"+l.mockAddr+"/_mock/stats", "", nil)
		if err != nil {
			return err
		}
		var st struct {
			Active int64 `json:"active_streams"`
		}
		if err := json.Unmarshal(out, &st); err != nil {
			return fmt.Errorf("mock stats %s: %w", out, err)
		}
		if st.Active == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the mock still has %d streams open after %s", st.Active, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Proxies lists the proxy targets this session can start: passthrough, ARouter and nginx
// when installed.
func (l *Lab) Proxies() []string {
	names := []string{TargetPassthrough, TargetARouter}
	if l.nginxBin != "" {
		names = append(names, TargetNginx)
	}
	return names
}

// Direct is the mock provider as a target.
func (l *Lab) Direct() *Target { return &Target{Name: TargetDirect, Addr: l.mockAddr, Proc: l.mock} }

// StartTarget starts a fresh process of the named proxy on a new port, in front of the mock.
func (l *Lab) StartTarget(name string) (*Target, error) {
	start := map[string]func(string) (*Proc, error){
		TargetPassthrough: l.startPassthrough, TargetARouter: l.startARouter, TargetNginx: l.startNginx,
	}[name]
	if start == nil || name == TargetNginx && l.nginxBin == "" {
		return nil, fmt.Errorf("unknown or unavailable target %q", name)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := start(addr)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &Target{Name: name, Addr: addr, Proc: p}, nil
}

// StopTarget stops a proxy started by StartTarget.
func (l *Lab) StopTarget(t *Target) {
	if t.Proc != l.mock {
		t.Proc.Stop(5 * time.Second)
		l.untrack(t.Proc)
	}
}

// Skipped says which targets are not measured, and why.
func (l *Lab) Skipped() map[string]string { return l.skipped }

// Token is the inference key to send to ARouter (the others ignore it).
func (l *Lab) Token() string { return l.token }

func (l *Lab) startPassthrough(addr string) (*Proc, error) {
	p, err := startProc(TargetPassthrough, l.passthroughBin, []string{"--listen", addr, "--upstream", l.mockAddr}, nil, "",
		filepath.Join(l.Dir, "passthrough.log"))
	if err != nil {
		return nil, err
	}
	if err := l.track(p); err != nil {
		return nil, err
	}
	return p, p.waitListening(addr, 10*time.Second)
}

// arouterConfig is the gateway's configuration for the benchmark: one OpenAI-compatible
// provider (the mock), one priced model, probes off, connection limits raised for thousands of
// concurrent streams, logs at warn.
const arouterConfig = `# generated by the benchmark suite
listen: %[1]s
log_level: warn
store:
  sqlite: %[2]s
server:
  max_conns: 30000
  shutdown_timeout: 2s
keys:
  refresh_after: 1s
limits:
  require_credits: true
bootstrap:
  initial_credits: 1000000
providers:
  - id: mock
    kind: openai
    base_url: http://%[3]s/v1
    max_conns: 30000
    probe: false
models:
  - id: openai/gpt-4o-mini
    pricing:
      prompt: 0.15
      completion: 0.60
      cache_read: 0.075
    deployments:
      - provider: mock
        model: gpt-4o-mini
`

// startARouter starts the gateway with a generated configuration and, the first time, creates
// its inference key through the Management API: a key with a spend limit and an allow-list, in
// an organization with credits, so that every request goes through the whole admission path.
// Later starts reuse the database, the admin key and the inference key.
func (l *Lab) startARouter(addr string) (*Proc, error) {
	dir := filepath.Join(l.Dir, "gateway")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "arouter.yaml")
	cfg := fmt.Sprintf(arouterConfig, addr, filepath.Join(dir, "arouter.db"), l.mockAddr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	if l.mgmtKey == "" {
		k, err := apikey.GenerateManagement()
		if err != nil {
			return nil, err
		}
		l.mgmtKey = k
	}
	p, err := startProc(TargetARouter, l.arouterBin, []string{"serve", "--config", cfgPath},
		[]string{"AROUTER_ADMIN_KEY=" + l.mgmtKey}, dir, filepath.Join(dir, "arouter.log"))
	if err != nil {
		return nil, err
	}
	if err := l.track(p); err != nil {
		return nil, err
	}
	if err := p.waitListening(addr, 20*time.Second); err != nil {
		return nil, err
	}
	if _, err := httpDo("GET", "http://"+addr+"/readyz", "", nil); err != nil {
		return nil, p.failure("is not ready: " + err.Error())
	}
	if l.token == "" {
		body := []byte(`{"name":"bench","limit":1000000,"limit_reset":"monthly","allowed_models":["openai/*"]}`)
		out, err := httpDo("POST", "http://"+addr+"/v1/keys", l.mgmtKey, body)
		if err != nil {
			return nil, fmt.Errorf("create the benchmark key: %w", err)
		}
		var created struct {
			Key string `json:"key"`
		}
		if err := json.Unmarshal(out, &created); err != nil || created.Key == "" {
			return nil, fmt.Errorf("create the benchmark key: unexpected answer %s", out)
		}
		l.token = created.Key
	}
	return p, nil
}

// nginxConfig proxies everything to the mock with upstream keep-alive and no buffering (so that
// streams flow event by event), the way one would put nginx in front of an LLM API.
const nginxConfig = `# generated by the benchmark suite
worker_processes 2;
worker_rlimit_nofile %[4]d;
daemon off;
master_process on;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections %[4]d; multi_accept on; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  keepalive_requests 10000000;
  upstream mock {
    server %[3]s;
    keepalive 1024;
    keepalive_requests 10000000;
  }
  server {
    listen %[2]s backlog=16384;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
`

func (l *Lab) startNginx(addr string) (*Proc, error) {
	dir := filepath.Join(l.Dir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	nofile, _ := RaiseOpenFiles()
	conns := min(max(int(nofile)-100, 1024), 30000)
	cfgPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(nginxConfig, dir, addr, l.mockAddr, conns)), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc(TargetNginx, l.nginxBin, []string{"-p", dir, "-c", cfgPath, "-e", "stderr"}, nil, dir,
		filepath.Join(dir, "nginx.log"))
	if err != nil {
		return nil, err
	}
	pid := p.PID()
	p.workers = func() []int { return Children(pid) }
	if err := l.track(p); err != nil {
		return nil, err
	}
	return p, p.waitListening(addr, 10*time.Second)
}

// httpDo sends one request with net/http (set-up only, never under load) and returns the body of
// a 2xx answer.
func httpDo(method, url, bearer string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return out, fmt.Errorf("%s %s: status %d: %s", method, url, resp.StatusCode, bytes.TrimSpace(out))
	}
	return out, nil
}
