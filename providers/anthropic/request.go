package anthropic

import (
	"encoding/json"
	"strconv"

	"github.com/arouter/arouter/providers/internal/oai"
)

// Thinking budgets: Anthropic's minimum, and the ceiling an effort level may reach (larger
// budgets need the client to ask for them explicitly with reasoning.max_tokens).
const (
	minThinkingBudget    = 1024
	maxEffortThinkBudget = 32000
)

// TranslateRequest appends the Messages API request for an OpenAI chat-completions body.
// System and developer messages become the top-level system blocks, tool messages become
// tool_result blocks in user turns, and reasoning settings become a thinking budget. Errors
// are *providers.RequestError; dst is returned unchanged with them.
func (a Adapter) TranslateRequest(dst, body []byte, upstreamModel string) ([]byte, error) {
	var r oai.Request
	if err := oai.Decode(body, &r); err != nil {
		return dst, err
	}
	think, err := r.ThinkSpec()
	if err != nil {
		return dst, err
	}
	maxTokens, budget, err := a.tokens(&r, think)
	if err != nil {
		return dst, err
	}
	choice, _ := r.ToolChoiceSpec() // validated by Decode

	b := append(dst, `{"model":`...)
	b = oai.AppendString(b, upstreamModel)
	b = append(b, `,"max_tokens":`...)
	b = oai.AppendInt(b, maxTokens)
	if b, err = appendSystem(b, r.Messages); err != nil {
		return dst, err
	}
	if b, err = appendMessages(b, r.Messages); err != nil {
		return dst, err
	}
	if len(r.Tools) > 0 { // a tool_choice without tools means nothing to Anthropic
		b = appendTools(b, r.Tools)
		b = appendToolChoice(b, choice, r.ParallelToolCalls)
	}
	if len(r.Stop.Seqs) > 0 {
		b = append(b, `,"stop_sequences":[`...)
		for i, s := range r.Stop.Seqs {
			if i > 0 {
				b = append(b, ',')
			}
			b = oai.AppendString(b, s)
		}
		b = append(b, ']')
	}
	// Extended thinking refuses temperature, top_k and a top_p below 0.95. A request written
	// for several providers (a fallback list) sets them for the others, so they are dropped
	// here rather than failing the request.
	if budget == 0 {
		if r.Temperature != nil {
			b = append(b, `,"temperature":`...)
			b = oai.AppendFloat(b, *r.Temperature)
		}
		if r.TopP != nil {
			b = append(b, `,"top_p":`...)
			b = oai.AppendFloat(b, *r.TopP)
		}
		if r.TopK != nil {
			b = append(b, `,"top_k":`...)
			b = oai.AppendInt(b, *r.TopK)
		}
	} else {
		b = append(b, `,"thinking":{"type":"enabled","budget_tokens":`...)
		b = oai.AppendInt(b, budget)
		b = append(b, '}')
	}
	if r.User != "" {
		b = append(b, `,"metadata":{"user_id":`...)
		b = oai.AppendString(b, r.User)
		b = append(b, '}')
	}
	if r.Stream {
		b = append(b, `,"stream":true`...)
	}
	b = oai.AppendPassthrough(b, body, a.Passthrough)
	return append(b, '}'), nil
}

// tokens decides max_tokens and the thinking budget (0: no thinking). Anthropic needs
// max_tokens above the budget; when the client set no cap, room for the answer is added on
// top of the budget, and when it did, a cap that leaves no room is the client's to fix.
func (a Adapter) tokens(r *oai.Request, t oai.Think) (maxTokens, budget int64, err error) {
	def := a.DefaultMaxTokens
	if def <= 0 {
		def = DefaultMaxTokens
	}
	maxTokens = r.MaxOutput()
	clientCap := maxTokens > 0
	if !clientCap {
		maxTokens = def
	}
	if !t.On {
		return maxTokens, 0, nil
	}
	budget = t.Budget
	if budget == 0 {
		budget = min(int64(oai.EffortRatio(t.Effort)*float64(maxTokens)), maxEffortThinkBudget)
	}
	budget = max(budget, minThinkingBudget)
	if budget >= maxTokens {
		if clientCap {
			field := "max_tokens"
			if r.MaxTokens == nil {
				field = "max_completion_tokens"
			}
			return 0, 0, &oai.RequestError{Field: field, Message: "must be greater than the reasoning budget (" +
				strconv.FormatInt(budget, 10) + " tokens): Anthropic's extended thinking counts against it; raise it or lower the reasoning setting"}
		}
		maxTokens = budget + def
	}
	return maxTokens, budget, nil
}

