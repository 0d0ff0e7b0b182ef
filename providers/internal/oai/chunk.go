package oai

import "github.com/arouter/arouter/catalog"

// Chunks writes OpenAI chat.completion.chunk SSE frames for one stream. Every frame shares a
// prefix (id, created, model, up to the delta), built once, so a token costs one append of the
// prefix plus the escaped text.
type Chunks struct {
	prefix []byte
}

// Reset starts a new stream.
func (c *Chunks) Reset(id, model string, created int64) {
	b := append(c.prefix[:0], `data: {"id":`...)
	b = AppendString(b, id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = AppendInt(b, created)
	b = append(b, `,"model":`...)
	b = AppendString(b, model)
	c.prefix = append(b, `,"choices":[{"index":0,"delta":`...)
}

const chunkEnd = `,"finish_reason":null}]}` + "\n\n"

// Role appends the first frame: the assistant role with empty content, as OpenAI sends it.
func (c *Chunks) Role(dst []byte) []byte {
	dst = append(dst, c.prefix...)
	return append(dst, `{"role":"assistant","content":""}`+chunkEnd...)
}

// Content appends a text delta.
func (c *Chunks) Content(dst []byte, text string) []byte {
	dst = append(dst, c.prefix...)
	dst = append(dst, `{"content":`...)
	dst = AppendString(dst, text)
	return append(dst, "}"+chunkEnd...)
}

// Reasoning appends a reasoning (thinking) delta in OpenRouter's "reasoning" field.
func (c *Chunks) Reasoning(dst []byte, text string) []byte {
	dst = append(dst, c.prefix...)
	dst = append(dst, `{"reasoning":`...)
	dst = AppendString(dst, text)
	return append(dst, "}"+chunkEnd...)
}

// ToolCall appends a tool call delta: the call's opening (id and name, with args as the first
// arguments fragment) when id is set, or a further arguments fragment when it is empty.
func (c *Chunks) ToolCall(dst []byte, index int, id, name, args string) []byte {
	dst = append(dst, c.prefix...)
	dst = append(dst, `{"tool_calls":[{"index":`...)
	dst = AppendInt(dst, int64(index))
	if id != "" {
		dst = append(dst, `,"id":`...)
		dst = AppendString(dst, id)
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = AppendString(dst, name)
		dst = append(dst, `,"arguments":`...)
	} else {
		dst = append(dst, `,"function":{"arguments":`...)
	}
	dst = AppendString(dst, args)
	return append(dst, "}}]}"+chunkEnd...)
}

// Finish appends the frame that carries the finish reason.
func (c *Chunks) Finish(dst []byte, reason string) []byte {
	dst = append(dst, c.prefix...)
	dst = append(dst, `{},"finish_reason":`...)
	dst = AppendString(dst, reason)
	return append(dst, "}]}\n\n"...)
}

// AppendUsage appends an OpenAI usage object for u, with the detail fields ARouter documents.
// It does not write "cost": the gateway prices the usage and adds it.
func AppendUsage(dst []byte, u *catalog.Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = AppendInt(dst, u.Prompt)
	dst = append(dst, `,"completion_tokens":`...)
	dst = AppendInt(dst, u.Completion)
	dst = append(dst, `,"total_tokens":`...)
	dst = AppendInt(dst, u.Prompt+u.Completion)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = AppendInt(dst, u.Cached)
	dst = append(dst, `,"cache_write_tokens":`...)
	dst = AppendInt(dst, u.CacheWrite)
	dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...)
	dst = AppendInt(dst, u.Reasoning)
	return append(dst, "}}"...)
}

// AppendUsageChunk appends OpenAI's final usage frame (empty choices) for a stream.
func AppendUsageChunk(dst []byte, id, model string, created int64, u *catalog.Usage) []byte {
	dst = append(dst, `data: {"id":`...)
	dst = AppendString(dst, id)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	dst = AppendInt(dst, created)
	dst = append(dst, `,"model":`...)
	dst = AppendString(dst, model)
	dst = append(dst, `,"choices":[],"usage":`...)
	dst = AppendUsage(dst, u)
	return append(dst, "}\n\n"...)
}
