package proxy

import (
	"testing"

	"github.com/arouter/arouter/accounting"
)

// TestChoiceFinish: the finish chunk is found whatever the provider's spacing, and a null or
// absent finish_reason, or one inside content text, does not count; an upstream gateway's
// native_finish_reason comes with it.
func TestChoiceFinish(t *testing.T) {
	t.Parallel()
	cases := []struct {
		choices     string
		reason, nat string
		want        bool
	}{
		{`[{"index":0,"delta":{},"finish_reason":"stop"}]`, "stop", "", true},
		{`[ { "index": 0, "delta": {}, "finish_reason" : "length" } ]`, "length", "", true},
		{"[{\"index\":0,\n\"finish_reason\":\n\"tool_calls\"}]", "tool_calls", "", true},
		{`[{"index":0,"delta":{"content":"x"},"finish_reason":null}]`, "", "", false},
		{`[{"index":0,"delta":{"content":"\"finish_reason\":\"stop\""}}]`, "", "", false},
		{`[{"index":0,"delta":{}},{"index":1,"delta":{},"finish_reason":"stop"}]`, "stop", "", true},
		{`[{"index":0,"message":{},"native_finish_reason":"end_turn","finish_reason":"stop"}]`, "stop", "end_turn", true},
		{`[{"index":0,"native_finish_reason":"x","finish_reason":null},{"finish_reason":"length"}]`, "length", "", true},
		{`[]`, "", "", false},
		{`[{"finish_reason":"stop"`, "", "", false},
		{`{}`, "", "", false},
	}
	for _, c := range cases {
		reason, native, ok := choiceFinish([]byte(c.choices))
		if ok != c.want || string(reason) != c.reason || string(native) != c.nat {
			t.Errorf("%s: got %q %q %v, want %q %q %v", c.choices, reason, native, ok, c.reason, c.nat, c.want)
		}
	}
}

// TestAnswerFieldsRecorded: a non-streaming answer's id and finish reason go to the record; an
// unknown finish reason is "other" with the provider's word kept; a stream takes the first
// chunk's id and the finish chunk's reason.
func TestAnswerFieldsRecorded(t *testing.T) {
	t.Parallel()
	x := testExchange()
	body := `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","choices":[{"index":0,"message":{"content":"hi"},"finish_reason":"eos"}],` +
		`"usage":{"prompt_tokens":1,"completion_tokens":1}}`
	if _, ok := addCostToResponse([]byte(body), x); !ok {
		t.Fatal("rejected a valid body")
	}
	if x.rec.UpstreamID.String() != "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT" || x.rec.FinishReason != accounting.FinishOther ||
		x.rec.NativeFinishReason.String() != "eos" {
		t.Errorf("record: id %q, finish %q, native %q", x.rec.UpstreamID, x.rec.FinishReason, x.rec.NativeFinishReason)
	}

	r := &sseRelay{x: *testExchange(), wantsUsage: true}
	r.consume([]byte(idStream))
	if r.x.rec.UpstreamID.String() != "chatcmpl-1" || r.x.rec.FinishReason != accounting.FinishStop || r.x.rec.NativeFinishReason.String() != "stop" {
		t.Errorf("stream record: id %q, finish %q, native %q", r.x.rec.UpstreamID, r.x.rec.FinishReason, r.x.rec.NativeFinishReason)
	}
}

// idStream is an OpenAI stream whose chunks carry their id, as OpenAI's do.
const idStream = "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}],\"usage\":null}\n\n" +
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n" +
	"data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":1000000,\"completion_tokens\":0}}\n\n" +
	"data: [DONE]\n\n"