// appendSystem gathers every system and developer message, wherever it stands, into the
// top-level system array: Anthropic has no system role inside the conversation.
func appendSystem(b []byte, msgs []oai.Message) ([]byte, error) {
	n := 0
	// next opens the array at the first block written, so that system messages without
	// text leave no empty array behind.
	next := func() {
		if n == 0 {
			b = append(b, `,"system":[`...)
		} else {
			b = append(b, ',')
		}
		n++
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Role != "system" && m.Role != "developer" {
			continue
		}
		start := n
		lastCC := false
		if m.Content.IsString {
			if m.Content.Text != "" {
				next()
				b = appendTextBlock(b, m.Content.Text, nil)
			}
		} else {
			for j := range m.Content.Parts {
				p := &m.Content.Parts[j]
				if p.Type != "text" {
					return b, &oai.RequestError{Field: oai.PartField(i, j, ".type"), Message: "system messages take text parts only"}
				}
				if p.Text == "" {
					continue
				}
				next()
				b = appendTextBlock(b, p.Text, p.CacheControl)
				lastCC = !oai.IsNull(p.CacheControl)
			}
		}
		if n > start && !lastCC && !oai.IsNull(m.CacheControl) {
			b = addCacheControl(b, m.CacheControl)
		}
	}
	if n > 0 {
		b = append(b, ']')
	}
	return b, nil
}

func appendMessages(b []byte, msgs []oai.Message) ([]byte, error) {
	b = append(b, `,"messages":[`...)
	n := 0
	var err error
	for i := 0; i < len(msgs); i++ {
		m := &msgs[i]
		switch m.Role {
		case "system", "developer":
			continue
		case "tool":
			// Parallel tool results go back in one user turn, as Anthropic expects.
			b = sep(b, n)
			b = append(b, `{"role":"user","content":[`...)
			j := i
			for ; j < len(msgs) && msgs[j].Role == "tool"; j++ {
				if b, err = appendToolResult(b, j, &msgs[j], j > i); err != nil {
					return b, err
				}
			}
			b = append(b, "]}"...)
			i = j - 1
		case "assistant":
			if !hasAssistantContent(m) {
				continue // an empty assistant turn says nothing and Anthropic refuses it
			}
			b = sep(b, n)
			b = append(b, `{"role":"assistant","content":`...)
			if b, err = appendAssistantContent(b, i, m); err != nil {
				return b, err
			}
			b = append(b, '}')
		default: // user
			b = sep(b, n)
			b = append(b, `{"role":"user","content":`...)
			if m.Content.IsString && oai.IsNull(m.CacheControl) {
				b = oai.AppendString(b, m.Content.Text)
			} else {
				b = append(b, '[')
				if b, err = appendParts(b, i, m, 0); err != nil {
					return b, err
				}
				b = append(b, ']')
			}
			b = append(b, '}')
		}
		n++
	}
	if n == 0 {
		return b, &oai.RequestError{Field: "messages", Message: "at least one user or assistant message is required besides system messages"}
	}
	return append(b, ']'), nil
}

func hasAssistantContent(m *oai.Message) bool {
	if len(m.ToolCalls) > 0 {
		return true
	}
	if m.Content.IsString {
		return m.Content.Text != ""
	}
	for i := range m.Content.Parts {
		if m.Content.Parts[i].Text != "" {
			return true
		}
	}
	return false
}

