package mockllm

import (
	"bufio"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestProcessingHoldsTheFirstEvent: a processing stream answers its headers at once, sends
// only comments until the wait is over, then the same events as any other stream.
func TestProcessingHoldsTheFirstEvent(t *testing.T) {
	t.Parallel()
	const wait = 350 * time.Millisecond
	_, base := startMock(t, Behavior{Tokens: 3, Processing: Duration(wait)})
	c := newClient(t)
	start := time.Now()
	resp := do(t, c, "POST", base+"/chat/completions", chatBody("m", "hi", `"stream":true`))
	defer resp.Body.Close()
	headers := time.Since(start)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := bufio.NewReader(resp.Body)
	comments := 0
	var firstData time.Duration
	var events []string
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			break
		}
		switch {
		case strings.HasPrefix(line, ": PROCESSING"):
			if firstData != 0 {
				t.Fatalf("a comment after the first event")
			}
			comments++
		case strings.HasPrefix(line, "data: "):
			if firstData == 0 {
				firstData = time.Since(start)
			}
			events = append(events, line)
		}
	}
	if firstData < wait || headers >= firstData {
		t.Errorf("headers after %v, first event after %v: want headers first and the event after %v", headers, firstData, wait)
	}
	// One comment at the headers, then one per processingKeepAlive of the wait.
	if want := int(wait / processingKeepAlive); comments < want {
		t.Errorf("%d comments while processing, want at least %d", comments, want)
	}
	if len(events) != 1+3+2 || events[len(events)-1] != "data: [DONE]\n" {
		t.Errorf("events after processing: %q", events)
	}
}

// TestProcessingInEveryMode: Anthropic and Gemini (SSE and JSON array) streams wait silently
// and then deliver exactly what they deliver without the wait.
func TestProcessingInEveryMode(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Tokens: 3})
	c := newClient(t)
	const slow = `"mock":{"processing":"150ms"}`
	cases := []struct{ name, url, body, slowBody string }{
		{"anthropic", root(base) + "/v1/messages", anthBody("hi", `"stream":true`), anthBody("hi", `"stream":true,`+slow)},
		{"gemini sse", gemURL(base, "gemini-2.5-flash", "streamGenerateContent") + "?alt=sse", gemBody("hi", ""), gemBody("hi", slow)},
		{"gemini array", gemURL(base, "gemini-2.5-flash", "streamGenerateContent"), gemBody("hi", ""), gemBody("hi", slow)},
	}
	for _, tc := range cases {
		hdr := []string{"anthropic-version", "2023-06-01"}
		plain := string(readAll(t, do(t, c, "POST", tc.url, tc.body, hdr...)))
		start := time.Now()
		held := string(readAll(t, do(t, c, "POST", tc.url, tc.slowBody, hdr...)))
		if took := time.Since(start); took < 150*time.Millisecond {
			t.Errorf("%s: answered in %v, before the processing wait was over", tc.name, took)
		}
		if withoutIDs(held) != withoutIDs(plain) {
			t.Errorf("%s: with processing\n%s\nwithout\n%s", tc.name, held, plain)
		}
	}
}

var responseIDs = regexp.MustCompile(`"(id|responseId)":"[^"]*"`)

// withoutIDs blanks the response ids, which differ on every request.
func withoutIDs(s string) string { return responseIDs.ReplaceAllString(s, `"$1":""`) }
