package gemini

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
			name: "system instruction, generation config",
			in: `{"model":"google/gemini-2.5-flash","messages":[{"role":"system","content":"You are a cat."},{"role":"developer","content":[{"type":"text","text":"Your name is Neko."}]},
				{"role":"user","content":"Hello there"}],"max_tokens":800,"temperature":1.0,"top_p":0.8,"top_k":10,"stop":["Title"],
				"seed":7,"presence_penalty":0.5,"frequency_penalty":-0.5,"stream":true,"stream_options":{"include_usage":true}}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"Hello there"}]}],
				"systemInstruction":{"parts":[{"text":"You are a cat."},{"text":"Your name is Neko."}]},
				"generationConfig":{"maxOutputTokens":800,"temperature":1,"topP":0.8,"topK":10,"stopSequences":["Title"],"seed":7,
				"presencePenalty":0.5,"frequencyPenalty":-0.5}}`,
		},
		{
			name: "multi-part user: text, inline image, image URL, PDF, audio; cache_control ignored",
			in: `{"messages":[{"role":"user","content":[{"type":"text","text":"Caption these","cache_control":{"type":"ephemeral"}},
				{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}},
				{"type":"image_url","image_url":{"url":"https://example.com/cat.PNG?size=2"}},
				{"type":"image_url","image_url":{"url":"https://example.com/img"}},
				{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0x"}},
				{"type":"input_audio","input_audio":{"data":"SUQz","format":"mp3"}}]}]}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"Caption these"},
				{"inlineData":{"mimeType":"image/jpeg","data":"/9j/4AAQ"}},
				{"fileData":{"mimeType":"image/png","fileUri":"https://example.com/cat.PNG?size=2"}},
				{"fileData":{"mimeType":"image/jpeg","fileUri":"https://example.com/img"}},
				{"inlineData":{"mimeType":"application/pdf","data":"JVBERi0x"}},
				{"inlineData":{"mimeType":"audio/mpeg","data":"SUQz"}}]}]}`,
		},
		{
			name: "function calling round trip: calls, merged responses, tools, forced function",
			in: `{"messages":[{"role":"user","content":"Lights and music?"},
				{"role":"assistant","content":"Sure.","tool_calls":[
					{"id":"call_a","type":"function","function":{"name":"dim_lights","arguments":"{\"brightness\": 0.3}"}},
					{"id":"call_b","type":"function","function":{"name":"play_music","arguments":""}}]},
				{"role":"tool","tool_call_id":"call_a","content":"{\"ok\": true}"},
				{"role":"tool","tool_call_id":"call_b","content":[{"type":"text","text":"playing"}]},
				{"role":"assistant","content":[{"type":"text","text":"Done."}]},
				{"role":"user","content":"thanks"}],
				"tools":[{"type":"function","function":{"name":"dim_lights","description":"Dims the lights.",
					"parameters":{"type":"object","properties":{"brightness":{"type":"number"}},"required":["brightness"],"additionalProperties":false}}},
					{"type":"function","function":{"name":"play_music"}}],
				"tool_choice":{"type":"function","function":{"name":"dim_lights"}},"parallel_tool_calls":true}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"Lights and music?"}]},
				{"role":"model","parts":[{"text":"Sure."},{"functionCall":{"name":"dim_lights","args":{"brightness":0.3}}},
					{"functionCall":{"name":"play_music","args":{}}}]},
				{"role":"user","parts":[{"functionResponse":{"name":"dim_lights","response":{"ok":true}}},
					{"functionResponse":{"name":"play_music","response":{"result":"playing"}}}]},
				{"role":"model","parts":[{"text":"Done."}]},
				{"role":"user","parts":[{"text":"thanks"}]}],
				"tools":[{"functionDeclarations":[{"name":"dim_lights","description":"Dims the lights.",
					"parametersJsonSchema":{"type":"object","properties":{"brightness":{"type":"number"}},"required":["brightness"],"additionalProperties":false}},
					{"name":"play_music"}]}],
				"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["dim_lights"]}}}`,
		},
		{
			name: "tool_choice auto/none/required; empty assistant dropped",
			in:   `{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":null},{"role":"user","content":"b"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"a"}]},{"role":"user","parts":[{"text":"b"}]}],
				"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}`,
		},
		{
			name: "required",
			in:   `{"messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required"}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"a"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],
				"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`,
		},
		{
			name: "reasoning effort with a cap: share of the cap, thoughts included",
			in:   `{"messages":[{"role":"user","content":"x"}],"max_completion_tokens":10000,"reasoning_effort":"high"}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"maxOutputTokens":10000,
				"thinkingConfig":{"thinkingBudget":8000,"includeThoughts":true}}}`,
		},
		{
			name: "reasoning effort without a cap: fixed budget",
			in:   `{"messages":[{"role":"user","content":"x"}],"reasoning":{"effort":"low"}}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":2048,"includeThoughts":true}}}`,
		},
		{
			name: "explicit budget, excluded from the answer",
			in:   `{"messages":[{"role":"user","content":"x"}],"reasoning":{"max_tokens":1500,"exclude":true}}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":1500}}}`,
		},
		{
			name: "reasoning off",
			in:   `{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"none"}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":0}}}`,
		},
		{
			name: "json schema response format",
			in: `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"r",
				"schema":{"type":"object","properties":{"a":{"type":"string"}}}}}}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"application/json",
				"responseJsonSchema":{"type":"object","properties":{"a":{"type":"string"}}}}}`,
		},
		{
			name: "json object response format",
			in:   `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"application/json"}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Adapter{}.TranslateRequest([]byte("keep:"), []byte(tc.in), "gemini-2.5-flash")
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
		{`{"messages":[]}`, "messages"},
		{`{"messages":[{"role":"system","content":"only system"}]}`, "messages"},
		{`{"messages":[{"role":"user","content":{"text":"x"}}]}`, "messages[0].content"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"gs://bucket/x.png"}}]}]}`, "messages[0].content[0].image_url.url"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, "messages[0].content[0].image_url"},
		{`{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"format":"wav"}}]}]}`, "messages[0].content[0].input_audio.data"},
		{`{"messages":[{"role":"user","content":[{"type":"video","video":{}}]}]}`, "messages[0].content[0].type"},
		{`{"messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"call_zz","content":"orphan"}]}`, "messages[1].tool_call_id"},
		{`{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"c","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "messages[1].content"},
		{`{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},{"role":"user","content":"x"}]}`, "messages[0].content"},
		{`{"messages":[{"role":"assistant","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "messages[0].content[0].type"},
		{`{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"ultra"}`, "reasoning_effort"},
		{`{"messages":[{"role":"user","content":"x"}],"n":3}`, "n"},
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

func TestPath(t *testing.T) {
	t.Parallel()
	a := Adapter{}
	for _, tc := range []struct {
		model  string
		stream bool
		want   string
	}{
		{"gemini-2.5-flash", false, "/v1beta/models/gemini-2.5-flash:generateContent"},
		{"models/gemini-2.5-pro", true, "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"},
	} {
		if got := a.Path(tc.model, tc.stream); got != tc.want {
			t.Errorf("Path(%q, %v) = %q, want %q", tc.model, tc.stream, got, tc.want)
		}
	}
	if got := (Adapter{APIVersion: "v1"}).Path("g", false); got != "/v1/models/g:generateContent" {
		t.Errorf("APIVersion: %q", got)
	}
}
