package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/zap"

	"github.com/arouter/arouter/config"
	"github.com/arouter/arouter/mockllm"
)

// threeWiresYAML serves one model in each wire format from built-in mocks, the way the quick
// start does: requests to anthropic/… and google/… are translated.
const threeWiresYAML = `
listen: 127.0.0.1:0
store: {sqlite: "%s/arouter.db"}
accounting: {flush_interval: 10ms}
providers:
  - {id: mock-openai, kind: mock, probe: false, mock: {event_delay: 1ms, tokens: 9}}
  - {id: mock-anthropic, kind: mock, probe: false, mock: {wire: anthropic, event_delay: 1ms, tokens: 9}}
  - {id: mock-gemini, kind: mock, probe: false, mock: {wire: gemini, event_delay: 1ms, tokens: 9}}
models:
  - id: openai/gpt-4o-mini
    pricing: {prompt: "0.15", completion: "0.60", cache_read: "0.075"}
    deployments: [{provider: mock-openai, model: gpt-4o-mini}]
  - id: anthropic/claude-sonnet-4-6
    pricing: {prompt: "3", completion: "15", cache_read: "0.30", cache_write: "3.75"}
    deployments: [{provider: mock-anthropic, model: claude-sonnet-4-6}]
  - id: google/gemini-2.5-flash
    pricing: {prompt: "0.30", completion: "2.50", cache_read: "0.075"}
    deployments: [{provider: mock-gemini, model: gemini-2.5-flash}]
`

var threeModels = []struct{ id, provider string }{
	{"openai/gpt-4o-mini", "mock-openai"},
	{"anthropic/claude-sonnet-4-6", "mock-anthropic"},
	{"google/gemini-2.5-flash", "mock-gemini"},
}

func startThreeWires(t *testing.T) *testGateway {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(threeWiresYAML, dir)), "wires.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{t: t, dir: dir, cfg: cfg, log: zap.NewNop()}
	tg.open()
	t.Cleanup(tg.stop)
	tg.key = tg.newKey("wires", false)
	return tg
}

