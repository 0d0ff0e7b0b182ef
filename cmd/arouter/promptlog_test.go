package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPromptLoggingCanary runs prompt logging both ways through a real gateway and mock over
// loopback, streaming and not. Each phase sends its own canaries in the prompt and in the
// mock's completion: opted in (organization, then key), they are stored and readable by the
// organization's Admins only; opted out, they are nowhere, from the very next request on,
// neither in the SQLite file nor in its WAL (read while the gateway runs) nor, after
// shutdown, in any file the gateway wrote. No canary ever reaches the log.
func TestPromptLoggingCanary(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	o := tg.newOrg("Logbook", 10)
	orgPath := "/v1/orgs/" + strconv.FormatInt(o.id, 10)
	key, keyHash := tg.createKey(o.admin, map[string]any{"name": "app"})
	bob, _ := tg.addMember(o, "bob@logbook.test", "member")
	other := tg.newOrg("Elsewhere", 0)

	// send runs one phase: a plain and a streamed request with the phase's canaries, and
	// returns their generation ids.
	send := func(phase string) []string {
		t.Helper()
		b := tg.mock.Behavior()
		b.Reply = "the answer is canary-reply-" + phase
		tg.mock.SetBehavior(b)
		var ids []string
		for _, stream := range []bool{false, true} {
			body := `{"model":"openai/gpt-4o-mini","stream":` + strconv.FormatBool(stream) +
				`,"messages":[{"role":"user","content":"remember canary-prompt-` + phase + `"}]}`
			tg.key = key
			resp := tg.post(body)
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(raw), "canary-reply-"+phase) {
				t.Fatalf("phase %s, stream %v: %d %s", phase, stream, resp.StatusCode, raw)
			}
			ids = append(ids, resp.Header.Get("X-Generation-Id"))
		}
		return ids
	}
	// written waits until the batch writer has stored the records of ids.
	written := func(ids []string) {
		t.Helper()
		for _, id := range ids {
			tg.waitRecord(id)
		}
	}
	content := func(id, token string) (int, map[string]any) {
		return tg.call("GET", "/v1/generation/content?id="+id, token, nil)
	}
	checkLogged := func(phase string, ids []string) {
		t.Helper()
		written(ids)
		for i, id := range ids {
			d := data(tg.mustCall(200, "GET", "/v1/generation/content?id="+id, o.admin, nil))
			req, resp := d["request"].(string), d["response"].(string)
			if !strings.Contains(req, "canary-prompt-"+phase) || !strings.Contains(resp, "canary-reply-"+phase) ||
				d["request_truncated"] != false || d["response_truncated"] != false || d["request_bytes"] != float64(len(req)) ||
				d["organization_id"] != float64(o.id) || d["id"] != id {
				t.Errorf("phase %s: content of %s: %v", phase, id, d)
			}
			if streamed := i == 1; streamed != strings.HasPrefix(resp, "data: ") || streamed && !strings.Contains(resp, "data: [DONE]") {
				t.Errorf("phase %s: response of request %d as stored: %q", phase, i, resp)
			}
		}
	}
	checkNotLogged := func(phase string, ids []string) {
		t.Helper()
		written(ids)
		for _, id := range ids {
			if status, out := content(id, o.admin); status != 404 {
				t.Errorf("phase %s: content of an unlogged request: %d %v", phase, status, out)
			}
		}
	}

	// Off by default.
	if d := data(tg.mustCall(200, "GET", orgPath, o.admin, nil)); d["prompt_logging"] != false || d["role"] != "admin" {
		t.Fatalf("GET %s: %v", orgPath, d)
	}
	idsDefault := send("default-3b1e")
	checkNotLogged("default", idsDefault)

	// The organization opts in: every key of it logs, cached or not.
	if d := data(tg.mustCall(200, "PATCH", orgPath, o.admin, map[string]any{"prompt_logging": true})); d["prompt_logging"] != true {
		t.Fatalf("PATCH %s: %v", orgPath, d)
	}
	if d := data(tg.mustCall(200, "GET", "/v1/me", bob, nil)); d["organization"].(map[string]any)["prompt_logging"] != true {
		t.Errorf("a Member does not see that prompts are logged: %v", d)
	}
	idsOrg := send("org-9c2d")
	checkLogged("org-9c2d", idsOrg)

	// Only the organization's Admins read them; everyone else gets the 404 of an unknown id.
	for who, token := range map[string]string{"a Member": bob, "another organization's Admin": other.admin,
		"the instance admin, in their own context": tg.adminToken} {
		if status, out := content(idsOrg[0], token); status != 404 {
			t.Errorf("%s reads the content: %d %v", who, status, out)
		}
	}
	if status, _ := content(idsOrg[0], key); status != 403 {
		t.Errorf("an inference key on GET /v1/generation/content: %d, want 403", status)
	}
	if status, _ := content("gen-nope", o.admin); status != 400 {
		t.Errorf("a malformed id: %d, want 400", status)
	}
	if status, _ := tg.call("PATCH", orgPath, bob, map[string]any{"prompt_logging": false}); status != 403 {
		t.Errorf("a Member turning prompt logging off: %d, want 403", status)
	}

	// The organization opts out: the very next request is not logged.
	tg.mustCall(200, "PATCH", orgPath, o.admin, map[string]any{"prompt_logging": false})
	idsOrgOff := send("orgoff-51f7")
	checkNotLogged("orgoff", idsOrgOff)

	// The key alone opts in, then out.
	if d := data(tg.mustCall(200, "PATCH", "/v1/keys/"+keyHash, o.admin, map[string]any{"prompt_logging": true})); d["prompt_logging"] != true {
		t.Fatalf("PATCH key: %v", d)
	}
	idsKey := send("key-e80a")
	checkLogged("key-e80a", idsKey)
	tg.mustCall(200, "PATCH", "/v1/keys/"+keyHash, o.admin, map[string]any{"prompt_logging": false})
	idsKeyOff := send("keyoff-27cd")
	checkNotLogged("keyoff", idsKeyOff)

	logged := []string{"org-9c2d", "key-e80a"}
	unlogged := []string{"default-3b1e", "orgoff-51f7", "keyoff-27cd"}
	canaries := func(phases []string) []string {
		var out []string
		for _, p := range phases {
			out = append(out, "canary-prompt-"+p, "canary-reply-"+p)
		}
		return out
	}
	// grep reads the database and its WAL as they are while the gateway runs, or every file
	// once it has stopped.
	grep := func(files []string, want, absent []string) {
		t.Helper()
		var all []byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range absent {
				if bytes.Contains(b, []byte(c)) {
					t.Errorf("%s contains %s", filepath.Base(f), c)
				}
			}
			if filepath.Base(f) != "gateway.log" {
				all = append(all, b...)
			}
		}
		for _, c := range want {
			if !bytes.Contains(all, []byte(c)) {
				t.Errorf("%s is stored nowhere", c)
			}
		}
	}
	db := filepath.Join(tg.dir, "arouter.db")
	grep([]string{db, db + "-wal"}, canaries(logged), canaries(unlogged))
	b, _ := os.ReadFile(tg.logPath)
	for _, c := range canaries(append(logged, unlogged...)) {
		if bytes.Contains(b, []byte(c)) {
			t.Errorf("the log contains %s", c)
		}
	}

	tg.stop()
	var files []string
	err := filepath.WalkDir(tg.dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	grep(files, canaries(logged), canaries(unlogged))
	b, _ = os.ReadFile(tg.logPath)
	for _, c := range canaries(logged) {
		if bytes.Contains(b, []byte(c)) {
			t.Errorf("the log contains %s", c)
		}
	}
}

// waitRecord waits until the batch writer has stored the usage record of generation id.
func (tg *testGateway) waitRecord(id string) {
	tg.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := tg.g.store.UsageByGeneration(context.Background(), id); err == nil {
			return
		}
		if time.Now().After(deadline) {
			tg.t.Fatalf("record %s was never written", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