func appendAssistantContent(b []byte, i int, m *oai.Message) ([]byte, error) {
	if m.Content.IsString && len(m.ToolCalls) == 0 && oai.IsNull(m.CacheControl) {
		return oai.AppendString(b, m.Content.Text), nil
	}
	b = append(b, '[')
	n := 0
	lastCC := false
	if m.Content.IsString {
		if m.Content.Text != "" {
			b = appendTextBlock(b, m.Content.Text, nil)
			n++
		}
	} else {
		for j := range m.Content.Parts {
			p := &m.Content.Parts[j]
			switch p.Type {
			case "text", "refusal":
			default:
				return b, &oai.RequestError{Field: oai.PartField(i, j, ".type"), Message: "assistant messages take text parts only"}
			}
			if p.Text == "" {
				continue
			}
			b = sep(b, n)
			b = appendTextBlock(b, p.Text, p.CacheControl)
			n++
			lastCC = !oai.IsNull(p.CacheControl)
		}
	}
	for j := range m.ToolCalls {
		tc := &m.ToolCalls[j]
		b = sep(b, n)
		b = append(b, `{"type":"tool_use","id":`...)
		b = oai.AppendString(b, tc.ID)
		b = append(b, `,"name":`...)
		b = oai.AppendString(b, tc.Function.Name)
		b = append(b, `,"input":`...)
		b = appendArguments(b, tc.Function.Arguments)
		b = append(b, '}')
		n++
		lastCC = false
	}
	if n > 0 && !lastCC && !oai.IsNull(m.CacheControl) {
		b = addCacheControl(b, m.CacheControl)
	}
	return append(b, ']'), nil
}

// appendArguments writes a tool call's arguments string as the JSON object it encodes.
func appendArguments(b []byte, args string) []byte {
	if oai.IsNull([]byte(args)) {
		return append(b, "{}"...)
	}
	return oai.AppendCompact(b, []byte(args))
}

// appendParts writes a user message's content as blocks. A cache_control on the message
// itself marks its last block, which is where Anthropic takes breakpoints.
func appendParts(b []byte, i int, m *oai.Message, n int) ([]byte, error) {
	start := n
	lastCC := false
	if m.Content.IsString {
		b = sep(b, n)
		b = appendTextBlock(b, m.Content.Text, nil)
		n++
	}
	for j := range m.Content.Parts {
		p := &m.Content.Parts[j]
		if p.Type == "text" && p.Text == "" {
			continue // Anthropic refuses empty text blocks
		}
		b = sep(b, n)
		var err error
		if b, err = appendPart(b, i, j, p); err != nil {
			return b, err
		}
		n++
		lastCC = !oai.IsNull(p.CacheControl)
	}
	if n > start && !lastCC && !oai.IsNull(m.CacheControl) {
		b = addCacheControl(b, m.CacheControl)
	}
	return b, nil
}

func appendPart(b []byte, i, j int, p *oai.Part) ([]byte, error) {
	switch p.Type {
	case "text":
		return appendTextBlock(b, p.Text, p.CacheControl), nil
	case "image_url":
		if p.ImageURL == nil {
			return b, &oai.RequestError{Field: oai.PartField(i, j, ".image_url"), Message: "is required on image_url parts"}
		}
		u := p.ImageURL.URL
		b = append(b, `{"type":"image","source":`...)
		if mt, data, ok := oai.DataURL(u); ok {
			b = appendBase64Source(b, mt, data)
		} else if oai.IsHTTPURL(u) {
			b = append(b, `{"type":"url","url":`...)
			b = oai.AppendString(b, u)
			b = append(b, '}')
		} else {
			return b, &oai.RequestError{Field: oai.PartField(i, j, ".image_url.url"), Message: "must be an http(s) URL or a base64 data: URL"}
		}
	case "file":
		mt, data, ok := "", "", false
		if p.File != nil {
			mt, data, ok = oai.DataURL(p.File.FileData)
		}
		if !ok {
			return b, &oai.RequestError{Field: oai.PartField(i, j, ".file.file_data"),
				Message: "must be a base64 data: URL (uploaded file ids cannot be sent to Anthropic)"}
		}
		b = append(b, `{"type":"document","source":`...)
		b = appendBase64Source(b, mt, data)
	default:
		return b, &oai.RequestError{Field: oai.PartField(i, j, ".type"), Message: "content part type " + strconv.Quote(p.Type) +
			" cannot be sent to Anthropic; use text, image_url or file"}
	}
	if !oai.IsNull(p.CacheControl) {
		b = append(b, `,"cache_control":`...)
		b = oai.AppendCompact(b, p.CacheControl)
	}
	return append(b, '}'), nil
}

