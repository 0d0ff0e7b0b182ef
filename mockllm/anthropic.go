package mockllm

// Anthropic Messages API (POST /v1/messages), written from Anthropic's public documentation:
// x-api-key and anthropic-version headers, the request fields and the checks the API applies,
// the Message response, the event stream (message_start, content_block_start, ping,
// content_block_delta…, content_block_stop, message_delta, message_stop), the error envelope
// and its error types, prompt caching (cache_control breakpoints, up to four) and extended
// thinking. Timing, faults, text and stats are shared with the other wire modes.

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// DefaultThinkingTokens is the length of the thinking block when a request enables extended
// thinking and Behavior.ReasoningTokens is 0.
const DefaultThinkingTokens = 8

type anthRequest struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	Messages      *[]anthMessage  `json:"messages"`
	System        anthContent     `json:"system"`
	StopSequences []string        `json:"stop_sequences"`
	Stream        bool            `json:"stream"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int            `json:"top_k"`
	Thinking      *anthThinking   `json:"thinking"`
	Tools         []anthTool      `json:"tools"`
	ToolChoice    json.RawMessage `json:"tool_choice"`
	Metadata      json.RawMessage `json:"metadata"`
	ServiceTier   json.RawMessage `json:"service_tier"`
	Container     json.RawMessage `json:"container"`
	MCPServers    json.RawMessage `json:"mcp_servers"`
	Context       json.RawMessage `json:"context_management"`
	Mock          json.RawMessage `json:"mock"`
}

type anthThinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens"`
}

type anthTool struct {
	Type         string            `json:"type"`
	Name         string            `json:"name"`
	Description  string            `json:"description"`
	InputSchema  json.RawMessage   `json:"input_schema"`
	CacheControl *anthCacheControl `json:"cache_control"`
}

type anthMessage struct {
	Role    string      `json:"role"`
	Content anthContent `json:"content"`
}

type anthCacheControl struct {
	Type string `json:"type"`
	TTL  string `json:"ttl"`
}

// anthBlock is a content block of any type; only the fields of its type are set.
type anthBlock struct {
	Type         string            `json:"type"`
	Text         string            `json:"text"`
	CacheControl *anthCacheControl `json:"cache_control"`
	Source       json.RawMessage   `json:"source"`
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Input        json.RawMessage   `json:"input"`
	ToolUseID    string            `json:"tool_use_id"`
	Content      *anthContent      `json:"content"`
	IsError      *bool             `json:"is_error"`
	Thinking     string            `json:"thinking"`
	Signature    string            `json:"signature"`
	Data         string            `json:"data"`
	Citations    json.RawMessage   `json:"citations"`
	Title        json.RawMessage   `json:"title"`
	Context      json.RawMessage   `json:"context"`
}

// anthContent is a string or an array of blocks; a string reads as one text block.
type anthContent struct {
	blocks []anthBlock
	set    bool
}

var errAnthContent = errors.New("content: Input should be a valid string or a valid list of content blocks")

func (c *anthContent) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		c.blocks, c.set = []anthBlock{{Type: "text", Text: s}}, true
		return nil
	case b[0] == '[':
		c.set = true
		return strictUnmarshal(b, &c.blocks)
	}
	return errAnthContent
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// anthError is an Anthropic error waiting to be written.
type anthError struct {
	status   int
	typ, msg string
}

func anthBad(msg string) *anthError {
	return &anthError{fasthttp.StatusBadRequest, "invalid_request_error", msg}
}

// anthDecodeError turns a decoding failure into Anthropic's wording ("field: problem").
func anthDecodeError(err error) *anthError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return anthBad(te.Field + ": Input should be a valid " + jsonTypeName(te.Type.Kind().String()))
	case errors.Is(err, errAnthContent):
		return anthBad("messages: " + err.Error())
	case errors.As(err, &se):
		return anthBad("There was an error parsing the body of your request: invalid JSON at byte " + strconv.FormatInt(se.Offset, 10))
	}
	if f, ok := strings.CutPrefix(err.Error(), `json: unknown field "`); ok {
		return anthBad(strings.TrimSuffix(f, `"`) + ": Extra inputs are not permitted")
	}
	return anthBad("There was an error parsing the body of your request: " + err.Error())
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "int", "int64":
		return "integer"
	case "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice":
		return "list"
	}
	return "dictionary"
}

