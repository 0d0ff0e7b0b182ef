package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/byok"
	"github.com/arouter/arouter/config"
	"github.com/arouter/arouter/mockllm"
	"github.com/arouter/arouter/store/sqlite"
	"github.com/arouter/arouter/tenancy"
)

// testGateway is a real gateway on a loopback port in front of a real mock provider, with its
// SQLite file and log file in a temporary directory.
type testGateway struct {
	t       *testing.T
	g       *gateway
	url     string
	key     string
	mock    *mockllm.Server
	dir     string
	logPath string
	stopped bool
	cfg     *config.Config
	log     *zap.Logger
	// adminToken is the instance admin's management key, printed at the first start;
	// admin is that user, whose personal context newKey puts keys in.
	adminToken string
	admin      *tenancy.User
	// env overrides the gateway's environment (see lookupEnv).
	env map[string]string
}

// testMasterKey is every test gateway's BYOK master key (AROUTER_MASTER_KEY) unless
// gatewayOpts.env says otherwise.
const testMasterKey = "3f1c9a7e5b2d8f4a6c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a"

// lookupEnv is the environment the gateway reads its master keys from: tg.env (where "" means
// unset), then a test master key and no old one, then the process's.
func (tg *testGateway) lookupEnv(name string) (string, bool) {
	if v, ok := tg.env[name]; ok {
		return v, v != ""
	}
	switch name {
	case byok.EnvMasterKey:
		return testMasterKey, true
	case byok.EnvMasterKeyOld:
		return "", false
	}
	return os.LookupEnv(name)
}

// gatewayYAML is the configuration used by end-to-end tests; %s are the mock's URL and the data
// directory, and extra is appended to the provider.
const gatewayYAML = `
listen: 127.0.0.1:0
store: {sqlite: "%s/arouter.db"}
server: {max_request_body: 64KiB, shutdown_timeout: 10s, read_timeout: 1s}
keys: {refresh_after: 50ms}
accounting: {flush_interval: 10ms}
streaming: {keepalive_interval: %s}
providers:
  - id: upstream
    kind: openai
    base_url: %s
    api_key: mock-secret
    idle_timeout: %s
    probe: false # health windows in these tests count requests only
models:
  - id: openai/gpt-4o-mini
    pricing: {prompt: "0.15", completion: "0.60", cache_read: "0.075"}
    deployments: [{provider: upstream, model: gpt-4o-mini}]
`

type gatewayOpts struct {
	behavior  mockllm.Behavior
	keepAlive time.Duration
	idle      time.Duration
	// extraYAML is appended to the configuration, e.g. more models.
	extraYAML string
	// env overrides the gateway's environment, e.g. {"AROUTER_MASTER_KEY": ""} for none.
	env map[string]string
}

func startGateway(t *testing.T, o gatewayOpts) *testGateway {
	t.Helper()
	if o.keepAlive == 0 {
		o.keepAlive = 15 * time.Second
	}
	if o.idle == 0 {
		o.idle = 30 * time.Second
	}
	o.behavior.APIKey = "mock-secret" // proves the provider key is sent upstream
	mock, mockURL, err := mockllm.Start("127.0.0.1:0", o.behavior)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mock.Shutdown() })
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(gatewayYAML, dir, o.keepAlive, mockURL, o.idle)+o.extraYAML), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "gateway.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logFile), zap.DebugLevel))
	tg := &testGateway{t: t, mock: mock, dir: dir, logPath: logPath, cfg: cfg, log: log, env: o.env}
	tg.open()
	t.Cleanup(tg.stop)
	tg.key = tg.newKey("test", false)
	return tg
}

// open starts a gateway on tg's configuration and store.
func (tg *testGateway) open() {
	tg.t.Helper()
	g, err := openGatewayEnv(tg.cfg, tg.log, tg.lookupEnv)
	if err != nil {
		tg.t.Fatal(err)
	}
	tg.g, tg.url, tg.stopped = g, "http://"+g.addr(), false
	if g.adminToken != "" {
		tg.adminToken = g.adminToken
	}
	if tg.admin, err = g.store.InstanceAdmin(context.Background()); err != nil {
		tg.t.Fatal(err)
	}
	go func() { _ = g.serve() }()
}

