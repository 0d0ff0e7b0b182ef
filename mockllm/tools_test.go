package mockllm

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const weatherTools = `"tools":[` +
	`{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{` +
	`"city":{"type":"string"},"days":{"type":"integer"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"alerts":{"type":"boolean"}}}}},` +
	`{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":["string","null"]}}}}}]`

// toolCallOf decodes a chat.completion that must call exactly one tool and returns its
// function name, its arguments (decoded) and the raw arguments text.
func toolCallOf(t *testing.T, raw []byte) (string, map[string]any, string) {
	t.Helper()
	var out struct {
		Choices []struct {
			Message struct {
				Content   *string `json:"content"`
				ToolCalls []struct {
					ID       string `json:"id"`
					Type     string `json:"type"`
					Function struct {
						Name      string `json:"name"`
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	m := out.Choices[0].Message
	if m.Content != nil || len(m.ToolCalls) != 1 || out.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("not one tool call: %s", raw)
	}
	tc := m.ToolCalls[0]
	if !strings.HasPrefix(tc.ID, "call_") || tc.Type != "function" {
		t.Errorf("call %+v", tc)
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(tc.Function.Arguments), &args); err != nil {
		t.Fatalf("arguments are not a JSON object: %q", tc.Function.Arguments)
	}
	if want := 4 + ceilDiv4(len(tc.Function.Name)+len(tc.Function.Arguments)); out.Usage.CompletionTokens != want {
		t.Errorf("completion tokens %d, want %d", out.Usage.CompletionTokens, want)
	}
	return tc.Function.Name, args, tc.Function.Arguments
}

// post posts a chat request and returns the 200 body.
func post(t *testing.T, c *http.Client, base, body string) []byte {
	t.Helper()
	resp := do(t, c, "POST", base+"/chat/completions", body)
	raw := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	return raw
}

// TestChatForcedToolCall: "required" calls the first tool, a named function that one, with
// arguments that fit the schema and do not change between identical requests; "auto" (or no
// tool_choice) answers in text.
func TestChatForcedToolCall(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{})
	c := newClient(t)

	required := chatBody("gpt-4o-mini", "Weather in Paris?", weatherTools+`,"tool_choice":"required"`)
	name, args, text := toolCallOf(t, post(t, c, base, required))
	if name != "get_weather" {
		t.Errorf("required called %s, want the first tool", name)
	}
	city, _ := args["city"].(string)
	if city == "" || args["days"] != float64(1) || args["unit"] != "celsius" || args["alerts"] != true || len(args) != 4 {
		t.Errorf("arguments %s do not fit the schema", text)
	}
	if _, _, again := toolCallOf(t, post(t, c, base, required)); again != text {
		t.Errorf("the same request got %s, then %s", text, again)
	}

	named := chatBody("gpt-4o-mini", "Time?", weatherTools+`,"tool_choice":{"type":"function","function":{"name":"get_time"}}`)
	if name, args, text := toolCallOf(t, post(t, c, base, named)); name != "get_time" || len(args) != 1 || args["zone"] == "" {
		t.Errorf("named choice called %s(%s)", name, text)
	}

	for _, choice := range []string{``, `,"tool_choice":"auto"`, `,"tool_choice":"none"`} {
		out, raw := complete(t, c, base, chatBody("gpt-4o-mini", "Hi", weatherTools+choice))
		if out.Choices[0].FinishReason != "stop" || out.Choices[0].Message.Content == "" {
			t.Errorf("tool_choice %q: %s", choice, raw)
		}
	}
}

// TestChatStreamedToolCall: the first chunk names the function with empty arguments, the
// following ones carry fragments that join into the non-streamed arguments, and the stream
// finishes with "tool_calls" and its usage.
func TestChatStreamedToolCall(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{})
	c := newClient(t)
	body := chatBody("gpt-4o-mini", "Weather in Paris?", weatherTools+`,"tool_choice":"required"`)
	_, _, want := toolCallOf(t, post(t, c, base, body))

	events := streamChat(t, c, base, strings.TrimSuffix(body, "}")+`,"stream":true,"stream_options":{"include_usage":true}}`)
	if events[len(events)-1] != "[DONE]" {
		t.Fatalf("no [DONE]: %q", events)
	}
	type delta struct {
		Role      string  `json:"role"`
		Content   *string `json:"content"`
		ToolCalls []struct {
			Index    int    `json:"index"`
			ID       string `json:"id"`
			Type     string `json:"type"`
			Function struct {
				Name      *string `json:"name"`
				Arguments string  `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	}
	var args strings.Builder
	finish, usage := "", 0
	for i, ev := range events[:len(events)-1] {
		var ch struct {
			Choices []struct {
				Delta        delta   `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(ev), &ch); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, ev)
		}
		if ch.Usage != nil {
			usage = ch.Usage.CompletionTokens
			continue
		}
		d := ch.Choices[0].Delta
		switch {
		case i == 0:
			tc := d.ToolCalls
			if d.Role != "assistant" || d.Content != nil || len(tc) != 1 || tc[0].Index != 0 || !strings.HasPrefix(tc[0].ID, "call_") ||
				tc[0].Type != "function" || tc[0].Function.Name == nil || *tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != "" {
				t.Fatalf("first chunk: %s", ev)
			}
		case ch.Choices[0].FinishReason != nil:
			finish = *ch.Choices[0].FinishReason
		default:
			tc := d.ToolCalls
			if len(tc) != 1 || tc[0].Index != 0 || tc[0].ID != "" || tc[0].Function.Name != nil || tc[0].Function.Arguments == "" {
				t.Fatalf("fragment chunk: %s", ev)
			}
			args.WriteString(tc[0].Function.Arguments)
		}
	}
	if args.String() != want || finish != "tool_calls" || usage != 4+ceilDiv4(len("get_weather")+len(want)) {
		t.Errorf("streamed %q finishing %q with %d tokens; want %q", args.String(), finish, usage, want)
	}
}

// TestChatToolValidation: OpenAI's refusals of tool_choice without tools, a named function
// that is not declared, and a tool without a name.
func TestChatToolValidation(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{})
	c := newClient(t)
	for _, c2 := range []struct{ extra, param string }{
		{`"tool_choice":"required"`, "tool_choice"},
		{weatherTools + `,"tool_choice":{"type":"function","function":{"name":"nope"}}`, "tool_choice"},
		{`"tools":[{"type":"function","function":{"parameters":{}}}]`, "tools[0].function.name"},
	} {
		e := expectError(t, do(t, c, "POST", base+"/chat/completions", chatBody("gpt-4o-mini", "Hi", c2.extra)), 400, "invalid_request_error")
		if e.Error.Param == nil || *e.Error.Param != c2.param {
			t.Errorf("%s: %+v", c2.extra, e.Error)
		}
	}
}
