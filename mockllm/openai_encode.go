package mockllm

// OpenAI response encoding: the chat.completion body, chat.completion.chunk
// events, the error envelope and the /v1/models list. Bodies are appended by
// hand in OpenAI's field order: the mock answers thousands of requests and
// tokens per second in benchmarks, and reflection-based encoding would make
// the mock, not the gateway, the thing being measured.

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// newID returns a fresh "chatcmpl-…" id, unique per server and response.
func (s *Server) newID() string { return s.newIDWith("chatcmpl-", 29) }

// newIDWith returns prefix and n random characters, unique per server and call; every wire
// mode's ids ("msg_…", "req_…") come from here.
func (s *Server) newIDWith(prefix string, n int) string {
	b := make([]byte, 0, len(prefix)+n)
	b = append(b, prefix...)
	return string(appendRandomID(b, s.salt+s.idSeq.Add(1), n))
}

func (e *apiError) write(ctx *fasthttp.RequestCtx) {
	openaiError(ctx, e.status, e.msg, e.typ, e.param, e.c)
}

// openaiError writes OpenAI's error envelope; empty param or code become null.
func openaiError(ctx *fasthttp.RequestCtx, status int, msg, typ, param, code string) {
	b := append(make([]byte, 0, 128+len(msg)), `{"error":{"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"param":`...)
	b = appendNullableString(b, param)
	b = append(b, `,"code":`...)
	b = appendNullableString(b, code)
	b = append(b, "}}"...)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func appendNullableString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

// appendUsage appends the usage object with every detail field OpenAI sends,
// so gateways that read cached or reasoning tokens find them where they are.
func appendUsage(b []byte, u usageCounts) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.completion()), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.total()), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, int64(u.cached), 10)
	b = append(b, `,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, int64(u.reasoning), 10)
	return append(b, `,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
}

// appendChatCompletion appends a non-streaming chat.completion body, fields
// in OpenAI's order.
func appendChatCompletion(b []byte, id, model string, created int64, content, finish string, u usageCounts) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	b = appendJSONString(b, content)
	b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"`...)
	b = append(b, finish...)
	b = append(b, `"}],"usage":`...)
	b = appendUsage(b, u)
	return append(b, `,"service_tier":"default","system_fingerprint":"fp_mock"}`...)
}

// appendChatCompletionToolCall appends a chat.completion body whose message calls a tool:
// content null, the call in tool_calls, finish reason "tool_calls".
func appendChatCompletionToolCall(b []byte, id, model string, created int64, callID string, call plannedCall, u usageCounts) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":`...)
	b = appendJSONString(b, callID)
	b = append(b, `,"type":"function","function":{"name":`...)
	b = appendJSONString(b, call.name)
	b = append(b, `,"arguments":`...)
	b = appendJSONString(b, call.args)
	b = append(b, `}}],"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":`...)
	b = appendUsage(b, u)
	return append(b, `,"service_tier":"default","system_fingerprint":"fp_mock"}`...)
}

