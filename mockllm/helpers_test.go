package mockllm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Mirrors of OpenAI's response objects, decoded with DisallowUnknownFields so
// an extra or misspelt field fails the test.
type oaUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
		AudioTokens  int `json:"audio_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens          int `json:"reasoning_tokens"`
		AudioTokens              int `json:"audio_tokens"`
		AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
		RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
	} `json:"completion_tokens_details"`
}

type oaCompletion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role        string  `json:"role"`
			Content     string  `json:"content"`
			Refusal     *string `json:"refusal"`
			Annotations []any   `json:"annotations"`
		} `json:"message"`
		Logprobs     any    `json:"logprobs"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage             oaUsage `json:"usage"`
	ServiceTier       string  `json:"service_tier"`
	SystemFingerprint string  `json:"system_fingerprint"`
}

type oaChunk struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	Created           int64  `json:"created"`
	Model             string `json:"model"`
	ServiceTier       string `json:"service_tier"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []struct {
		Index int `json:"index"`
		Delta struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
			Refusal *string `json:"refusal"`
		} `json:"delta"`
		Logprobs     any     `json:"logprobs"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaUsage `json:"usage"`
}

type oaError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func strictDecode(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v\nbody: %s", v, err, data)
	}
}

// startMock starts a server on loopback and shuts it down with the test.
func startMock(t *testing.T, b Behavior) (*Server, string) {
	t.Helper()
	s, base, err := Start("127.0.0.1:0", b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, base
}

// newClient returns a client with its own connection pool, so tests do not
// share (or poison) each other's keep-alive connections.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func do(t *testing.T, c *http.Client, method, url, body string, hdr ...string) *http.Response {
	t.Helper()
	return doCtx(t, context.Background(), c, method, url, body, hdr...)
}

func doCtx(t *testing.T, ctx context.Context, c *http.Client, method, url, body string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

// complete posts a non-streaming request and decodes the 200 response.
func complete(t *testing.T, c *http.Client, base, body string) (oaCompletion, []byte) {
	t.Helper()
	resp := do(t, c, "POST", base+"/chat/completions", body)
	raw := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	var out oaCompletion
	strictDecode(t, raw, &out)
	return out, raw
}

// expectError checks status and OpenAI's error envelope, returning it.
func expectError(t *testing.T, resp *http.Response, status int, typ string) oaError {
	t.Helper()
	raw := readAll(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q", ct)
	}
	var e oaError
	strictDecode(t, raw, &e)
	if e.Error.Type != typ || e.Error.Message == "" {
		t.Errorf("error = %+v, want type %q and a message", e.Error, typ)
	}
	if !bytes.Contains(raw, []byte(`"param":`)) || !bytes.Contains(raw, []byte(`"code":`)) {
		t.Errorf("error body lacks param/code keys: %s", raw)
	}
	return e
}

// sseReader reads "data:" payloads one event at a time.
type sseReader struct{ r *bufio.Reader }

func newSSE(r io.Reader) *sseReader { return &sseReader{bufio.NewReader(r)} }

// next returns the next event's data, or an error (io.EOF at a clean end).
func (s *sseReader) next() (string, error) {
	var data []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line != "" {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if data == nil {
				continue
			}
			return strings.Join(data, "\n"), nil
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			data = append(data, d)
		}
	}
}

// readStream reads every event until the body ends; err is the body's end
// (nil for a clean end).
func readStream(t *testing.T, resp *http.Response) (events []string, err error) {
	t.Helper()
	defer resp.Body.Close()
	r := newSSE(resp.Body)
	for {
		ev, err := r.next()
		if err == io.EOF {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		events = append(events, ev)
	}
}

// waitFor polls cond until it holds or the deadline passes. Only for state
// that changes asynchronously on the server with nothing to block on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func chatBody(model, user string, extra string) string {
	b, _ := json.Marshal(user)
	s := `{"model":"` + model + `","messages":[{"role":"user","content":` + string(b) + `}]`
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}
