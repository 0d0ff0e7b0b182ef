package mockllm

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

type gmUsage struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
	PromptTokensDetails     []struct {
		Modality   string `json:"modality"`
		TokenCount int    `json:"tokenCount"`
	} `json:"promptTokensDetails"`
	CacheTokensDetails []struct {
		Modality   string `json:"modality"`
		TokenCount int    `json:"tokenCount"`
	} `json:"cacheTokensDetails"`
}

type gmResponse struct {
	Candidates []struct {
		Content struct {
			Parts []struct {
				Text    string `json:"text"`
				Thought bool   `json:"thought"`
			} `json:"parts"`
			Role string `json:"role"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
		Index        int    `json:"index"`
	} `json:"candidates"`
	UsageMetadata gmUsage `json:"usageMetadata"`
	ModelVersion  string  `json:"modelVersion"`
	ResponseID    string  `json:"responseId"`
}

type gmError struct {
	Error struct {
		Code    int               `json:"code"`
		Message string            `json:"message"`
		Status  string            `json:"status"`
		Details []json.RawMessage `json:"details"`
	} `json:"error"`
}

func gemURL(base, model, method string) string {
	return root(base) + "/v1beta/models/" + model + ":" + method
}

func gemBody(user, extra string) string {
	u, _ := json.Marshal(user)
	s := `{"contents":[{"role":"user","parts":[{"text":` + string(u) + `}]}]`
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

func gemGenerate(t *testing.T, c *http.Client, base, body string) gmResponse {
	t.Helper()
	resp := do(t, c, "POST", gemURL(base, "gemini-2.5-flash", "generateContent"), body)
	raw := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	var r gmResponse
	strictDecode(t, raw, &r)
	return r
}

func expectGemError(t *testing.T, resp *http.Response, status int, name string) gmError {
	t.Helper()
	raw := readAll(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, raw)
	}
	var e gmError
	strictDecode(t, raw, &e)
	if e.Error.Code != status || e.Error.Status != name || e.Error.Message == "" {
		t.Errorf("error = %+v, want %d %s", e.Error, status, name)
	}
	return e
}

func TestGeminiGenerate(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Tokens: 6, CachedTokens: 4, ReasoningTokens: 30})
	c := newClient(t)
	r := gemGenerate(t, c, base, `{"systemInstruction":{"parts":[{"text":"Be terse."}]},"contents":[{"role":"user","parts":[{"text":"Describe "},
		{"inlineData":{"mimeType":"image/png","data":"iVBOR"}},{"text":"this image"}]}],"generationConfig":{"temperature":0.2,
		"thinkingConfig":{"thinkingBudget":1024}}}`)
	if len(r.Candidates) != 1 || r.Candidates[0].FinishReason != "STOP" || r.Candidates[0].Content.Role != "model" ||
		len(r.Candidates[0].Content.Parts) != 1 || len(strings.Fields(r.Candidates[0].Content.Parts[0].Text)) != 6 ||
		r.ModelVersion != "gemini-2.5-flash" || len(r.ResponseID) != 22 {
		t.Fatalf("response = %+v", r)
	}
	// 3 priming + system (4 + 3) + content (4 + ceil(19/4)) = 19
	u := r.UsageMetadata
	if u.PromptTokenCount != 19 || u.CandidatesTokenCount != 6 || u.ThoughtsTokenCount != 30 || u.TotalTokenCount != 19+6+30 ||
		u.CachedContentTokenCount != 4 || len(u.CacheTokensDetails) != 1 || u.PromptTokensDetails[0].TokenCount != 19 {
		t.Errorf("usage = %+v", u)
	}
	// Thoughts shown on request; a zero budget turns thinking off.
	r = gemGenerate(t, c, base, gemBody("x", `"generationConfig":{"thinkingConfig":{"includeThoughts":true}}`))
	if p := r.Candidates[0].Content.Parts; len(p) != 2 || !p[0].Thought || p[1].Thought || r.UsageMetadata.ThoughtsTokenCount != 30 {
		t.Errorf("thoughts: %+v", r)
	}
	r = gemGenerate(t, c, base, gemBody("x", `"generationConfig":{"thinkingConfig":{"thinkingBudget":0,"includeThoughts":true}}`))
	if len(r.Candidates[0].Content.Parts) != 1 || r.UsageMetadata.ThoughtsTokenCount != 0 {
		t.Errorf("budget 0: %+v", r)
	}
}

func TestGeminiLimits(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Reply: "alpha beta STOP gamma"})
	c := newClient(t)
	r := gemGenerate(t, c, base, gemBody("x", `"generation_config":{"maxOutputTokens":2}`))
	if r.Candidates[0].FinishReason != "MAX_TOKENS" || r.Candidates[0].Content.Parts[0].Text != "alpha beta" {
		t.Errorf("maxOutputTokens: %+v", r)
	}
	r = gemGenerate(t, c, base, gemBody("x", `"generationConfig":{"stopSequences":["STOP"]}`))
	if r.Candidates[0].FinishReason != "STOP" || r.Candidates[0].Content.Parts[0].Text != "alpha beta " {
		t.Errorf("stopSequences: %+v", r)
	}
}

func TestGeminiAuthAndValidation(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{APIKey: "AIza-test"})
	c := newClient(t)
	url := gemURL(base, "gemini-2.5-flash", "generateContent")
	expectGemError(t, do(t, c, "POST", url, gemBody("x", "")), 403, "PERMISSION_DENIED")
	if e := expectGemError(t, do(t, c, "POST", url, gemBody("x", ""), "x-goog-api-key", "bad"), 400, "INVALID_ARGUMENT"); len(e.Error.Details) != 1 {
		t.Errorf("bad key details: %+v", e)
	}
	readAll(t, do(t, c, "POST", url+"?key=AIza-test", gemBody("x", "")))
	key := []string{"x-goog-api-key", "AIza-test"}
	for _, tc := range []struct{ body, want string }{
		{`{}`, "contents is not specified"},
		{`{"contents":[]}`, "contents is not specified"},
		{`{"contents":[{"role":"assistant","parts":[{"text":"x"}]}]}`, "valid role"},
		{`{"contents":[{"role":"user","parts":[]}]}`, "must not be empty"},
		{`{"contents":[{"role":"user","parts":[{}]}]}`, "oneof field 'data'"},
		{`{"contents":[{"role":"user","parts":[{"text":"a","inlineData":{"mimeType":"a/b","data":"x"}}]}]}`, "Cannot set 'data' twice"},
		{`{"contents":[{"role":"user","parts":[{"inlineData":{"data":"x"}}]}]}`, "mime_type"},
		{`{"contents":[{"role":"user","parts":[{"functionResponse":{"response":{}}}]}]}`, "function_response.name"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"max_tokens":5}`, `Unknown name "max_tokens"`},
		{`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"max_tokens":5}}`, `Unknown name "max_tokens"`},
		{`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"maxOutputTokens":0}}`, "max_output_tokens"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":99999}}}`, "thinking budget"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"description":"no name"}]}]}`, "function name"},
		{`{"contents":`, "Invalid JSON payload"},
	} {
		e := expectGemError(t, do(t, c, "POST", url, tc.body, key...), 400, "INVALID_ARGUMENT")
		if !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("%s:\n message %q, want it to contain %q", tc.body, e.Error.Message, tc.want)
		}
	}
	expectGemError(t, do(t, c, "POST", gemURL(base, "gemini-2.5-flash", "embedContent"), gemBody("x", ""), key...), 404, "NOT_FOUND")
	expectGemError(t, do(t, c, "GET", url, "", key...), 405, "UNKNOWN")
}

func TestGeminiStream(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Tokens: 3, ReasoningTokens: 7})
	c := newClient(t)
	body := gemBody("stream please", `"generationConfig":{"thinkingConfig":{"includeThoughts":true}}`)
	resp := do(t, c, "POST", gemURL(base, "gemini-2.5-flash", "streamGenerateContent")+"?alt=sse", body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	raw := readAll(t, resp)
	if strings.Count(string(raw), "\r\n\r\n") != 5 {
		t.Errorf("want 5 CRLF-framed events: %q", raw)
	}
	var text string
	var last gmResponse
	for i, ev := range strings.Split(strings.TrimSuffix(string(raw), "\r\n\r\n"), "\r\n\r\n") {
		payload, ok := strings.CutPrefix(ev, "data: ")
		if !ok {
			t.Fatalf("event %q", ev)
		}
		var r gmResponse
		strictDecode(t, []byte(payload), &r)
		p := r.Candidates[0].Content.Parts
		switch {
		case i == 0:
			if len(p) != 1 || !p[0].Thought || r.UsageMetadata.CandidatesTokenCount != 0 {
				t.Errorf("first event should be the thoughts: %s", payload)
			}
		case i < 4:
			if r.Candidates[0].FinishReason != "" || r.UsageMetadata.CandidatesTokenCount != i {
				t.Errorf("event %d: %s", i, payload)
			}
			text += p[0].Text
		}
		last = r
	}
	if last.Candidates[0].FinishReason != "STOP" || last.UsageMetadata.CandidatesTokenCount != 3 || last.UsageMetadata.ThoughtsTokenCount != 7 {
		t.Errorf("last event: %+v", last)
	}
	plain := gemGenerate(t, c, base, gemBody("stream please", ""))
	if text != plain.Candidates[0].Content.Parts[0].Text {
		t.Errorf("streamed %q, plain %q", text, plain.Candidates[0].Content.Parts[0].Text)
	}

	// Without alt=sse: one JSON array of the same responses.
	resp = do(t, c, "POST", gemURL(base, "gemini-2.5-flash", "streamGenerateContent"), gemBody("stream please", ""))
	raw = readAll(t, resp)
	var arr []gmResponse
	if err := json.Unmarshal(raw, &arr); err != nil || len(arr) != 4 || arr[3].Candidates[0].FinishReason != "STOP" {
		t.Errorf("array stream (%v): %s", err, raw)
	}
}