func appendBase64Source(b []byte, mediaType, data string) []byte {
	b = append(b, `{"type":"base64","media_type":`...)
	b = oai.AppendString(b, mediaType)
	b = append(b, `,"data":`...)
	b = oai.AppendString(b, data)
	return append(b, '}')
}

// appendToolResult writes one tool message as a tool_result block.
func appendToolResult(b []byte, i int, m *oai.Message, comma bool) ([]byte, error) {
	if comma {
		b = append(b, ',')
	}
	b = append(b, `{"type":"tool_result","tool_use_id":`...)
	b = oai.AppendString(b, m.ToolCallID)
	switch {
	case !m.Content.Set:
	case m.Content.IsString:
		b = append(b, `,"content":`...)
		b = oai.AppendString(b, m.Content.Text)
	default:
		b = append(b, `,"content":[`...)
		n := 0
		for j := range m.Content.Parts {
			p := &m.Content.Parts[j]
			if p.Type == "text" && p.Text == "" {
				continue
			}
			if p.Type != "text" && p.Type != "image_url" {
				return b, &oai.RequestError{Field: oai.PartField(i, j, ".type"), Message: "tool results take text and image_url parts only"}
			}
			b = sep(b, n)
			var err error
			if b, err = appendPart(b, i, j, p); err != nil {
				return b, err
			}
			n++
		}
		b = append(b, ']')
	}
	if !oai.IsNull(m.CacheControl) {
		b = append(b, `,"cache_control":`...)
		b = oai.AppendCompact(b, m.CacheControl)
	}
	return append(b, '}'), nil
}

func appendTools(b []byte, tools []oai.Tool) []byte {
	b = append(b, `,"tools":[`...)
	for i := range tools {
		t := &tools[i]
		b = sep(b, i)
		b = append(b, `{"name":`...)
		b = oai.AppendString(b, t.Function.Name)
		if t.Function.Description != "" {
			b = append(b, `,"description":`...)
			b = oai.AppendString(b, t.Function.Description)
		}
		b = append(b, `,"input_schema":`...)
		if oai.IsNull(t.Function.Parameters) {
			b = append(b, `{"type":"object","properties":{}}`...)
		} else {
			b = oai.AppendCompact(b, t.Function.Parameters)
		}
		if !oai.IsNull(t.CacheControl) {
			b = append(b, `,"cache_control":`...)
			b = oai.AppendCompact(b, t.CacheControl)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendToolChoice(b []byte, c oai.ToolChoice, parallel *bool) []byte {
	noParallel := parallel != nil && !*parallel
	if c.Mode == "" && !noParallel {
		return b
	}
	b = append(b, `,"tool_choice":{"type":`...)
	switch c.Mode {
	case "none":
		return append(b, `"none"}`...) // takes no other field
	case "required":
		b = append(b, `"any"`...)
	case "function":
		b = append(b, `"tool","name":`...)
		b = oai.AppendString(b, c.Name)
	default:
		b = append(b, `"auto"`...)
	}
	if noParallel {
		b = append(b, `,"disable_parallel_tool_use":true`...)
	}
	return append(b, '}')
}

func appendTextBlock(b []byte, text string, cacheControl json.RawMessage) []byte {
	b = append(b, `{"type":"text","text":`...)
	b = oai.AppendString(b, text)
	if !oai.IsNull(cacheControl) {
		b = append(b, `,"cache_control":`...)
		b = oai.AppendCompact(b, cacheControl)
	}
	return append(b, '}')
}

// addCacheControl adds a cache_control member to the block that b ends with.
func addCacheControl(b []byte, cc json.RawMessage) []byte {
	b = append(b[:len(b)-1], `,"cache_control":`...)
	b = oai.AppendCompact(b, cc)
	return append(b, '}')
}

func sep(b []byte, n int) []byte {
	if n > 0 {
		return append(b, ',')
	}
	return b
}
