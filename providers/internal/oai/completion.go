package oai

import "github.com/arouter/arouter/catalog"

// Completion is a translated non-streaming answer, ready to be written as an OpenAI
// chat.completion body.
type Completion struct {
	ID        string
	Model     string
	Created   int64
	Content   []byte // text; nil with tool calls means "content": null
	Reasoning []byte // thinking text, written as OpenRouter's "reasoning" when not empty
	ToolCalls []CompletionToolCall
	Finish    string
	Usage     catalog.Usage
}

// CompletionToolCall is one tool call; Arguments is compact JSON text.
type CompletionToolCall struct {
	ID, Name  string
	Arguments []byte
}

// Append writes c as a chat.completion body.
func (c *Completion) Append(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendString(dst, c.ID)
	dst = append(dst, `,"object":"chat.completion","created":`...)
	dst = AppendInt(dst, c.Created)
	dst = append(dst, `,"model":`...)
	dst = AppendString(dst, c.Model)
	dst = append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if c.Content == nil && len(c.ToolCalls) > 0 {
		dst = append(dst, "null"...)
	} else {
		dst = AppendString(dst, c.Content)
	}
	if len(c.Reasoning) > 0 {
		dst = append(dst, `,"reasoning":`...)
		dst = AppendString(dst, c.Reasoning)
	}
	if len(c.ToolCalls) > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		for i := range c.ToolCalls {
			tc := &c.ToolCalls[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			dst = AppendString(dst, tc.ID)
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = AppendString(dst, tc.Name)
			dst = append(dst, `,"arguments":`...)
			dst = AppendString(dst, tc.Arguments)
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `},"finish_reason":`...)
	dst = AppendString(dst, c.Finish)
	dst = append(dst, `}],"usage":`...)
	dst = AppendUsage(dst, &c.Usage)
	return append(dst, '}')
}
