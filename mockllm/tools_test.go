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

const anthWeatherTools = `"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},` +
	`{"name":"get_time","input_schema":{"type":"object","properties":{"zone":{"type":"string"}}}}]`

// TestAnthropicForcedToolUse: tool_choice "any" or "tool" answers with a tool_use block
// (stop_reason "tool_use"); streamed, the block starts with an empty input that
// input_json_delta fragments fill.
func TestAnthropicForcedToolUse(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{})
	c := newClient(t)
	type toolUse struct {
		Content []struct {
			Type  string          `json:"type"`
			ID    string          `json:"id"`
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
		} `json:"content"`
		StopReason string `json:"stop_reason"`
	}
	var whole toolUse
	for _, choice := range []string{`{"type":"any"}`, `{"type":"tool","name":"get_time"}`} {
		resp := anthPost(t, c, root(base), anthBody("Weather?", anthWeatherTools+`,"tool_choice":`+choice))
		raw := readAll(t, resp)
		var m toolUse
		if err := json.Unmarshal(raw, &m); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d %v: %s", resp.StatusCode, err, raw)
		}
		want := map[bool]string{true: "get_weather", false: "get_time"}[choice == `{"type":"any"}`]
		if len(m.Content) != 1 || m.Content[0].Type != "tool_use" || !strings.HasPrefix(m.Content[0].ID, "toolu_") ||
			m.Content[0].Name != want || m.StopReason != "tool_use" || !json.Valid(m.Content[0].Input) {
			t.Errorf("tool_choice %s: %s", choice, raw)
		}
		if choice == `{"type":"any"}` {
			whole = m
		}
	}
	if m := getAnthMessage(t, c, root(base), anthBody("Weather?", anthWeatherTools+`,"tool_choice":{"type":"auto"}`)); m.StopReason != "end_turn" {
		t.Errorf("auto: %+v", m)
	}
	if e := expectAnthError(t, anthPost(t, c, root(base), anthBody("Weather?", anthWeatherTools+`,"tool_choice":{"type":"tool","name":"nope"}`)), 400, "invalid_request_error"); e.Error.Message != "Tool 'nope' not found in provided tools" {
		t.Errorf("undeclared tool: %q", e.Error.Message)
	}

	resp := anthPost(t, c, root(base), anthBody("Weather?", anthWeatherTools+`,"tool_choice":{"type":"any"},"stream":true`))
	evs, err := readEvents(t, resp)
	if err != nil {
		t.Fatal(err)
	}
	var input strings.Builder
	stop := ""
	for _, ev := range evs {
		var e struct {
			ContentBlock struct {
				Type, ID, Name string
				Input          json.RawMessage
			} `json:"content_block"`
			Delta struct {
				Type        string `json:"type"`
				PartialJSON string `json:"partial_json"`
				StopReason  string `json:"stop_reason"`
			} `json:"delta"`
		}
		if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
			t.Fatalf("%s: %v", ev.data, err)
		}
		switch ev.name {
		case "content_block_start":
			if b := e.ContentBlock; b.Type != "tool_use" || b.Name != "get_weather" || !strings.HasPrefix(b.ID, "toolu_") || string(b.Input) != "{}" {
				t.Errorf("block start: %s", ev.data)
			}
		case "content_block_delta":
			if e.Delta.Type != "input_json_delta" {
				t.Errorf("delta: %s", ev.data)
			}
			input.WriteString(e.Delta.PartialJSON)
		case "message_delta":
			stop = e.Delta.StopReason
		}
	}
	if input.String() != string(whole.Content[0].Input) || stop != "tool_use" {
		t.Errorf("streamed input %q (stop %q), whole %s", input.String(), stop, whole.Content[0].Input)
	}
}