// restart stops the gateway as SIGTERM does and starts a new one on the same store.
func (tg *testGateway) restart() {
	tg.t.Helper()
	tg.stop()
	tg.open()
}

// newKey stores a key the way `arouter keys create` does and returns its token.
func (tg *testGateway) newKey(name string, disabled bool) string {
	return tg.newKeyExpiring(name, disabled, time.Time{})
}

// newKeyExpiring is newKey with an expiry time (zero for none).
func (tg *testGateway) newKeyExpiring(name string, disabled bool, expires time.Time) string {
	tok, err := apikey.Generate()
	if err != nil {
		tg.t.Fatal(err)
	}
	k := &apikey.Key{Hash: apikey.HashToken([]byte(tok)), Name: name, Label: apikey.Label(tok), Disabled: disabled, CreatedAt: time.Now(), ExpiresAt: expires,
		OrgID: tg.admin.PersonalOrgID, CreatorID: tg.admin.ID}
	if err := tg.g.store.InsertKey(context.Background(), k); err != nil {
		tg.t.Fatal(err)
	}
	return tok
}

// stop shuts the gateway down the way SIGTERM does: drain, flush records, close the store.
func (tg *testGateway) stop() {
	if tg.stopped {
		return
	}
	tg.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tg.g.shutdown(ctx); err != nil {
		tg.t.Errorf("shutdown: %v", err)
	}
}

// records stops the gateway and reads every usage record from its SQLite file.
func (tg *testGateway) records(ids ...string) []accounting.Record {
	tg.t.Helper()
	tg.stop()
	st, err := sqlite.Open(filepath.Join(tg.dir, "arouter.db"))
	if err != nil {
		tg.t.Fatal(err)
	}
	defer st.Close()
	var out []accounting.Record
	for _, id := range ids {
		r, err := st.UsageByGeneration(context.Background(), id)
		if err != nil {
			tg.t.Fatalf("record %s: %v", id, err)
		}
		out = append(out, r)
	}
	return out
}

func (tg *testGateway) post(body string, header ...string) *http.Response {
	tg.t.Helper()
	req, err := http.NewRequest(http.MethodPost, tg.url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		tg.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tg.key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tg.t.Fatal(err)
	}
	return resp
}

// apiErr decodes the gateway's error shape and checks its code matches the status.
func apiErr(t *testing.T, resp *http.Response) (int, string, map[string]string) {
	t.Helper()
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Code     int               `json:"code"`
			Message  string            `json:"message"`
			Metadata map[string]string `json:"metadata"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Message == "" {
		t.Fatalf("status %d: body is not the error shape: %s", resp.StatusCode, b)
	}
	if e.Error.Code != resp.StatusCode {
		t.Fatalf("error code %d differs from HTTP status %d", e.Error.Code, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error content type %q", ct)
	}
	return resp.StatusCode, e.Error.Message, e.Error.Metadata
}

// sseReader reads a stream event by event.
type sseReader struct{ r *bufio.Reader }

// next returns the next event's lines joined, or "" at the end.
func (s *sseReader) next() (string, error) {
	var ev strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return ev.String() + line, err
		}
		if line == "\n" {
			return ev.String(), nil
		}
		ev.WriteString(line)
	}
}

const chatBody = `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}`
const streamBody = `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello"}]}`

// all reads the rest of the stream; onEvent, if set, sees each event as it arrives.
func (s *sseReader) all(onEvent func(events []string)) []string {
	var events []string
	for {
		ev, err := s.next()
		if ev != "" {
			events = append(events, ev)
			if onEvent != nil {
				onEvent(events)
			}
		}
		if err != nil {
			return events
		}
	}
}