// TestEveryWireFormatThroughTheOpenAISDK: the official SDK gets the same shapes from a model
// served over OpenAI's, Anthropic's and Gemini's APIs: content, usage with cost, streams that
// end with usage, and the public model name.
func TestEveryWireFormatThroughTheOpenAISDK(t *testing.T) {
	t.Parallel()
	tg := startThreeWires(t)
	client := openai.NewClient(option.WithBaseURL(tg.url+"/v1"), option.WithAPIKey(tg.key), option.WithMaxRetries(0))
	ctx := context.Background()
	for _, m := range threeModels {
		t.Run(m.provider, func(t *testing.T) {
			params := openai.ChatCompletionNewParams{
				Model: m.id,
				Messages: []openai.ChatCompletionMessageParamUnion{
					openai.SystemMessage("You are terse."), openai.UserMessage("Say hello"),
				},
			}
			c, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if c.Model != m.id || c.Choices[0].Message.Content == "" || c.Choices[0].FinishReason != "stop" ||
				c.Usage.CompletionTokens != 9 || c.Usage.PromptTokens == 0 {
				t.Fatalf("completion: %s", c.RawJSON())
			}
			cost, ok := c.Usage.JSON.ExtraFields["cost"]
			if !ok || cost.Raw() == "0" {
				t.Fatalf("no cost: %s", c.Usage.RawJSON())
			}
			for _, includeUsage := range []bool{false, true} {
				p := params
				if includeUsage {
					p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				}
				stream := client.Chat.Completions.NewStreaming(ctx, p)
				acc := openai.ChatCompletionAccumulator{}
				for stream.Next() {
					chunk := stream.Current()
					acc.AddChunk(chunk)
					if len(chunk.Choices) == 0 && !includeUsage {
						t.Fatalf("empty choices sent to a client that did not ask: %s", chunk.RawJSON())
					}
					if chunk.Model != m.id {
						t.Fatalf("chunk names model %q", chunk.Model)
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatalf("stream include_usage=%v: %v", includeUsage, err)
				}
				if acc.Choices[0].Message.Content != c.Choices[0].Message.Content || acc.Usage.CompletionTokens != 9 ||
					acc.Usage.PromptTokens != c.Usage.PromptTokens {
					t.Fatalf("stream include_usage=%v: %q, usage %+v; plain answer %q, usage %+v",
						includeUsage, acc.Choices[0].Message.Content, acc.Usage, c.Choices[0].Message.Content, c.Usage)
				}
			}
		})
	}
}

// TestToolCallsThroughEveryWireFormat: a forced tool call comes back as OpenAI's tool_calls
// from a model served over each provider's API, whole and streamed (the SDK's accumulator
// joins the argument fragments), with finish reason "tool_calls"; the tool's result then goes
// back in the next turn, translated into the provider's own shape, and gets a text answer.
func TestToolCallsThroughEveryWireFormat(t *testing.T) {
	t.Parallel()
	tg := startThreeWires(t)
	client := openai.NewClient(option.WithBaseURL(tg.url+"/v1"), option.WithAPIKey(tg.key), option.WithMaxRetries(0))
	ctx := context.Background()
	for _, m := range threeModels {
		t.Run(m.provider, func(t *testing.T) {
			question := openai.UserMessage("What is the weather in Paris?")
			params := openai.ChatCompletionNewParams{
				Model:    m.id,
				Messages: []openai.ChatCompletionMessageParamUnion{question},
				Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
					Name: "get_weather",
					Parameters: openai.FunctionParameters{"type": "object", "required": []string{"city"},
						"properties": map[string]any{"city": map[string]any{"type": "string"}, "days": map[string]any{"type": "integer"}}},
				})},
				ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")},
			}
			c, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Choices[0].Message.ToolCalls) != 1 || c.Choices[0].FinishReason != "tool_calls" || c.Usage.CompletionTokens == 0 {
				t.Fatalf("whole: %s", c.RawJSON())
			}
			call := c.Choices[0].Message.ToolCalls[0]
			var args struct {
				City string
				Days int
			}
			if call.Function.Name != "get_weather" || call.ID == "" || json.Unmarshal([]byte(call.Function.Arguments), &args) != nil ||
				args.City == "" || args.Days != 1 {
				t.Fatalf("tool call %s", call.RawJSON())
			}

			p := params
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			stream := client.Chat.Completions.NewStreaming(ctx, p)
			acc := openai.ChatCompletionAccumulator{}
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			got := acc.Choices[0].Message.ToolCalls
			if len(got) != 1 || got[0].Function.Name != "get_weather" || got[0].ID == "" || acc.Choices[0].FinishReason != "tool_calls" ||
				acc.Usage.CompletionTokens != c.Usage.CompletionTokens {
				t.Fatalf("streamed: %+v, finish %q, usage %+v", got, acc.Choices[0].FinishReason, acc.Usage)
			}
			var streamed map[string]any
			if err := json.Unmarshal([]byte(got[0].Function.Arguments), &streamed); err != nil || streamed["city"] != args.City {
				t.Fatalf("streamed arguments %q, want city %q", got[0].Function.Arguments, args.City)
			}

			// The next turn: the call and its result go back; the model answers in text.
			next := params
			next.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("auto")}
			next.Messages = []openai.ChatCompletionMessageParamUnion{question, c.Choices[0].Message.ToParam(),
				openai.ToolMessage(`{"temperature_c": 21}`, call.ID)}
			answer, err := client.Chat.Completions.New(ctx, next)
			if err != nil {
				t.Fatal(err)
			}
			if answer.Choices[0].Message.Content == "" || answer.Choices[0].FinishReason != "stop" {
				t.Fatalf("after the tool result: %s", answer.RawJSON())
			}
		})
	}
}

