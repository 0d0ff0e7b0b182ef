package mockllm

// OpenAI Chat Completions: request decoding, OpenAI's validation rules and
// error messages, authentication, and the handler that turns a request plus
// a Behavior into a response. Bodies are encoded in openai_encode.go; timing,
// faults, streaming and text are shared with other wire modes.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// OpenAI error "type" values.
const (
	errInvalidRequest = "invalid_request_error"
	errServer         = "server_error"
	errRateLimit      = "requests" // OpenAI's type for request-rate 429s; code is rate_limit_exceeded
)

// chatRequest holds the request fields the mock acts on; the rest (tools,
// temperature, ...) are accepted and ignored, as any model id is.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Tools               []openaiTool    `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	Mock                json.RawMessage `json:"mock"` // partial Behavior for this request only
}

// openaiTool is one entry of "tools": {"type":"function","function":{"name",…,"parameters"}}.
type openaiTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// forcedTool reads tool_choice: whether it forces a call ("required", or a named function)
// and the function it names ("" for any).
func (r *chatRequest) forcedTool() (forced bool, name string) {
	var word string
	if json.Unmarshal(r.ToolChoice, &word) == nil {
		return word == "required", ""
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(r.ToolChoice, &named) == nil && named.Type == "function" {
		return true, named.Function.Name
	}
	return false, ""
}

func (r *chatRequest) toolSpecs() []toolSpec {
	specs := make([]toolSpec, len(r.Tools))
	for i, t := range r.Tools {
		specs[i] = toolSpec{name: t.Function.Name, params: t.Function.Parameters}
	}
	return specs
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role    string      `json:"role"`
	Content chatContent `json:"content"`
}

// chatContent is a message's content: a string, an array of parts (only text
// parts carry countable text; image and audio parts are accepted and not
// counted), or null (assistant messages with tool calls).
type chatContent struct {
	texts []string
}

func (c *chatContent) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		c.texts = []string{s}
		return nil
	case b[0] == '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &parts); err != nil {
			return err
		}
		for _, p := range parts {
			if p.Type == "text" {
				c.texts = append(c.texts, p.Text)
			}
		}
		return nil
	}
	return errContentType
}

// errContentType carries OpenAI's exact client-facing wording, capital and full stop included.
//
//lint:ignore ST1005 the mock must reproduce OpenAI's message verbatim
var errContentType = errors.New("Invalid type for 'messages.content': expected a string or an array of content parts.")

func (c *chatContent) size() (n int) {
	for _, t := range c.texts {
		n += len(t)
	}
	return n
}

var validRoles = map[string]bool{
	"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true,
}

// apiError is an OpenAI error envelope waiting to be written.
type apiError struct {
	status             int
	msg, typ, param, c string
}

func badRequest(msg, param, code string) *apiError {
	return &apiError{fasthttp.StatusBadRequest, msg, errInvalidRequest, param, code}
}