// appendChunkPrefix appends the part every chunk of one stream shares, up to
// and including the opening bracket of "choices", so per-token work is one
// append of the prefix plus the token.
func appendChunkPrefix(b []byte, id, model string, created int64) []byte {
	b = append(b, `data: {"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, model)
	return append(b, `,"service_tier":"default","system_fingerprint":"fp_mock","choices":[`...)
}

// openaiStream encodes chat.completion.chunk events. With include_usage,
// OpenAI puts "usage":null on every chunk and the totals on one extra chunk
// with empty choices before [DONE].
type openaiStream struct {
	prefix       []byte
	id           string
	includeUsage bool
	finishReason string
	usage        usageCounts
}

func (o *openaiStream) end(b []byte) []byte {
	if o.includeUsage {
		return append(b, `],"usage":null}`+"\n\n"...)
	}
	return append(b, "]}\n\n"...)
}

// waiting sends the comment OpenAI-compatible routers (OpenRouter among them) send while a
// model has not started; SSE clients ignore comments.
func (o *openaiStream) waiting(ew *eventWriter) error {
	ew.buf = append(ew.buf, ": PROCESSING\n\n"...)
	return ew.flush()
}

func (o *openaiStream) start(ew *eventWriter) error {
	ew.buf = append(ew.buf, o.prefix...)
	ew.buf = append(ew.buf, `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`...)
	ew.buf = o.end(ew.buf)
	return ew.flush()
}

func (o *openaiStream) content(ew *eventWriter, tok string) error {
	ew.buf = append(ew.buf, o.prefix...)
	ew.buf = append(ew.buf, `{"index":0,"delta":{"content":`...)
	ew.buf = appendJSONString(ew.buf, tok)
	ew.buf = append(ew.buf, `},"logprobs":null,"finish_reason":null}`...)
	ew.buf = o.end(ew.buf)
	return ew.flush()
}

func (o *openaiStream) finish(ew *eventWriter) error {
	ew.buf = append(ew.buf, o.prefix...)
	ew.buf = append(ew.buf, `{"index":0,"delta":{},"logprobs":null,"finish_reason":"`...)
	ew.buf = append(ew.buf, o.finishReason...)
	ew.buf = append(ew.buf, `"}`...)
	ew.buf = o.end(ew.buf)
	if err := ew.flush(); err != nil {
		return err
	}
	if o.includeUsage {
		ew.buf = append(ew.buf, o.prefix...)
		ew.buf = append(ew.buf, `],"usage":`...)
		ew.buf = appendUsage(ew.buf, o.usage)
		ew.buf = append(ew.buf, "}\n\n"...)
		if err := ew.flush(); err != nil {
			return err
		}
	}
	return o.done(ew)
}

// openaiToolStream streams a tool call as OpenAI does: the first chunk carries the call's id
// and name with empty arguments, each later one a fragment of the arguments, all at
// tool_calls index 0.
type openaiToolStream struct {
	openaiStream
	callID, name string
}

func (o *openaiToolStream) start(ew *eventWriter) error {
	ew.buf = append(ew.buf, o.prefix...)
	ew.buf = append(ew.buf, `{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":`...)
	ew.buf = appendJSONString(ew.buf, o.callID)
	ew.buf = append(ew.buf, `,"type":"function","function":{"name":`...)
	ew.buf = appendJSONString(ew.buf, o.name)
	ew.buf = append(ew.buf, `,"arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}`...)
	ew.buf = o.end(ew.buf)
	return ew.flush()
}

func (o *openaiToolStream) content(ew *eventWriter, frag string) error {
	ew.buf = append(ew.buf, o.prefix...)
	ew.buf = append(ew.buf, `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":`...)
	ew.buf = appendJSONString(ew.buf, frag)
	ew.buf = append(ew.buf, `}}]},"logprobs":null,"finish_reason":null}`...)
	ew.buf = o.end(ew.buf)
	return ew.flush()
}

func (o *openaiStream) done(ew *eventWriter) error {
	ew.buf = append(ew.buf, "data: [DONE]\n\n"...)
	return ew.flush()
}

func (o *openaiStream) malformed(ew *eventWriter) error {
	ew.buf = append(ew.buf, `data: {"id":`...)
	ew.buf = appendJSONString(ew.buf, o.id)
	ew.buf = append(ew.buf, `,"choices":[{"delta":{"content":`+"\n\n"...)
	if err := ew.flush(); err != nil {
		return err
	}
	return o.done(ew)
}

// streamError sends the error object OpenAI puts in a stream that fails after it started; no
// [DONE] follows.
func (o *openaiStream) streamError(ew *eventWriter) error {
	ew.buf = append(ew.buf, `data: {"error":{"message":"The server had an error while processing your request. Sorry about that!",`+
		`"type":"server_error","param":null,"code":null}}`+"\n\n"...)
	return ew.flush()
}

// modelIDs are the ids listed by /v1/models; completions accept any model.
var modelIDs = []string{"gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "o3-mini"}

// modelsBody is built once: the list never changes.
var modelsBody = func() []byte {
	b := []byte(`{"object":"list","data":[`)
	for i, id := range modelIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, id)
		b = append(b, `,"object":"model","created":1715367049,"owned_by":"mockllm"}`...)
	}
	return append(b, "]}"...)
}()

// openaiModels serves GET /v1/models.
func (s *Server) openaiModels(ctx *fasthttp.RequestCtx) {
	if e := openaiAuth(ctx, s.Behavior().APIKey); e != nil {
		e.write(ctx)
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(modelsBody)
}
