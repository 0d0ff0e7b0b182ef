package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/arouter/arouter/mockllm"
)

// TestOfficialOpenAISDKWorksByChangingOnlyBaseURLAndKey drives the gateway with OpenAI's own Go
// SDK: plain and streamed completions, usage with cost, tools in the request, and errors
// surfacing as the SDK's error type with the right status.
func TestOfficialOpenAISDKWorksByChangingOnlyBaseURLAndKey(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{behavior: mockllm.Behavior{Tokens: 7}})
	client := openai.NewClient(option.WithBaseURL(tg.url+"/v1"), option.WithAPIKey(tg.key), option.WithMaxRetries(0))
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "openai/gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Paris?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name:       "get_weather",
			Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
	}

	c, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if c.Choices[0].Message.Content == "" || c.Usage.CompletionTokens != 7 || c.Usage.TotalTokens != c.Usage.PromptTokens+7 {
		t.Fatalf("completion %+v", c)
	}
	if cost, ok := c.Usage.JSON.ExtraFields["cost"]; !ok || cost.Raw() == "" || cost.Raw() == "0" {
		t.Fatalf("usage has no cost: %s", c.Usage.RawJSON())
	}

	for _, includeUsage := range []bool{false, true} {
		p := params
		if includeUsage {
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		}
		stream := client.Chat.Completions.NewStreaming(ctx, p)
		acc := openai.ChatCompletionAccumulator{}
		chunks := 0
		for stream.Next() {
			chunk := stream.Current()
			acc.AddChunk(chunk)
			chunks++
			// The loop every SDK README shows; it must never index an empty choices list
			// unless the client asked for the usage chunk.
			if len(chunk.Choices) == 0 && !includeUsage {
				t.Fatalf("chunk without choices sent to a client that did not ask: %s", chunk.RawJSON())
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream (include_usage=%v): %v", includeUsage, err)
		}
		if chunks < 8 || acc.Choices[0].Message.Content != c.Choices[0].Message.Content || acc.Usage.CompletionTokens != 7 {
			t.Fatalf("include_usage=%v: %d chunks, content %q, usage %+v", includeUsage, chunks, acc.Choices[0].Message.Content, acc.Usage)
		}
	}

	// A forced tool call, whole and streamed, reaches the SDK as its tool_calls.
	forced := params
	forced.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")}
	c, err = client.Chat.Completions.New(ctx, forced)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Choices[0].Message.ToolCalls) != 1 || c.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("forced tool call: %s", c.RawJSON())
	}
	call := c.Choices[0].Message.ToolCalls[0]
	var args struct{ City string }
	if call.Function.Name != "get_weather" || json.Unmarshal([]byte(call.Function.Arguments), &args) != nil || args.City == "" {
		t.Fatalf("tool call %s", call.RawJSON())
	}
	stream := client.Chat.Completions.NewStreaming(ctx, forced)
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.ToolCalls; len(got) != 1 || got[0].Function.Name != "get_weather" ||
		got[0].Function.Arguments != call.Function.Arguments || acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("streamed tool call: %+v, finish %q", got, acc.Choices[0].FinishReason)
	}

	// A field the provider refuses: its name reaches the SDK's Param.
	var refused *openai.Error
	robot := openai.ChatCompletionNewParams{Model: "openai/gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	_, err = client.Chat.Completions.New(ctx, robot, option.WithJSONSet("messages.0.role", "robot"))
	if !errors.As(err, &refused) || refused.StatusCode != 400 || refused.Param != "messages[0].role" {
		t.Fatalf("a field the provider refuses: %v", err)
	}

	// The model list, and one model by its id (the SDK escapes the "/" in the path).
	m, err := client.Models.Get(ctx, "openai/gpt-4o-mini")
	if err != nil || m.ID != "openai/gpt-4o-mini" || m.Object != "model" || m.OwnedBy != "openai" {
		t.Fatalf("models.Get: %+v %v", m, err)
	}
	var apiErr *openai.Error
	if _, err = client.Models.Get(ctx, "nope/x"); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("models.Get of an unknown model: %v", err)
	}
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "nope/x", Messages: params.Messages})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.Message, "nope/x") {
		t.Fatalf("unknown model: %v", err)
	}
	bad := openai.NewClient(option.WithBaseURL(tg.url+"/v1"), option.WithAPIKey("sk-ar-v1-wrong"), option.WithMaxRetries(0))
	_, err = bad.Chat.Completions.New(ctx, params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("bad key: %v", err)
	}

	// A provider failure mid-stream reaches the SDK as an error from the stream.
	tg.mock.SetBehavior(mockllm.Behavior{APIKey: "mock-secret", Fault: "disconnect", FaultAfter: 2})
	stream = client.Chat.Completions.NewStreaming(ctx, params)
	for stream.Next() {
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "ended the stream") {
		t.Fatalf("interrupted stream: err = %v", err)
	}
}