// TestAnthropicPromptCachingIsPricedAtCachePrices: cache_control breakpoints reach Anthropic;
// the first request writes the prefix (cache_write_tokens, priced at cache_write), the second
// reads it (cached_tokens, priced at cache_read), and the record keeps both.
func TestAnthropicPromptCachingIsPricedAtCachePrices(t *testing.T) {
	t.Parallel()
	tg := startThreeWires(t)
	long := strings.Repeat("You answer questions about the gateway's documentation. ", 40)
	body := `{"model":"anthropic/claude-sonnet-4-6","messages":[{"role":"system","content":[{"type":"text","text":"` + long +
		`","cache_control":{"type":"ephemeral"}}]},{"role":"user","content":"Hi"}]}`
	type usage struct {
		PromptTokens  int64   `json:"prompt_tokens"`
		Completion    int64   `json:"completion_tokens"`
		Cost          float64 `json:"cost"`
		PromptDetails struct {
			Cached     int64 `json:"cached_tokens"`
			CacheWrite int64 `json:"cache_write_tokens"`
		} `json:"prompt_tokens_details"`
	}
	var got [2]usage
	var ids [2]string
	for i := range got {
		resp := tg.post(body)
		var out struct{ Usage usage }
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
		got[i], ids[i] = out.Usage, resp.Header.Get("X-Generation-Id")
	}
	if got[0].PromptDetails.CacheWrite == 0 || got[0].PromptDetails.Cached != 0 || got[1].PromptDetails.Cached != got[0].PromptDetails.CacheWrite {
		t.Fatalf("cache write then read expected: %+v then %+v", got[0], got[1])
	}
	// $3/M uncached, $3.75/M written, $0.30/M read, $15/M completion.
	price := func(u usage) float64 {
		uncached := u.PromptTokens - u.PromptDetails.Cached - u.PromptDetails.CacheWrite
		return (float64(uncached)*3 + float64(u.PromptDetails.CacheWrite)*3.75 + float64(u.PromptDetails.Cached)*0.30 + float64(u.Completion)*15) / 1e6
	}
	for i, u := range got {
		if d := u.Cost - price(u); d > 1e-9 || d < -1e-9 {
			t.Errorf("request %d: cost %.9f, want %.9f", i, u.Cost, price(u))
		}
	}
	if got[1].Cost >= got[0].Cost {
		t.Errorf("reading the cache (%.9f) should cost less than writing it (%.9f)", got[1].Cost, got[0].Cost)
	}
	recs := tg.records(ids[0], ids[1])
	if recs[0].CacheWriteTokens != got[0].PromptDetails.CacheWrite || recs[1].CachedTokens != got[1].PromptDetails.Cached {
		t.Fatalf("records: %+v", recs)
	}
}

// TestTranslatedErrorsAreInOurShape: provider errors in each native shape come back as the
// gateway's error, naming the provider; an untranslatable request is a 400 naming the field.
func TestTranslatedErrorsAreInOurShape(t *testing.T) {
	t.Parallel()
	tg := startThreeWires(t)
	// First, while no deployment is cooling down after the rate limits below:
	status, msg, md := apiErr(t, tg.post(`{"model":"anthropic/claude-sonnet-4-6","n":2,"messages":[{"role":"user","content":"hi"}]}`))
	if status != 400 || md["field"] != "n" || md["provider"] != "mock-anthropic" {
		t.Errorf("n=2 to Anthropic: %d %q %v", status, msg, md)
	}
	cases := []struct {
		name, model, mock string
		status            int
		provider          string
	}{
		{"anthropic overloaded", "anthropic/claude-sonnet-4-6", `{"fault":"status","fault_status":529}`, 502, "mock-anthropic"},
		{"anthropic rate limit", "anthropic/claude-sonnet-4-6", `{"fault":"rate_limit","retry_after":7}`, 429, "mock-anthropic"},
		{"gemini server error", "google/gemini-2.5-flash", `{"fault":"status","fault_status":500}`, 502, "mock-gemini"},
		{"gemini rate limit", "google/gemini-2.5-flash", `{"fault":"rate_limit","retry_after":5}`, 429, "mock-gemini"},
	}
	for _, c := range cases {
		body := `{"model":"` + c.model + `","mock":` + c.mock + `,"messages":[{"role":"user","content":"hi"}]}`
		resp := tg.post(body)
		retryAfter := resp.Header.Get("Retry-After")
		status, msg, md := apiErr(t, resp)
		if status != c.status || md["provider"] != c.provider || msg == "" {
			t.Errorf("%s: %d %q %v", c.name, status, msg, md)
		}
		if c.status == 429 && (retryAfter == "" || md["limited_by"] != "upstream") {
			t.Errorf("%s: Retry-After %q, metadata %v", c.name, retryAfter, md)
		}
	}
}