// validate applies OpenAI's own checks, with its messages, so gateways see
// the errors they would see in production.
func (r *chatRequest) validate() *apiError {
	if r.Model == "" {
		return badRequest("you must provide a model parameter", "", "")
	}
	if r.Messages == nil {
		return badRequest("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
	}
	if len(r.Messages) == 0 {
		return badRequest("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
			"messages", "empty_array")
	}
	for i, m := range r.Messages {
		param := "messages[" + strconv.Itoa(i) + "].role"
		if m.Role == "" {
			return badRequest("Missing required parameter: '"+param+"'.", param, "missing_required_parameter")
		}
		if !validRoles[m.Role] {
			return badRequest("Invalid value: '"+m.Role+"'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
				param, "invalid_value")
		}
	}
	for _, p := range []struct {
		name string
		v    *int
	}{{"max_tokens", r.MaxTokens}, {"max_completion_tokens", r.MaxCompletionTokens}} {
		if p.v != nil && *p.v < 1 {
			return badRequest(fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", p.name, *p.v),
				p.name, "integer_below_min_value")
		}
	}
	for i, t := range r.Tools {
		if t.Function.Name == "" {
			param := "tools[" + strconv.Itoa(i) + "].function.name"
			return badRequest("Missing required parameter: '"+param+"'.", param, "missing_required_parameter")
		}
	}
	if len(r.ToolChoice) > 0 && string(r.ToolChoice) != "null" {
		if len(r.Tools) == 0 {
			return badRequest("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", "tool_choice", "")
		}
		if forced, name := r.forcedTool(); forced && name != "" && !slices.ContainsFunc(r.Tools, func(t openaiTool) bool { return t.Function.Name == name }) {
			return badRequest("Invalid value for 'tool_choice': function '"+name+"' is not among the 'tools'.", "tool_choice", "invalid_value")
		}
	}
	if r.StreamOptions != nil && !r.Stream {
		return badRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options", "")
	}
	return nil
}

// tokenCap is the smaller of max_tokens and max_completion_tokens, 0 if neither.
func (r *chatRequest) tokenCap() int {
	c := 0
	for _, v := range []*int{r.MaxTokens, r.MaxCompletionTokens} {
		if v != nil && (c == 0 || *v < c) {
			c = *v
		}
	}
	return c
}

// promptTokens is the documented deterministic estimate: 3 priming tokens, one per 4 bytes
// of each tool's name, description and parameters (providers bill tool definitions as
// prompt), and per message 4 tokens of framing and one per 4 bytes of text.
func (r *chatRequest) promptTokens() int {
	n := 3
	for i := range r.Tools {
		f := &r.Tools[i].Function
		n += toolDefinitionTokens(f.Name, f.Description, f.Parameters)
	}
	for i := range r.Messages {
		n += 4 + ceilDiv4(r.Messages[i].Content.size())
	}
	return n
}

// seed hashes the model and the last message's text, so identical requests
// get identical completions and different conversations different ones.
func (r *chatRequest) seed() uint64 {
	h := newFNV()
	h.add(r.Model)
	h.add("\x00")
	for _, t := range r.Messages[len(r.Messages)-1].Content.texts {
		h.add(t)
	}
	return uint64(h)
}

func decodeError(err error) *apiError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return badRequest(fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", te.Field, te.Type, te.Value),
			te.Field, "invalid_type")
	}
	if errors.Is(err, errContentType) {
		return badRequest(err.Error(), "messages.content", "invalid_type")
	}
	return badRequest("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. "+
		"The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", "", "")
}

