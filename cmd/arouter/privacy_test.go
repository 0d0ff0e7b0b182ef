package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arouter/arouter/mockllm"
)

// TestNoPromptOrCompletionTextIsWritten sends a canary in the prompt and has the provider answer
// with another, then searches every file the gateway wrote (SQLite database, WAL, logs).
func TestNoPromptOrCompletionTextIsWritten(t *testing.T) {
	t.Parallel()
	const promptCanary = "canary-prompt-7f3a9c1e"
	const replyCanary = "canary-reply-b52d04aa"
	tg := startGateway(t, gatewayOpts{behavior: mockllm.Behavior{Reply: "the secret is " + replyCanary}})
	prompt := `"messages":[{"role":"user","content":"remember ` + promptCanary + `"}]`
	var seen strings.Builder
	for _, body := range []string{
		`{"model":"openai/gpt-4o-mini",` + prompt + `}`,
		`{"model":"openai/gpt-4o-mini","stream":true,` + prompt + `}`,
		`{"model":"openai/gpt-4o-mini","mock":{"fault":"status","fault_status":500},` + prompt + `}`,
		`{"model":"no/such-model",` + prompt + `}`,
		`{"model":"openai/gpt-4o-mini",` + prompt, // malformed
	} {
		resp := tg.post(body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen.Write(b)
	}
	if !strings.Contains(seen.String(), replyCanary) {
		t.Fatal("the provider's reply never reached the client, so the test proves nothing")
	}
	tg.stop()
	files := 0
	err := filepath.WalkDir(tg.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, canary := range []string{promptCanary, replyCanary} {
			if strings.Contains(string(b), canary) {
				t.Errorf("%s contains %s", filepath.Base(path), canary)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 2 {
		t.Fatalf("only %d files written: expected the database and the log", files)
	}
}
