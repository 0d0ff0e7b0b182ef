package main

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// answer sends a chat request as tg.key and returns its generation id and the provider's id
// as the client saw it: the body's "id", or for a stream the first chunk's.
func (tg *testGateway) answer(body string) (genID, answerID string) {
	tg.t.Helper()
	resp := tg.post(body)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		tg.t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
	}
	genID = resp.Header.Get("X-Generation-Id")
	var first struct {
		ID string `json:"id"`
	}
	if strings.Contains(body, `"stream":true`) {
		events := (&sseReader{bufio.NewReader(resp.Body)}).all(nil)
		if len(events) == 0 || json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(events[0]), "data: ")), &first) != nil {
			tg.t.Fatalf("%s: stream %q", body, events)
		}
		return genID, first.ID
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &first); err != nil {
		tg.t.Fatalf("%s: %s", body, b)
	}
	return genID, first.ID
}

// generation reads GET /v1/generation as tg.key.
func (tg *testGateway) generation(id string) map[string]any {
	tg.t.Helper()
	return data(tg.mustCall(200, "GET", "/v1/generation?id="+id, tg.key, nil))
}

// TestGenerationReportsUpstreamIDAndFinishReason: GET /v1/generation names the provider's own
// id for the answer (the one an OpenAI passthrough answer carries) and why it ended, for plain
// and streamed answers, a max_tokens cut and a failure, served from memory at once and from the
// store after a restart.
func TestGenerationReportsUpstreamIDAndFinishReason(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{})
	withMaxTokens := func(body string) string {
		return strings.Replace(body, `"messages"`, `"max_tokens":3,"messages"`, 1)
	}
	cases := []struct {
		name, body, finish string
	}{
		{"plain", chatBody, "stop"},
		{"stream", streamBody, "stop"},
		{"plain max_tokens", withMaxTokens(chatBody), "length"},
		{"stream max_tokens", withMaxTokens(streamBody), "length"},
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		genID, upstreamID := tg.answer(c.body)
		if !strings.HasPrefix(upstreamID, "chatcmpl-") {
			t.Fatalf("%s: the mock's id %q", c.name, upstreamID)
		}
		d := tg.generation(genID)
		if d["upstream_id"] != upstreamID || d["finish_reason"] != c.finish || d["native_finish_reason"] != c.finish {
			t.Errorf("%s: upstream_id %v, finish_reason %v, native_finish_reason %v; want %s, %s",
				c.name, d["upstream_id"], d["finish_reason"], d["native_finish_reason"], upstreamID, c.finish)
		}
		ids[i] = genID
	}

	resp := tg.post(`{"model":"openai/gpt-4o-mini","mock":{"fault":"status","fault_status":400},"messages":[{"role":"user","content":"hi"}]}`)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	failed := resp.Header.Get("X-Generation-Id")
	if d := tg.generation(failed); resp.StatusCode != 400 || d["finish_reason"] != "error" || d["upstream_id"] != nil || d["native_finish_reason"] != nil {
		t.Errorf("a failed request (%d): %v", resp.StatusCode, d)
	}

	tg.restart() // from the store now
	for i, c := range cases {
		if d := tg.generation(ids[i]); d["finish_reason"] != c.finish || !strings.HasPrefix(d["upstream_id"].(string), "chatcmpl-") {
			t.Errorf("%s after a restart: %v", c.name, d)
		}
	}
	if d := tg.generation(failed); d["finish_reason"] != "error" || d["upstream_id"] != nil {
		t.Errorf("a failed request after a restart: %v", d)
	}
}

// TestGenerationUpstreamFieldsOnTranslatedRoutes: over Anthropic's and Gemini's APIs the record
// keeps the native message id / responseId and the native finish reason beside OpenAI's, for
// plain and streamed answers (whose chunks carry the gateway's id, not the provider's).
func TestGenerationUpstreamFieldsOnTranslatedRoutes(t *testing.T) {
	t.Parallel()
	tg := startThreeWires(t)
	for _, c := range []struct {
		model, idPrefix, stop, length string
	}{
		{"anthropic/claude-sonnet-4-6", "msg_01", "end_turn", "max_tokens"},
		{"google/gemini-2.5-flash", "", "STOP", "MAX_TOKENS"},
	} {
		body := `{"model":"` + c.model + `","messages":[{"role":"user","content":"Say hello"}]}`
		stream := strings.Replace(body, `"messages"`, `"stream":true,"messages"`, 1)
		short := strings.Replace(body, `"messages"`, `"max_tokens":3,"messages"`, 1)
		shortStream := strings.Replace(stream, `"messages"`, `"max_tokens":3,"messages"`, 1)

		genID, answerID := tg.answer(body) // a plain answer's id is the provider's
		d := tg.generation(genID)
		if answerID == "" || !strings.HasPrefix(answerID, c.idPrefix) || d["upstream_id"] != answerID ||
			d["finish_reason"] != "stop" || d["native_finish_reason"] != c.stop {
			t.Errorf("%s: answer id %q, generation %v", c.model, answerID, d)
		}
		seen := map[any]bool{d["upstream_id"]: true}
		for _, b := range []string{stream, short, shortStream} {
			genID, answerID := tg.answer(b)
			d := tg.generation(genID)
			finish, native := "stop", c.stop
			if strings.Contains(b, "max_tokens") {
				finish, native = "length", c.length
			}
			id, _ := d["upstream_id"].(string)
			if id == "" || !strings.HasPrefix(id, c.idPrefix) || seen[id] || d["finish_reason"] != finish || d["native_finish_reason"] != native {
				t.Errorf("%s: %s: generation %v", c.model, b, d)
			}
			if strings.Contains(b, `"stream":true`) && answerID != genID {
				t.Errorf("%s: a translated stream's chunks carry %q, want the generation id %q", c.model, answerID, genID)
			}
			seen[id] = true
		}
	}
}
