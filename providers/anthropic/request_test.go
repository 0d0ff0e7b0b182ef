package anthropic

import (
	"errors"
	"testing"

	"github.com/arouter/arouter/providers"
	"github.com/arouter/arouter/providers/internal/oaitest"
)

func TestTranslateRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{
			name: "system, sampling, stop string, default max_tokens",
			in: `{"model":"anthropic/claude-sonnet-4-6","messages":[{"role":"system","content":"You are terse."},
				{"role":"user","content":"Hello, Claude"}],"temperature":0.2,"top_p":0.9,"top_k":40,"stop":"END","user":"u-42",
				"stream_options":{"include_usage":true},"logprobs":false}`,
			want: `{"model":"claude-sonnet-4-6","max_tokens":4096,"system":[{"type":"text","text":"You are terse."}],
				"messages":[{"role":"user","content":"Hello, Claude"}],"stop_sequences":["END"],"temperature":0.2,"top_p":0.9,"top_k":40,
				"metadata":{"user_id":"u-42"}}`,
		},
		{
			name: "system and developer messages anywhere, parts with cache_control, message-level breakpoint",
			in: `{"messages":[{"role":"system","content":[{"type":"text","text":"Long shared context.","cache_control":{"type":"ephemeral"}},
				{"type":"text","text":""}]},{"role":"user","content":"Hi"},{"role":"developer","content":"Answer in French.",
				"cache_control":{"type":"ephemeral","ttl":"1h"}}],"max_tokens":100,"stream":true}`,
			want: `{"model":"claude-sonnet-4-6","max_tokens":100,"system":[
				{"type":"text","text":"Long shared context.","cache_control":{"type":"ephemeral"}},
				{"type":"text","text":"Answer in French.","cache_control":{"type":"ephemeral","ttl":"1h"}}],
				"messages":[{"role":"user","content":"Hi"}],"stream":true}`,
		},
		{
			name: "multi-part user content: text, base64 image, URL image, PDF, breakpoints",
			in: `{"messages":[{"role":"user","content":[{"type":"text","text":"What is in these?"},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"},"cache_control":{"type":"ephemeral"}},
				{"type":"image_url","image_url":{"url":"https://upload.wikimedia.org/a.jpg"}},
				{"type":"file","file":{"filename":"x.pdf","file_data":"data:application/pdf;base64,JVBERi0x"}},
				{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}]}],"max_completion_tokens":50}`,
			want: `{"model":"claude-sonnet-4-6","max_tokens":50,"messages":[{"role":"user","content":[
				{"type":"text","text":"What is in these?"},
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="},"cache_control":{"type":"ephemeral"}},
				{"type":"image","source":{"type":"url","url":"https://upload.wikimedia.org/a.jpg"}},
				{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0x"}},
				{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}]}]}`,
		},
		{
			name: "message-level cache_control on string content",
			in:   `{"messages":[{"role":"user","content":"Big document","cache_control":{"type":"ephemeral"}},{"role":"assistant","content":"Ok."},{"role":"user","content":"Summarise"}]}`,
			want: `{"model":"claude-sonnet-4-6","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"Big document","cache_control":{"type":"ephemeral"}}]},
				{"role":"assistant","content":"Ok."},{"role":"user","content":"Summarise"}]}`,
		},
		{
			name: "tools, tool calls, merged parallel tool results, required, no parallel calls",
			in: `{"messages":[{"role":"user","content":"Weather in Paris and Rome?"},
				{"role":"assistant","content":null,"tool_calls":[
					{"id":"toolu_01","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"Paris\"}"}},
					{"id":"toolu_02","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Rome\"}"}}]},
				{"role":"tool","tool_call_id":"toolu_01","content":"15 C"},
				{"role":"tool","tool_call_id":"toolu_02","content":[{"type":"text","text":"18 C"}]},
				{"role":"user","content":"Thanks"}],
				"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather",
					"parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}},
					{"type":"function","function":{"name":"now"}}],
				"tool_choice":"required","parallel_tool_calls":false}`,
			want: `{"model":"claude-sonnet-4-6","max_tokens":4096,"messages":[
				{"role":"user","content":"Weather in Paris and Rome?"},
				{"role":"assistant","content":[
					{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"location":"Paris"}},
					{"type":"tool_use","id":"toolu_02","name":"get_weather","input":{"location":"Rome"}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":"15 C"},
					{"type":"tool_result","tool_use_id":"toolu_02","content":[{"type":"text","text":"18 C"}]}]},
				{"role":"user","content":"Thanks"}],
				"tools":[{"name":"get_weather","description":"Current weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}},
					{"name":"now","input_schema":{"type":"object","properties":{}}}],
				"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`,
		},
		{
			name: "assistant text with a tool call and empty arguments; specific tool choice",
			in: `{"messages":[{"role":"user","content":"time?"},{"role":"assistant","content":"Let me check.","tool_calls":[
				{"id":"toolu_9","type":"function","function":{"name":"now","arguments":""}}]},
				{"role":"tool","tool_call_id":"toolu_9","content":"12:00"}],
				"tools":[{"type":"function","function":{"name":"now","parameters":{"type":"object"}}}],
				"tool_choice":{"type":"function","function":{"name":"now"}}}`,
			want: `{"model":"claude-sonnet-4-6","max_tokens":4096,"messages":[{"role":"user","content":"time?"},
				{"role":"assistant","content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_9","name":"now","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_9","content":"12:00"}]}],
				"tools":[{"name":"now","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"now"}}`,
		},
		{
			name: "tool_choice none and auto; tool_choice without tools is dropped; empty assistant turn dropped",
			in: `{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":""},{"role":"user","content":"b"}],
				"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","parallel_tool_calls":false}`,
			want: `{"model":"claude-sonnet-4-6","max_tokens":4096,"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}],
				"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"none"}}`,
		},
		{
			name: "reasoning_effort high: budget from max_tokens, sampling dropped",
			in:   `{"messages":[{"role":"user","content":"Prove it."}],"max_tokens":10000,"reasoning_effort":"high","temperature":0.7,"top_p":0.5}`,
			want: `{"model":"claude-sonnet-4-6","max_tokens":10000,"messages":[{"role":"user","content":"Prove it."}],
				"thinking":{"type":"enabled","budget_tokens":8000}}`,
		},
		{
			name: "OpenRouter reasoning.max_tokens without a cap: room added for the answer",
			in:   `{"messages":[{"role":"user","content":"x"}],"reasoning":{"max_tokens":6000}}`,
			want: `{"model":"claude-sonnet-4-6","max_tokens":10096,"messages":[{"role":"user","content":"x"}],
				"thinking":{"type":"enabled","budget_tokens":6000}}`,
		},
		{
			name: "reasoning effort low: Anthropic's minimum budget",
			in:   `{"messages":[{"role":"user","content":"x"}],"reasoning":{"effort":"low"},"reasoning_effort":"high"}`,
			want: `{"model":"claude-sonnet-4-6","max_tokens":4096,"messages":[{"role":"user","content":"x"}],
				"thinking":{"type":"enabled","budget_tokens":1024}}`,
		},
		{
			name: "reasoning disabled keeps sampling",
			in:   `{"messages":[{"role":"user","content":"x"}],"reasoning":{"enabled":false},"reasoning_effort":"high","temperature":1}`,
			want: `{"model":"claude-sonnet-4-6","max_tokens":4096,"messages":[{"role":"user","content":"x"}],"temperature":1}`,
		},
		{
			name: "escapes survive",
			in:   `{"messages":[{"role":"user","content":"line1\nline2 \"q\" <b> \u2028 é"}],"stop":["\n\n","###"]}`,
			want: `{"model":"claude-sonnet-4-6","max_tokens":4096,"messages":[{"role":"user","content":"line1\nline2 \"q\" <b> \u2028 é"}],"stop_sequences":["\n\n","###"]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("keep:")
			out, err := Adapter{}.TranslateRequest(prefix, []byte(tc.in), "claude-sonnet-4-6")
			if err != nil {
				t.Fatal(err)
			}
			if string(out[:5]) != "keep:" {
				t.Fatalf("dst prefix lost: %q", out)
			}
			if got, want := oaitest.NormJSON(t, out[5:]), oaitest.NormJSON(t, []byte(tc.want)); got != want {
				t.Errorf("\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestTranslateRequestErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, field string }{
		{`{"messages":`, ""},
		{`[1,2]`, ""},
		{`{"model":"x"}`, "messages"},
		{`{"messages":[]}`, "messages"},
		{`{"messages":[{"role":"system","content":"only system"}]}`, "messages"},
		{`{"messages":[{"content":"x"}]}`, "messages[0].role"},
		{`{"messages":[{"role":"robot","content":"x"}]}`, "messages[0].role"},
		{`{"messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role"},
		{`{"messages":[{"role":"user","content":"a"},{"role":"user","content":42}]}`, "messages[1].content"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,notbase64"}}]}]}`, "messages[0].content[0].image_url.url"},
		{`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"input_audio","input_audio":{"data":"AA","format":"wav"}}]}]}`, "messages[0].content[1].type"},
		{`{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`, "messages[0].content[0].file.file_data"},
		{`{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]},{"role":"user","content":"x"}]}`, "messages[0].content[0].type"},
		{`{"messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id"},
		{`{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{bad"}}]}]}`, "messages[0].tool_calls[0].function.arguments"},
		{`{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[0].tool_calls[0].function.arguments"},
		{`{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"extreme"}`, "reasoning_effort"},
		{`{"messages":[{"role":"user","content":"x"}],"reasoning":{"effort":"max"}}`, "reasoning.effort"},
		{`{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"medium","max_tokens":1024}`, "max_tokens"},
		{`{"messages":[{"role":"user","content":"x"}],"reasoning":{"max_tokens":2000},"max_completion_tokens":2000}`, "max_completion_tokens"},
		{`{"messages":[{"role":"user","content":"x"}],"n":2}`, "n"},
		{`{"messages":[{"role":"user","content":"x"}],"max_tokens":0}`, "max_tokens"},
		{`{"messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"}`, "tool_choice"},
		{`{"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"function"}}`, "tool_choice"},
		{`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search"}]}`, "tools[0].type"},
		{`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}`, "tools[0].function.parameters"},
		{`{"messages":[{"role":"user","content":"x"}],"stop":7}`, "stop"},
		{`{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, "temperature"},
	} {
		out, err := Adapter{}.TranslateRequest([]byte("dst"), []byte(tc.in), "m")
		var re *providers.RequestError
		if !errors.As(err, &re) {
			t.Errorf("%s: err = %v, want *RequestError", tc.in, err)
			continue
		}
		if re.Field != tc.field || re.Message == "" {
			t.Errorf("%s: field %q (%s), want %q", tc.in, re.Field, re.Message, tc.field)
		}
		if string(out) != "dst" {
			t.Errorf("%s: dst changed to %q", tc.in, out)
		}
	}
}