// TestTranslatedStreamFailingMidway ends with the gateway's error event, after the events that
// arrived, and bills what the provider reported.
func TestTranslatedStreamFailingMidway(t *testing.T) {
	t.Parallel()
	tg := startThreeWires(t)
	for _, m := range threeModels[1:] {
		body := `{"model":"` + m.id + `","stream":true,"mock":{"fault":"stream_error","fault_after":3},"messages":[{"role":"user","content":"hi"}]}`
		resp := tg.post(body)
		events := (&sseReader{bufio.NewReader(resp.Body)}).all(nil)
		resp.Body.Close()
		last := events[len(events)-1]
		if resp.StatusCode != 200 || len(events) < 3 || !strings.Contains(last, `"finish_reason":"error"`) || !strings.Contains(last, m.provider) {
			t.Fatalf("%s: %d, %d events, last %q", m.id, resp.StatusCode, len(events), last)
		}
		if rec := tg.records(resp.Header.Get("X-Generation-Id"))[0]; rec.ErrorCode != "upstream_stream_error" || rec.Model != m.id {
			t.Fatalf("%s: record %+v", m.id, rec)
		}
		tg = startThreeWires(t) // records() stopped the gateway
	}
}

// TestStreamsCutShortAreBilledForWhatWasSent: a stream the provider breaks off (its connection
// dropped, an error event, an event cut in the middle) ends with an error event the SDKs raise,
// relays no broken chunk, and is billed at least a token per content chunk the client
// received, on every wire. Before, a broken OpenAI event reached the client followed by
// [DONE], a broken OpenAI stream was billed nothing, and an Anthropic one a single token.
func TestStreamsCutShortAreBilledForWhatWasSent(t *testing.T) {
	t.Parallel()
	for _, m := range threeModels {
		for _, fault := range []string{"disconnect", "stream_error", "malformed"} {
			t.Run(m.id+"/"+fault, func(t *testing.T) {
				t.Parallel()
				tg := startThreeWires(t)
				resp := tg.post(`{"model":"` + m.id + `","stream":true,"mock":{"fault":"` + fault +
					`","fault_after":6},"messages":[{"role":"user","content":"hi"}]}`)
				events := (&sseReader{bufio.NewReader(resp.Body)}).all(nil)
				resp.Body.Close()
				content := relayedContentChunks(t, events)
				if last := events[len(events)-1]; !strings.Contains(last, `"finish_reason":"error"`) || content == 0 {
					t.Fatalf("%d content chunks, last event %q", content, last)
				}
				rec := tg.records(resp.Header.Get("X-Generation-Id"))[0]
				if rec.ErrorCode == "" || rec.CompletionTokens < int64(content) || rec.Cost <= 0 {
					t.Fatalf("%d content chunks relayed; record %+v", content, rec)
				}
			})
		}
	}
}

// TestTranslatedStreamCancelledIsBilledForWhatWasSent: a client that leaves an Anthropic
// stream before its final message_delta (the only event with the output count) pays a token
// per content chunk it read, not the 1 of message_start.
func TestTranslatedStreamCancelledIsBilledForWhatWasSent(t *testing.T) {
	t.Parallel()
	tg := startThreeWires(t)
	conn, resp := tg.rawStream(t, `{"model":"anthropic/claude-sonnet-4-6","stream":true,"mock":{"tokens":2000,"event_delay":"20ms"},"messages":[{"role":"user","content":"hi"}]}`)
	events := &sseReader{bufio.NewReader(resp.Body)}
	var read []string
	for len(read) < 8 {
		ev, err := events.next()
		if err != nil {
			t.Fatal(err)
		}
		read = append(read, ev)
	}
	conn.Close()
	content := relayedContentChunks(t, read)
	if rec := tg.records(resp.Header.Get("X-Generation-Id"))[0]; !rec.Cancelled || rec.CompletionTokens < int64(content) || content < 5 || rec.CompletionTokens > 2000 {
		t.Fatalf("%d content chunks read; record %+v", content, rec)
	}
}