// openaiChat serves POST /v1/chat/completions. The order mirrors a real
// upstream: authenticate, validate, then (after Latency, the time to first
// byte) either inject the configured fault or answer, streaming or not.
func (s *Server) openaiChat(ctx *fasthttp.RequestCtx) {
	s.requests.Add(1)
	b := *s.behavior.Load()
	var req chatRequest
	decErr := json.Unmarshal(ctx.PostBody(), &req)
	var mockErr error
	if decErr == nil && len(req.Mock) > 0 && string(req.Mock) != "null" {
		mockErr = decodeBehavior(req.Mock, &b)
	}
	// Authentication comes first, as at OpenAI: a bad key never learns
	// whether its request was valid.
	if e := openaiAuth(ctx, b.APIKey); e != nil {
		e.write(ctx)
		return
	}
	if decErr != nil {
		decodeError(decErr).write(ctx)
		return
	}
	if mockErr != nil {
		badRequest("Invalid 'mock': "+mockErr.Error(), "mock", "").write(ctx)
		return
	}
	if e := req.validate(); e != nil {
		e.write(ctx)
		return
	}

	unavailable := func() {
		(&apiError{fasthttp.StatusServiceUnavailable, "The server is shutting down.", errServer, "", ""}).write(ctx)
	}
	if !s.admit(ctx, &b, req.Stream, unavailable, func() bool { return s.openaiFault(ctx, &b, &req) }) {
		return
	}

	id := s.newID()
	created := time.Now().Unix()
	if forced, name := req.forcedTool(); forced {
		s.openaiToolCall(ctx, &b, &req, planToolCall(req.toolSpecs(), name, req.seed()), id, created)
		return
	}
	text, usage, truncated := planCompletion(&b, req.seed(), req.promptTokens(), req.tokenCap())
	finish := "stop"
	if truncated {
		finish = "length"
	}

	if !req.Stream {
		body := appendChatCompletion(nil, id, req.Model, created, text.rest(), finish, usage)
		if b.Fault == FaultMalformed {
			body = body[:len(body)/2]
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
		return
	}

	enc := &openaiStream{
		prefix:       appendChunkPrefix(nil, id, req.Model, created),
		id:           id,
		includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
		finishReason: finish,
		usage:        usage,
	}
	s.streamTo(ctx, "text/event-stream", enc, &text, &b)
}

// openaiToolCall answers with call instead of text: a message whose tool_calls hold it, or a
// stream that names the function first and then delivers the arguments in fragments, finish
// reason "tool_calls" either way.
func (s *Server) openaiToolCall(ctx *fasthttp.RequestCtx, b *Behavior, req *chatRequest, call plannedCall, id string, created int64) {
	usage := usageCounts{prompt: req.promptTokens(), cached: min(b.CachedTokens, req.promptTokens()), content: call.tokens(),
		reasoning: b.ReasoningTokens}
	callID := s.newIDWith("call_", 24)
	if !req.Stream {
		body := appendChatCompletionToolCall(nil, id, req.Model, created, callID, call, usage)
		if b.Fault == FaultMalformed {
			body = body[:len(body)/2]
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
		return
	}
	enc := &openaiToolStream{openaiStream: openaiStream{
		prefix:       appendChunkPrefix(nil, id, req.Model, created),
		id:           id,
		includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
		finishReason: "tool_calls",
		usage:        usage,
	}, callID: callID, name: call.name}
	frags := argumentFragments(call.args)
	s.streamTo(ctx, "text/event-stream", enc, &frags, b)
}

// openaiFault answers the faults that replace the response outright (status,
// rate_limit, stream_error without a stream) and reports whether it did. Stream
// faults and malformed bodies happen while the response is produced.
func (s *Server) openaiFault(ctx *fasthttp.RequestCtx, b *Behavior, req *chatRequest) bool {
	switch {
	case b.Fault == FaultStatus || (b.Fault == FaultStreamError && !req.Stream):
		st := b.faultStatus()
		e := &apiError{st, fmt.Sprintf("mockllm injected fault: status %d.", st), errInvalidRequest, "", ""}
		if st >= 500 {
			e.typ = errServer
			e.msg = "The server had an error while processing your request. Sorry about that! (mockllm injected fault: status " +
				strconv.Itoa(st) + ")"
		}
		e.write(ctx)
		return true
	case b.Fault == FaultRateLimit:
		ra := b.retryAfter()
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(ra))
		(&apiError{fasthttp.StatusTooManyRequests,
			fmt.Sprintf("Rate limit reached for %s on requests per min (RPM): Limit 1, Used 1, Requested 1. Please try again in %ds.", req.Model, ra),
			errRateLimit, "", "rate_limit_exceeded"}).write(ctx)
		return true
	}
	return false
}

// openaiAuth checks "Authorization: Bearer <key>" when a key is configured,
// returning OpenAI's 401 errors otherwise.
func openaiAuth(ctx *fasthttp.RequestCtx, key string) *apiError {
	if key == "" {
		return nil
	}
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	tok, ok := bytes.CutPrefix(h, []byte("Bearer "))
	if !ok || len(bytes.TrimSpace(tok)) == 0 {
		return &apiError{fasthttp.StatusUnauthorized,
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth " +
				"(i.e. Authorization: Bearer YOUR_KEY).", errInvalidRequest, "", ""}
	}
	if string(bytes.TrimSpace(tok)) != key {
		return &apiError{fasthttp.StatusUnauthorized, "Incorrect API key provided.", errInvalidRequest, "", "invalid_api_key"}
	}
	return nil
}