// TestGeminiForcedFunctionCall: mode ANY answers with a functionCall part, whole and, in a
// stream, in one response that also finishes it (SSE or JSON array).
func TestGeminiForcedFunctionCall(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{})
	c := newClient(t)
	tools := `"tools":[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}},` +
		`{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string"}}}}]}]`
	type call struct {
		Candidates []struct {
			Content struct {
				Parts []struct {
					FunctionCall *struct {
						Name string         `json:"name"`
						Args map[string]any `json:"args"`
					} `json:"functionCall"`
					Text *string `json:"text"`
				} `json:"parts"`
			} `json:"content"`
			FinishReason string `json:"finishReason"`
		} `json:"candidates"`
	}
	check := func(what string, raw []byte, want string) {
		t.Helper()
		var r call
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%s: %v: %s", what, err, raw)
		}
		p := r.Candidates[0].Content.Parts
		if len(p) != 1 || p[0].FunctionCall == nil || p[0].Text != nil || p[0].FunctionCall.Name != want ||
			(p[0].FunctionCall.Args["city"] == nil && p[0].FunctionCall.Args["zone"] == nil) || r.Candidates[0].FinishReason != "STOP" {
			t.Errorf("%s: %s", what, raw)
		}
	}
	forced := gemBody("Weather?", tools+`,"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}`)
	resp := do(t, c, "POST", gemURL(base, "gemini-2.5-flash", "generateContent"), forced)
	check("whole", readAll(t, resp), "get_weather")
	named := gemBody("Time?", tools+`,"tool_config":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_time"]}}`)
	check("named", readAll(t, do(t, c, "POST", gemURL(base, "gemini-2.5-flash", "generateContent"), named)), "get_time")

	raw := readAll(t, do(t, c, "POST", gemURL(base, "gemini-2.5-flash", "streamGenerateContent")+"?alt=sse", forced))
	events := strings.Split(strings.TrimSuffix(string(raw), "\r\n\r\n"), "\r\n\r\n")
	if len(events) != 1 {
		t.Fatalf("want the call in one event: %q", raw)
	}
	check("sse", []byte(strings.TrimPrefix(events[0], "data: ")), "get_weather")
	raw = readAll(t, do(t, c, "POST", gemURL(base, "gemini-2.5-flash", "streamGenerateContent"), forced))
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || len(arr) != 1 {
		t.Fatalf("array stream (%v): %s", err, raw)
	}
	check("array", arr[0], "get_weather")

	auto := gemGenerate(t, c, base, gemBody("Weather?", tools+`,"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}`))
	if auto.Candidates[0].Content.Parts[0].Text == "" {
		t.Errorf("AUTO answered %+v", auto)
	}

	// A function calling config with no function to apply it to is refused, as Gemini does.
	for _, body := range []string{
		gemBody("Weather?", `"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}`),
		gemBody("Weather?", `"tools":[{"googleSearch":{}}],"tool_config":{"function_calling_config":{"mode":"AUTO"}}`),
	} {
		e := expectGemError(t, do(t, c, "POST", gemURL(base, "gemini-2.5-flash", "generateContent"), body), 400, "INVALID_ARGUMENT")
		if e.Error.Message != "Function calling config is set without function_declarations." {
			t.Errorf("%s: %q", body, e.Error.Message)
		}
	}
}

// TestToolDefinitionsCountAsPrompt: in every wire format a request's declared tools add one
// prompt token per four bytes of each tool's name, description and schema, as providers bill
// tool definitions.
func TestToolDefinitionsCountAsPrompt(t *testing.T) {
	t.Parallel()
	_, base := startMock(t, Behavior{})
	c := newClient(t)
	const name, description, schema = "get_weather", "Current weather in a city", `{"type":"object","properties":{"city":{"type":"string"}}}`
	want := ceilDiv4(len(name) + len(description) + len(schema))

	promptOf := func(wire string, raw []byte) int {
		t.Helper()
		var u struct {
			Usage struct {
				PromptTokens int `json:"prompt_tokens"`
				InputTokens  int `json:"input_tokens"`
			} `json:"usage"`
			UsageMetadata struct {
				PromptTokenCount int `json:"promptTokenCount"`
			} `json:"usageMetadata"`
		}
		if err := json.Unmarshal(raw, &u); err != nil {
			t.Fatalf("%s: %v: %s", wire, err, raw)
		}
		return u.Usage.PromptTokens + u.Usage.InputTokens + u.UsageMetadata.PromptTokenCount
	}
	for _, w := range []struct {
		wire  string
		send  func(tools string) []byte
		tools string
	}{
		{"openai", func(tools string) []byte {
			return post(t, c, base, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Weather?"}]`+tools+`}`)
		}, `,"tools":[{"type":"function","function":{"name":"` + name + `","description":"` + description + `","parameters":` + schema + `}}]`},
		{"anthropic", func(tools string) []byte {
			return readAll(t, anthPost(t, c, root(base), anthBody("Weather?", strings.TrimPrefix(tools, ","))))
		}, `,"tools":[{"name":"` + name + `","description":"` + description + `","input_schema":` + schema + `}]`},
		{"gemini", func(tools string) []byte {
			return readAll(t, do(t, c, "POST", gemURL(base, "gemini-2.5-flash", "generateContent"),
				`{"contents":[{"role":"user","parts":[{"text":"Weather?"}]}]`+tools+`}`))
		}, `,"tools":[{"functionDeclarations":[{"name":"` + name + `","description":"` + description + `","parameters":` + schema + `}]}]`},
	} {
		without, with := promptOf(w.wire, w.send("")), promptOf(w.wire, w.send(w.tools))
		if without == 0 || with-without != want {
			t.Errorf("%s: prompt tokens %d without the tool and %d with it, want %d more", w.wire, without, with, want)
		}
	}
}