// relayedContentChunks counts the chunks with content among SSE events, and fails the test on a
// data event that is not JSON.
func relayedContentChunks(t *testing.T, events []string) int {
	t.Helper()
	n := 0
	for i, ev := range events {
		data, ok := strings.CutPrefix(strings.TrimSpace(ev), "data: ")
		if !ok {
			continue // a keep-alive
		}
		var c completion
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("event %d is not JSON: %q", i, ev)
		}
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			n++
		}
	}
	return n
}

// TestFallbackAcrossWireFormats: one fallback list reaches all three APIs.
func TestFallbackAcrossWireFormats(t *testing.T) {
	t.Parallel()
	tg := startThreeWires(t)
	tg.g.mocks[1].SetBehavior(mockllm.Behavior{Fault: mockllm.FaultStatus, FaultStatus: 529}) // Anthropic overloaded
	tg.g.mocks[0].SetBehavior(mockllm.Behavior{Fault: mockllm.FaultStatus, FaultStatus: 500}) // OpenAI down
	body := `{"models":["anthropic/claude-sonnet-4-6","openai/gpt-4o-mini","google/gemini-2.5-flash"],"messages":[{"role":"user","content":"hi"}]}`
	resp := tg.post(body)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct{ Model string }
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 || out.Model != "google/gemini-2.5-flash" || resp.Header.Get("X-ARouter-Provider") != "mock-gemini" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// TestStickyRoutingFollowsThePromptCache: a prefix cached on one deployment brings the next
// request with that prefix back to it, where reading the cache is cheaper; another prefix
// goes by the model's policy.
func TestStickyRoutingFollowsThePromptCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	yaml := fmt.Sprintf(`
listen: 127.0.0.1:0
store: {sqlite: "%s/arouter.db"}
providers:
  - {id: a, kind: mock, probe: false, mock: {wire: anthropic}}
  - {id: b, kind: mock, probe: false, mock: {wire: anthropic}}
models:
  - id: anthropic/claude-sonnet-4-6
    pricing: {prompt: "3", completion: "15", cache_read: "0.30", cache_write: "3.75"}
    deployments: [{provider: a, model: claude-sonnet-4-6}, {provider: b, model: claude-sonnet-4-6}]
`, dir)
	cfg, err := config.Parse([]byte(yaml), "sticky.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{t: t, dir: dir, cfg: cfg, log: zap.NewNop()}
	tg.open()
	t.Cleanup(tg.stop)
	tg.key = tg.newKey("sticky", false)
	ask := func(system, provider string) (string, map[string]any) {
		t.Helper()
		route := ""
		if provider != "" {
			route = `"provider":{"order":["` + provider + `"]},`
		}
		body := `{"model":"anthropic/claude-sonnet-4-6",` + route + `"messages":[{"role":"system","content":[{"type":"text","text":"` + system +
			`","cache_control":{"type":"ephemeral"}}]},{"role":"user","content":"question"}]}`
		resp := tg.post(body)
		defer resp.Body.Close()
		var out struct{ Usage map[string]any }
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		return resp.Header.Get("X-ARouter-Provider"), out.Usage["prompt_tokens_details"].(map[string]any)
	}
	prefix := strings.Repeat("Long shared instructions. ", 50)
	if p, d := ask(prefix, "b"); p != "b" || d["cache_write_tokens"] == float64(0) {
		t.Fatalf("first request: %s %v", p, d)
	}
	// Priority would pick a; the cache on b wins.
	if p, d := ask(prefix, ""); p != "b" || d["cached_tokens"] == float64(0) {
		t.Fatalf("same prefix: served by %s, %v; want b reading its cache", p, d)
	}
	if p, _ := ask("Other instructions entirely. "+prefix, ""); p != "a" {
		t.Fatalf("another prefix: served by %s, want a (priority)", p)
	}
}
