package proxy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/arouter/arouter/balancer"
	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/money"
)

func TestParseChatRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		model      string
		stream     bool
		err        *apiError
	}{
		{"plain", `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, "openai/gpt-4o-mini", false, nil},
		{"stream", ` {"messages":[{"role":"user","content":"hi"}], "stream" : true, "model":"a/b"}`, "a/b", true, nil},
		{"stream false", `{"model":"a/b","stream":false,"messages":[{"role":"user","content":"hi"}]}`, "a/b", false, nil},
		{"stream null", `{"model":"a/b","stream":null,"messages":[{"role":"user","content":"hi"}]}`, "a/b", false, nil},
		{"escaped slash in model", `{"model":"openai\/gpt-4o","messages":[{"role":"user","content":"hi"}]}`, "openai/gpt-4o", false, nil},
		{"nested model key is not the model", `{"x":{"model":"evil"},"model":"a/b","messages":[{"role":"user","content":"hi"}]}`, "a/b", false, nil},
		{"model inside a string", `{"messages":[{"content":"\"model\":\"evil\""}],"model":"a/b"}`, "a/b", false, nil},
		{"empty", ``, "", false, errEmptyBody},
		{"whitespace", " \n", "", false, errEmptyBody},
		{"malformed", `{"model":"a/b"`, "", false, errMalformedJSON},
		{"trailing garbage", `{"model":"a/b"} x`, "", false, errMalformedJSON},
		{"array", `[{"model":"a/b"}]`, "", false, errNotObject},
		{"missing model", `{"messages":[{"role":"user","content":"hi"}]}`, "", false, errMissingModel},
		{"empty model", `{"model":""}`, "", false, errMissingModel},
		{"numeric model", `{"model":42}`, "", false, errModelNotString},
		{"duplicate model", `{"model":"cheap/x","model":"dear/y"}`, "", false, errDuplicateModel},
		{"escaped key smuggles a second model", `{"model":"cheap/x","mod\u0065l":"dear/y"}`, "", false, errEscapedKey},
		{"stream string", `{"model":"a/b","stream":"yes"}`, "", false, errStreamNotBool},
		{"duplicate stream", `{"model":"a/b","stream":false,"stream":true}`, "", false, errDuplicateStream},
		{"missing messages", `{"model":"a/b"}`, "", false, errMissingMessages},
		{"empty messages", `{"model":"a/b","messages":[ ]}`, "", false, errEmptyMessages},
		{"messages not an array", `{"model":"a/b","messages":"hi"}`, "", false, errMessagesNotArray},
		{"messages null", `{"model":"a/b","messages":null}`, "", false, errMessagesNotArray},
		{"duplicate messages", `{"model":"a/b","messages":[{"role":"user","content":"hi"}],"messages":[{"role":"user","content":"hi"}]}`, "", false, errDuplicateMessages},
	}
	for _, c := range cases {
		var r chatRequest
		err := r.parse([]byte(c.body))
		if err != c.err {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.err)
			continue
		}
		if err == nil && (string(r.model) != c.model || r.stream != c.stream) {
			t.Errorf("%s: model %q stream %v, want %q %v", c.name, r.model, r.stream, c.model, c.stream)
		}
	}
}

// TestMaxTokensSetsTheReservation: the larger of max_tokens and max_completion_tokens is the
// completion the budget reserves; one too long to read is reserved as the most there is, not
// at the default, and anything that is not a plain integer is left to the provider.
func TestMaxTokensSetsTheReservation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		fields string
		want   int64
	}{
		{`"max_tokens":100`, 100},
		{`"max_tokens":100,"max_completion_tokens":300`, 300},
		{`"max_completion_tokens":999999999`, 999_999_999},
		{`"max_tokens":9999999999999`, maxCount},
		{`"max_tokens":99999999999999999999999999`, maxCount}, // past int64 too
		{`"max_tokens":1e3`, 0},
		{`"max_tokens":-5`, 0},
		{`"max_tokens":"100"`, 0},
	} {
		var r chatRequest
		if err := r.parse([]byte(`{"model":"a/b","messages":[{"role":"user","content":"hi"}],` + c.fields + `}`)); err != nil {
			t.Fatalf("%s: %v", c.fields, err)
		}
		if r.maxTokens != c.want {
			t.Errorf("%s: reserves %d completion tokens, want %d", c.fields, r.maxTokens, c.want)
		}
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return m
}

func TestUpstreamBodyRewritesOnlyWhatItMust(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"non-stream", `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":0.2}`,
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":0.2}`},
		{"stream without options", `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			`{"stream_options":{"include_usage":true},"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"stream, options after model", `{"model":"openai/gpt-4o-mini","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`},
		{"stream, options before model", `{"stream_options":null,"stream":true,"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
			`{"stream_options":{"include_usage":true},"stream":true,"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
		// ARouter's routing fields never reach the provider, wherever they stand.
		{"routing fields last", `{"model":"a/b","messages":[{"role":"user","content":"hi"}],"models":["c/d"],"route":"fallback","provider":{"order":["x"]}}`,
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
		{"routing fields first", `{"models":["c/d"], "provider":{"sort":"price"} , "model":"a/b","messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
		{"routing fields between", `{"model":"a/b", "usage":{"include":true}, "messages":[{"role":"user","content":"hi"}], "route":"fallback" ,"m":2}`,
			`{"model":"gpt-4o-mini", "messages":[{"role":"user","content":"hi"}] ,"m":2}`},
		{"models alone names the model", `{"models":["a/b","c/d"],"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
		{"models alone and last", `{"messages":[{"role":"user","content":"hi"}],"models":["a/b"]}`, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
		{"models alone, stream", `{"models":["a/b"],"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			`{"stream_options":{"include_usage":true},"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
	}
	for _, c := range cases {
		var r chatRequest
		if err := r.parse([]byte(c.in)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := r.appendUpstreamBody(nil, []byte(c.in), quoteJSON("gpt-4o-mini"))
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

func testExchange() *exchange {
	m := &catalog.Model{ID: "a/b", Prices: catalog.Prices{Prompt: 1_000_000_000, Completion: 2_000_000_000, CacheRead: 500_000_000}}
	return &exchange{model: m, rt: &route{quotedPublic: quoteJSON(m.ID), providerID: []byte("p")}}
}

func TestAddCostToResponse(t *testing.T) {
	t.Parallel()
	// 10 prompt tokens (4 cached) and 5 completion tokens at $1/$2/$0.5 per million:
	// 6*1000 + 4*500 + 5*2000 = 18000 nano-USD.
	in := `{"id":"x","choices":[{"message":{"content":"\"usage\":{}"}}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}},"z":1}`
	x := testExchange()
	out, ok := addCostToResponse([]byte(in), x)
	if !ok {
		t.Fatal("rejected a valid body")
	}
	m := decode(t, out)
	u := m["usage"].(map[string]any)
	if u["cost"] != 0.000018 {
		t.Fatalf("cost = %v in %s", u["cost"], out)
	}
	want := catalog.Usage{Prompt: 10, Completion: 5, Cached: 4, Reasoning: 2}
	if !reflect.DeepEqual(x.usage, want) || x.rec.Cost != 18000 {
		t.Fatalf("usage %+v cost %d", x.usage, x.rec.Cost)
	}
	// Everything else is byte-identical.
	if !strings.HasPrefix(string(out), in[:strings.Index(in, `"usage":{`)]) || !strings.HasSuffix(string(out), `},"z":1}`) {
		t.Fatalf("body changed outside usage: %s", out)
	}

	// A provider's own cost (an upstream gateway) is replaced, not duplicated.
	out, _ = addCostToResponse([]byte(`{"usage":{"prompt_tokens":1000000,"cost":99.5,"completion_tokens":0}}`), testExchange())
	if string(out) != `{"usage":{"prompt_tokens":1000000,"cost":1,"completion_tokens":0}}` {
		t.Fatalf("cost replacement: %s", out)
	}
	out, _ = addCostToResponse([]byte(`{"usage":{}}`), testExchange())
	if string(out) != `{"usage":{"cost":0}}` {
		t.Fatalf("empty usage: %s", out)
	}
	out, ok = addCostToResponse([]byte(`{"usage":null,"id":"x"}`), testExchange())
	if !ok || string(out) != `{"usage":null,"id":"x"}` {
		t.Fatalf("null usage: %s %v", out, ok)
	}
	if _, ok := addCostToResponse([]byte(`{"id":"x","choices":[`), testExchange()); ok {
		t.Fatal("truncated body accepted")
	}
}

func TestEventFraming(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"data: x\n\n": 9, "data: x\r\n\r\nmore": 11, "data: x\n": -1, "": -1, ": ping\n\ndata": 8} {
		if got := eventEnd([]byte(in)); got != want {
			t.Errorf("eventEnd(%q) = %d, want %d", in, got, want)
		}
	}
	p, off := eventData([]byte("data: {\"a\":1}\n\n"))
	if string(p) != `{"a":1}` || off != 6 {
		t.Fatalf("eventData = %q at %d", p, off)
	}
	if p, _ := eventData([]byte(": keep-alive\n\n")); p != nil {
		t.Fatalf("comment has data %q", p)
	}
}

// relay feeds a stream to a fresh relay in awkward 7-byte pieces, to exercise framing.
func relay(t *testing.T, wantsUsage bool, stream string) *sseRelay {
	t.Helper()
	r := &sseRelay{x: *testExchange(), wantsUsage: wantsUsage}
	for i := 0; i < len(stream); i += 7 {
		r.consume([]byte(stream[i:min(i+7, len(stream))]))
	}
	return r
}

const upstreamStream = "data: {\"choices\":[{\"delta\":{\"content\":\"usage\"},\"finish_reason\":null}],\"usage\":null}\n\n" +
	"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n" +
	"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1000000,\"completion_tokens\":0}}\n\n" +
	"data: [DONE]\n\n"

func TestRelayPassesTheUsageChunkToClientsThatAskForIt(t *testing.T) {
	t.Parallel()
	r := relay(t, true, upstreamStream)
	want := strings.Replace(upstreamStream, `"completion_tokens":0}`, `"completion_tokens":0,"cost":1}`, 1)
	if string(r.out) != want {
		t.Fatalf("relayed:\n%s\nwant:\n%s", r.out, want)
	}
	if !r.sawDone || r.x.rec.Cost != 1_000_000_000 || len(r.in) != 0 {
		t.Fatalf("done %v cost %d leftover %q", r.sawDone, r.x.rec.Cost, r.in)
	}
}

func TestRelayMovesUsageIntoTheFinishChunkForOtherClients(t *testing.T) {
	t.Parallel()
	r := relay(t, false, upstreamStream)
	want := "data: {\"choices\":[{\"delta\":{\"content\":\"usage\"},\"finish_reason\":null}],\"usage\":null}\n\n" +
		"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1000000,\"completion_tokens\":0,\"cost\":1}}\n\n" +
		"data: [DONE]\n\n"
	if string(r.out) != want {
		t.Fatalf("relayed:\n%s\nwant:\n%s", r.out, want)
	}
	if r.x.rec.Cost != 1_000_000_000 {
		t.Fatalf("cost %d", r.x.rec.Cost)
	}
	// A finish chunk without a usage member gets one; with no finish chunk at all the usage is
	// billed and not sent.
	r = relay(t, false, "data: {\"choices\":[{\"finish_reason\":\"stop\"}]}\n\n"+
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n")
	if !strings.Contains(string(r.out), `"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"cost":0.000001}}`) {
		t.Fatalf("relayed %s", r.out)
	}
	r = relay(t, false, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n")
	if string(r.out) != "data: [DONE]\n\n" || r.x.rec.Cost != 1000 {
		t.Fatalf("relayed %s, cost %d", r.out, r.x.rec.Cost)
	}
}

// TestRelayStopsAtABrokenEvent: an event cut in the middle stops the relay there (nothing of it
// or after it is relayed; the stream's end reports it), and an empty data event is dropped.
func TestRelayStopsAtABrokenEvent(t *testing.T) {
	t.Parallel()
	first := "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
	r := relay(t, true, first+"data: \n\n"+"data: {\"choices\":[{\"delta\":{\"content\":\n\n"+first+"data: [DONE]\n\n")
	if string(r.out) != first || r.streamErr != errMalformedEvent || r.sawDone || r.choiceEvents != 1 {
		t.Fatalf("relayed %q, stop %v, done %v, %d content events", r.out, r.streamErr, r.sawDone, r.choiceEvents)
	}
}

func TestPerTokenPrices(t *testing.T) {
	t.Parallel()
	for p, want := range map[int64]string{0: "0", 150_000_000: "0.00000015", 2_500_000_000: "0.0000025", 37_500: "0.0000000000375", 15_000_000_000_000: "0.015", 1_000_000_000_000_000: "1"} {
		if got := perToken(catalogPrice(p)); got != want {
			t.Errorf("perToken(%d) = %s, want %s", p, got, want)
		}
	}
}

func catalogPrice(p int64) money.PricePerMillion { return money.PricePerMillion(p) }

func TestBearerPrefixIgnoresLetterCaseOnly(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{"bearer ": true, "Bearer ": true, "BEARER ": true, "Bearer\x00": false, "bearer\t": false, "Basic  ": false} {
		if got := equalFoldASCII([]byte(in), bearer); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}

func TestRoutingFields(t *testing.T) {
	t.Parallel()
	var r chatRequest
	body := `{"model":"a/b","messages":[{"role":"user","content":"hi"}],"models":["c/d","e/f"],"route":"fallback","provider":{"order":["p","q"],"only":["p","q","r"],"ignore":["z"],"allow_fallbacks":false,"sort":"latency"}}`
	if e := r.parse([]byte(body)); e != nil {
		t.Fatal(e)
	}
	if string(r.model) != "a/b" || r.nModels != 2 || string(r.models[1]) != "e/f" || r.nOrder != 2 || r.nOnly != 3 ||
		string(r.ignore[0]) != "z" || !r.noFallbacks || r.sort != balancer.SortLatency {
		t.Fatalf("parsed %+v", r.routeFields)
	}
	for _, c := range []struct{ body, field string }{
		{`{"model":"a/b","models":"c/d"}`, "models"},
		{`{"model":"a/b","models":[1]}`, "models"},
		{`{"model":"a/b","models":["1","2","3","4","5","6","7","8","9"]}`, "models"},
		{`{"model":"a/b","route":"sort"}`, "route"},
		{`{"model":"a/b","provider":[]}`, "provider"},
		{`{"model":"a/b","provider":{"order":"p"}}`, "provider.order"},
		{`{"model":"a/b","provider":{"sort":"cheapest"}}`, "provider.sort"},
		{`{"model":"a/b","provider":{"allow_fallbacks":"no"}}`, "provider.allow_fallbacks"},
		{`{"model":"a/b","provider":{"max_price":{"prompt":1}}}`, "provider.max_price"},
	} {
		var r chatRequest
		e := r.parse([]byte(c.body))
		if e == nil || e.status != 400 || e.metadata["field"] != c.field {
			t.Errorf("%s: %v, want a 400 naming %s", c.body, e, c.field)
		}
	}
	var none chatRequest
	if e := none.parse([]byte(`{"messages":[{"role":"user","content":"hi"}]}`)); e != errMissingModel {
		t.Errorf("no model and no models: %v", e)
	}
}

func TestCacheDiscountIsAddedToUsage(t *testing.T) {
	t.Parallel()
	// $1/M prompt, $0.50/M cache read, $2/M completion (testExchange): 10 prompt tokens of
	// which 4 cached save 4 × $0.50/M = 2000 nano-USD.
	for _, c := range []struct{ name, in string }{
		{"appended", `{"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4}}}`},
		{"replaced", `{"usage":{"cache_discount":9,"prompt_tokens":10,"cost":7,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4}}}`},
		{"replaced, cost first", `{"usage":{"cost":7,"prompt_tokens":10,"completion_tokens":5,"cache_discount":9,"prompt_tokens_details":{"cached_tokens":4}}}`},
	} {
		x := testExchange()
		out, ok := addCostToResponse([]byte(c.in), x)
		var m struct{ Usage map[string]any }
		if err := json.Unmarshal(out, &m); err != nil || !ok {
			t.Fatalf("%s: %v %s", c.name, err, out)
		}
		if m.Usage["cost"] != 0.000018 || m.Usage["cache_discount"] != 0.000002 || x.rec.CacheDiscount != 2000 {
			t.Errorf("%s: %s (record discount %d)", c.name, out, x.rec.CacheDiscount)
		}
	}
	// Without cached tokens there is no discount, and a provider's is reset.
	x := testExchange()
	out, _ := addCostToResponse([]byte(`{"usage":{"prompt_tokens":10,"completion_tokens":5,"cache_discount":3}}`), x)
	if !strings.Contains(string(out), `"cache_discount":0`) || strings.Count(string(out), "cache_discount") != 1 {
		t.Errorf("no cache: %s", out)
	}
}