// validate applies the Messages API's own checks, with its wording.
func (r *anthRequest) validate() *anthError {
	switch {
	case r.Model == "":
		return anthBad("model: Field required")
	case r.MaxTokens == nil:
		return anthBad("max_tokens: Field required")
	case *r.MaxTokens < 1:
		return anthBad("max_tokens: Input should be greater than or equal to 1")
	case r.Messages == nil:
		return anthBad("messages: Field required")
	case len(*r.Messages) == 0:
		return anthBad("messages: at least one message is required")
	case r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 1):
		return anthBad("temperature: Input should be less than or equal to 1")
	case r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1):
		return anthBad("top_p: Input should be less than or equal to 1")
	}
	if t := r.Thinking; t != nil {
		switch t.Type {
		case "disabled":
		case "enabled":
			if t.BudgetTokens < 1024 {
				return anthBad("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
			}
			if t.BudgetTokens >= *r.MaxTokens {
				return anthBad("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at " +
					"https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
			}
			if r.Temperature != nil && *r.Temperature != 1 {
				return anthBad("`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at " +
					"https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility")
			}
		default:
			return anthBad("thinking: Input tag '" + t.Type + "' found using 'type' does not match any of the expected tags: 'enabled', 'disabled'")
		}
	}
	breakpoints := 0
	for i := range r.Tools {
		if r.Tools[i].Name == "" {
			return anthBad("tools." + strconv.Itoa(i) + ".name: Field required")
		}
		if r.Tools[i].Type == "" && len(r.Tools[i].InputSchema) == 0 {
			return anthBad("tools." + strconv.Itoa(i) + ".custom.input_schema: Field required")
		}
		if e := checkCacheControl(r.Tools[i].CacheControl, &breakpoints); e != nil {
			return e
		}
	}
	if forced, name := r.forcedTool(); forced && name != "" && !slices.ContainsFunc(r.Tools, func(t anthTool) bool { return t.Name == name }) {
		return anthBad("Tool '" + name + "' not found in provided tools") // Anthropic's wording
	}
	for _, bl := range r.System.blocks {
		if bl.Type != "text" {
			return anthBad("system: Input should be a valid list of text blocks")
		}
		if e := checkBlock(&bl, "system", &breakpoints); e != nil {
			return e
		}
	}
	for i, m := range *r.Messages {
		field := "messages." + strconv.Itoa(i)
		switch m.Role {
		case "user", "assistant":
		case "system":
			return anthBad(`messages: Unexpected role "system". The Messages API accepts a top-level ` + "`system`" +
				` parameter, not "system" as an input message role.`)
		default:
			return anthBad(field + ".role: Input should be 'user' or 'assistant'")
		}
		if !m.Content.set {
			return anthBad(field + ".content: Field required")
		}
		if len(m.Content.blocks) == 0 && i < len(*r.Messages)-1 {
			return anthBad("messages: all messages must have non-empty content except for the optional final assistant message")
		}
		for j := range m.Content.blocks {
			if e := checkBlock(&m.Content.blocks[j], field+".content."+strconv.Itoa(j), &breakpoints); e != nil {
				return e
			}
		}
	}
	if breakpoints > 4 {
		return anthBad("A maximum of 4 blocks with cache_control may be provided. Found " + strconv.Itoa(breakpoints) + ".")
	}
	return nil
}

func checkCacheControl(cc *anthCacheControl, n *int) *anthError {
	if cc == nil {
		return nil
	}
	*n++
	if cc.Type != "ephemeral" {
		return anthBad("cache_control.type: Input should be 'ephemeral'")
	}
	if cc.TTL != "" && cc.TTL != "5m" && cc.TTL != "1h" {
		return anthBad("cache_control.ttl: Input should be '5m' or '1h'")
	}
	return nil
}

func checkBlock(bl *anthBlock, field string, breakpoints *int) *anthError {
	if e := checkCacheControl(bl.CacheControl, breakpoints); e != nil {
		return e
	}
	switch bl.Type {
	case "text":
		if bl.Text == "" {
			return anthBad("messages: text content blocks must be non-empty")
		}
	case "image", "document":
		var src struct {
			Type      string `json:"type"`
			MediaType string `json:"media_type"`
			Data      string `json:"data"`
			URL       string `json:"url"`
		}
		if json.Unmarshal(bl.Source, &src) != nil {
			return anthBad(field + ".source: Field required")
		}
		switch {
		case src.Type == "base64" && src.MediaType != "" && src.Data != "":
		case src.Type == "url" && src.URL != "":
		case src.Type == "text" && bl.Type == "document":
		default:
			return anthBad(field + ".source: Input should be a valid base64 or url source")
		}
	case "tool_use":
		if bl.ID == "" || bl.Name == "" || len(bl.Input) == 0 || bl.Input[0] != '{' {
			return anthBad(field + ".tool_use: id, name and an input object are required")
		}
	case "tool_result":
		if bl.ToolUseID == "" {
			return anthBad(field + ".tool_result.tool_use_id: Field required")
		}
		if bl.Content != nil {
			for j := range bl.Content.blocks {
				if e := checkBlock(&bl.Content.blocks[j], field+".content."+strconv.Itoa(j), breakpoints); e != nil {
					return e
				}
			}
		}
	case "thinking", "redacted_thinking", "search_result", "server_tool_use", "web_search_tool_result":
	default:
		return anthBad(field + ": Input tag '" + bl.Type + "' found using 'type' does not match any of the expected tags")
	}
	return nil
}

// plan estimates the prompt like the OpenAI mode (3 priming tokens; per message 4 plus one per
// four bytes of each block's text) and collects the cache breakpoints in Anthropic's prefix
// order: tools, then system, then messages. Images and documents are not counted.
func (r *anthRequest) plan() (prompt int, bps []breakpoint, seed uint64) {
	h := newFNV()
	h.add(r.Model)
	n := 3
	mark := func(cc *anthCacheControl) {
		if cc == nil {
			return
		}
		ttl := 5 * time.Minute
		if cc.TTL == "1h" {
			ttl = time.Hour
		}
		bps = append(bps, breakpoint{hash: uint64(h), tokens: n, ttl: ttl})
	}
	for i := range r.Tools {
		t := &r.Tools[i]
		h.add("\x00tool\x00" + t.Name + "\x00" + t.Description + "\x00" + string(t.InputSchema))
		n += toolDefinitionTokens(t.Name, t.Description, t.InputSchema)
		mark(t.CacheControl)
	}
	if r.System.set {
		n += 4
		h.add("\x00system")
		for i := range r.System.blocks {
			n += hashBlock(&h, &r.System.blocks[i])
			mark(r.System.blocks[i].CacheControl)
		}
	}
	for _, m := range *r.Messages {
		n += 4
		h.add("\x00" + m.Role)
		for i := range m.Content.blocks {
			n += hashBlock(&h, &m.Content.blocks[i])
			mark(m.Content.blocks[i].CacheControl)
		}
	}
	last := (*r.Messages)[len(*r.Messages)-1]
	sh := newFNV()
	sh.add(r.Model)
	sh.add("\x00")
	for _, bl := range last.Content.blocks {
		sh.add(bl.Text)
	}
	return n, bps, uint64(sh)
}

// hashBlock adds a block's content (not its cache_control, which does not change the prefix)
// to h and returns its token estimate.
func hashBlock(h *fnv64a, bl *anthBlock) int {
	h.add("\x00" + bl.Type + "\x00" + bl.Text + "\x00" + bl.ID + bl.Name + bl.ToolUseID + bl.Thinking)
	h.add(string(bl.Source))
	h.add(string(bl.Input))
	size := len(bl.Text) + len(bl.Thinking) + len(bl.Name) + len(bl.Input)
	if bl.Content != nil {
		for i := range bl.Content.blocks {
			size += 4 * hashBlock(h, &bl.Content.blocks[i])
		}
	}
	return ceilDiv4(size)
}

// anthropicMessages serves POST /v1/messages.
func (s *Server) anthropicMessages(ctx *fasthttp.RequestCtx) {
	s.requests.Add(1)
	b := *s.behavior.Load()
	var req anthRequest
	decErr := strictUnmarshal(ctx.PostBody(), &req)
	var mockErr error
	if decErr == nil && len(req.Mock) > 0 && string(req.Mock) != "null" {
		mockErr = decodeBehavior(req.Mock, &b)
	}
	if b.APIKey != "" {
		key := ctx.Request.Header.Peek("x-api-key")
		if len(key) == 0 {
			s.writeAnthError(ctx, &anthError{401, "authentication_error", "x-api-key header is required"})
			return
		}
		if string(key) != b.APIKey {
			s.writeAnthError(ctx, &anthError{401, "authentication_error", "invalid x-api-key"})
			return
		}
	}
	if len(ctx.Request.Header.Peek("anthropic-version")) == 0 {
		s.writeAnthError(ctx, anthBad("anthropic-version: header is required"))
		return
	}
	if decErr != nil {
		s.writeAnthError(ctx, anthDecodeError(decErr))
		return
	}
	if mockErr != nil {
		s.writeAnthError(ctx, anthBad("mock: "+mockErr.Error()))
		return
	}
	if e := req.validate(); e != nil {
		s.writeAnthError(ctx, e)
		return
	}
	unavailable := func() { s.writeAnthError(ctx, &anthError{529, "overloaded_error", "Overloaded"}) }
	if !s.admit(ctx, &b, req.Stream, unavailable, func() bool { return s.anthropicFault(ctx, &b, req.Stream) }) {
		return
	}

	prompt, bps, seed := req.plan()
	var read, written int
	if b.CachedTokens > 0 {
		read = min(b.CachedTokens, prompt)
	} else {
		read, written = s.pcache.lookup(bps, time.Now())
	}
	thinking := 0
	if req.Thinking != nil && req.Thinking.Type == "enabled" {
		thinking = b.ReasoningTokens
		if thinking == 0 {
			thinking = DefaultThinkingTokens
		}
		thinking = min(thinking, req.Thinking.BudgetTokens)
	}
	text, _, truncated := planCompletion(&b, seed, prompt, *req.MaxTokens-thinking)
	stop, stopSeq := "end_turn", ""
	if seq, ok := text.cutAtStop(req.StopSequences); ok {
		stop, stopSeq = "stop_sequence", seq
	} else if truncated {
		stop = "max_tokens"
	}
	output := text.n
	var call plannedCall
	if forced, name := req.forcedTool(); forced {
		call = planToolCall(req.toolSpecs(), name, seed)
		text, output, stop, stopSeq = argumentFragments(call.args), call.tokens(), "tool_use", ""
	}
	m := &anthStream{
		id:        s.newIDWith("msg_01", 22),
		model:     req.Model,
		usage:     anthUsage{input: prompt - read - written, cacheWrite: written, cacheRead: read, output: output + thinking},
		stop:      stop,
		stopSeq:   stopSeq,
		textIdx:   0,
		thinking:  thinking,
		seed:      seed,
		toolName:  call.name,
		toolInput: call.args,
	}
	if call.name != "" {
		m.toolID = s.newIDWith("toolu_01", 22)
	}
	if thinking > 0 {
		m.textIdx = 1
		m.signature = s.newIDWith("EqQBCkgIARABGAIiQL", 64)
	}
	ctx.Response.Header.Set("request-id", s.newIDWith("req_011C", 20))
	if !req.Stream {
		body := m.appendMessage(nil, text.rest())
		if b.Fault == FaultMalformed {
			body = body[:len(body)/2]
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
		return
	}
	s.streamTo(ctx, "text/event-stream", m, &text, &b)
}

// forcedTool reads tool_choice: whether it forces a call ({"type":"any"}, or {"type":"tool",
// "name":…}) and the tool it names ("" for any).
func (r *anthRequest) forcedTool() (forced bool, name string) {
	var choice struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if len(r.Tools) == 0 || json.Unmarshal(r.ToolChoice, &choice) != nil {
		return false, ""
	}
	return choice.Type == "any" || choice.Type == "tool", choice.Name
}

func (r *anthRequest) toolSpecs() []toolSpec {
	specs := make([]toolSpec, len(r.Tools))
	for i, t := range r.Tools {
		specs[i] = toolSpec{name: t.Name, params: t.InputSchema}
	}
	return specs
}

// anthropicFault answers status and rate_limit faults (and stream_error without a stream) in
// Anthropic's shape, reporting whether it did.
func (s *Server) anthropicFault(ctx *fasthttp.RequestCtx, b *Behavior, stream bool) bool {
	switch {
	case b.Fault == FaultStatus || (b.Fault == FaultStreamError && !stream):
		st := b.faultStatus()
		typ, msg := anthErrorType(st)
		s.writeAnthError(ctx, &anthError{st, typ, msg + " (mockllm injected fault: status " + strconv.Itoa(st) + ")"})
		return true
	case b.Fault == FaultRateLimit:
		ra := b.retryAfter()
		ctx.Response.Header.Set("retry-after", strconv.Itoa(ra))
		s.writeAnthError(ctx, &anthError{429, "rate_limit_error",
			"This request would exceed the rate limit for your organization of 1 requests per minute. " +
				"For details, refer to: https://docs.claude.com/en/api/rate-limits."})
		return true
	}
	return false
}
