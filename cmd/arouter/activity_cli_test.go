package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitActivity polls GET /v1/activity until the accounting writer has stored n requests.
func (tg *testGateway) waitActivity(token string, n float64) {
	tg.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := tg.mustCall(200, "GET", "/v1/activity", token, nil)
		if got := data(out)["totals"].(map[string]any)["requests"]; got == n {
			return
		} else if time.Now().After(deadline) {
			tg.t.Fatalf("activity shows %v requests, want %v", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestActivityCommands drives "arouter activity" over both transports: the API with a
// management key, and the store directly. (Not parallel: it sets the process environment.)
func TestActivityCommands(t *testing.T) {
	tg := startGateway(t, gatewayOpts{})
	for range 3 {
		if status, out := tg.chatAs(tg.key, chatBody); status != 200 {
			t.Fatalf("chat: %d %v", status, out)
		}
	}
	tg.waitActivity(tg.adminToken, 3)
	arouter := func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != want {
			t.Fatalf("arouter %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "arouter.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(processYAML, filepath.Join(tg.dir, "arouter.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Format(time.DateOnly)

	for _, transport := range []string{"api", "store"} {
		t.Run(transport, func(t *testing.T) {
			flags := []string{"--url", tg.url}
			if transport == "api" {
				t.Setenv("AROUTER_MANAGEMENT_KEY", tg.adminToken)
			} else {
				t.Setenv("AROUTER_MANAGEMENT_KEY", "")
				flags = []string{"--config", cfgPath}
			}
			out, info := arouter(0, append([]string{"activity", "--group-by", "model"}, flags...)...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.Contains(lines[0], "MODEL") || !strings.Contains(lines[1], "openai/gpt-4o-mini") ||
				!strings.Contains(lines[2], "TOTAL") || strings.Fields(lines[2])[1] != "3" || !strings.Contains(info, "by model") {
				t.Errorf("activity by model:\n%s%s", out, info)
			}
			out, _ = arouter(0, append([]string{"activity", "--from", today, "--group-by", "key"}, flags...)...)
			if !strings.Contains(out, "KEY_HASH") || !strings.Contains(out, " test ") {
				t.Errorf("activity by key:\n%s", out)
			}

			csvPath := filepath.Join(dir, transport+".csv")
			_, info = arouter(0, append([]string{"activity", "export", "--format", "csv", "-o", csvPath, "--group-by", "provider"}, flags...)...)
			f, err := os.Open(csvPath)
			if err != nil {
				t.Fatalf("%v (%s)", err, info)
			}
			recs, err := csv.NewReader(f).ReadAll()
			f.Close()
			if err != nil || len(recs) != 2 || recs[0][1] != "provider" || recs[1][0] != today || recs[1][1] != "upstream" || recs[1][2] != "3" {
				t.Errorf("CSV export %q, %v", recs, err)
			}
			pdf, _ := arouter(0, append([]string{"activity", "export", "--format", "pdf", "-o", "-"}, flags...)...)
			if !strings.HasPrefix(pdf, "%PDF-") {
				t.Errorf("PDF export starts %.20q", pdf)
			}
			_, msg := arouter(1, append([]string{"activity", "--group-by", "week"}, flags...)...)
			if !strings.Contains(msg, "group_by") {
				t.Errorf("bad grouping: %s", msg)
			}
			_, msg = arouter(1, append([]string{"activity", "export", "--format", "xlsx", "-o", "-"}, flags...)...)
			if !strings.Contains(msg, "format") {
				t.Errorf("bad format: %s", msg)
			}
		})
	}
	for _, bad := range [][]string{{"activity", "extra"}, {"activity", "--format", "pdf"}, {"activity", "export", "x"}} {
		arouter(2, bad...)
	}
}

func TestSuggestedName(t *testing.T) {
	t.Parallel()
	for cd, want := range map[string]string{
		`attachment; filename="arouter-activity-2026-01-01-to-2026-01-31-by-key.csv"`: "arouter-activity-2026-01-01-to-2026-01-31-by-key.csv",
		`attachment; filename="../../etc/passwd"`:                                     "passwd",
		`attachment; filename="/tmp/x.pdf"`:                                           "x.pdf",
		`attachment; filename=".bashrc"`:                                              "arouter-activity",
		`attachment`:                                                                  "arouter-activity",
		``:                                                                            "arouter-activity",
	} {
		if got := suggestedName(cd); got != want {
			t.Errorf("suggestedName(%q) = %q, want %q", cd, got, want)
		}
	}
}
