package proxy

import (
	"encoding/json"
	"testing"
)

// TestProviderRequestErrorsPassOnTheFieldAtFault: a provider's 400 keeps its message, names the
// field as OpenAI's param and its own string code as metadata.provider_code. A code that is not
// a string (Gemini's is the status number) is not passed on as one, and a body that is not JSON
// still gets a message.
func TestProviderRequestErrorsPassOnTheFieldAtFault(t *testing.T) {
	t.Parallel()
	type wire struct {
		Error struct {
			Code     int               `json:"code"`
			Message  string            `json:"message"`
			Param    *string           `json:"param"`
			Metadata map[string]string `json:"metadata"`
		} `json:"error"`
	}
	for _, c := range []struct {
		name, body        string
		message, param    string
		providerCode      string
		hasParam, hasCode bool
	}{
		{"openai", `{"error":{"message":"Invalid value: 'robot'.","type":"invalid_request_error","param":"messages[0].role","code":"invalid_value"}}`,
			"Invalid value: 'robot'.", "messages[0].role", "invalid_value", true, true},
		{"gemini", `{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}`,
			"Invalid JSON payload", "", "", false, false},
		{"not json", `<html>bad request</html>`, "provider p answered HTTP 400", "", "", false, false},
	} {
		e := upstreamStatusError("p", 400, []byte(c.body), nil)
		var w wire
		if err := json.Unmarshal(e.api.body, &w); err != nil {
			t.Fatalf("%s: %v: %s", c.name, err, e.api.body)
		}
		code, hasCode := w.Error.Metadata["provider_code"]
		if w.Error.Code != 400 || w.Error.Message != c.message || (w.Error.Param != nil) != c.hasParam ||
			c.hasParam && *w.Error.Param != c.param || hasCode != c.hasCode || code != c.providerCode {
			t.Errorf("%s: %s", c.name, e.api.body)
		}
	}
}