func TestGeminiFaults(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{Tokens: 4})
	c := newClient(t)
	plain := gemURL(base, "gemini-2.5-flash", "generateContent")
	sse := gemURL(base, "gemini-2.5-flash", "streamGenerateContent") + "?alt=sse"
	for _, url := range []string{plain, sse} {
		expectGemError(t, do(t, c, "POST", url, gemBody("x", `"mock":{"fault":"status"}`)), 500, "INTERNAL")
		expectGemError(t, do(t, c, "POST", url, gemBody("x", `"mock":{"fault":"status","fault_status":503}`)), 503, "UNAVAILABLE")
		resp := do(t, c, "POST", url, gemBody("x", `"mock":{"fault":"rate_limit","retry_after":12}`))
		e := expectGemError(t, resp, 429, "RESOURCE_EXHAUSTED")
		if len(e.Error.Details) != 3 || !strings.Contains(string(e.Error.Details[2]), `"retryDelay": "12s"`) {
			t.Errorf("rate limit details: %s", e.Error.Details)
		}
	}
	events := func(body string) ([]sseEvent, error) {
		return readEvents(t, do(t, c, "POST", sse, body))
	}
	evs, err := events(gemBody("x", `"mock":{"fault":"stream_error","fault_after":2}`))
	if err != nil || len(evs) != 3 || !strings.Contains(evs[2].data, `"UNAVAILABLE"`) {
		t.Errorf("stream_error: %v %+v", err, evs)
	}
	evs, err = events(gemBody("x", `"mock":{"fault":"malformed","fault_after":1}`))
	if err != nil || len(evs) != 2 || json.Valid([]byte(evs[1].data)) {
		t.Errorf("malformed: %v %+v", err, evs)
	}
	evs, err = events(gemBody("x", `"mock":{"fault":"disconnect","fault_after":2}`))
	if err == nil || len(evs) != 2 {
		t.Errorf("disconnect: %v, %d events", err, len(evs))
	}
	resp := do(t, c, "POST", plain, gemBody("x", `"mock":{"fault":"malformed"}`))
	if raw := readAll(t, resp); resp.StatusCode != 200 || json.Valid(raw) {
		t.Errorf("malformed body: %d %s", resp.StatusCode, raw)
	}
	gemGenerate(t, c, base, gemBody("x", ""))
}
