package anthropic

import (
	"encoding/json"
	"fmt"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/providers"
	"github.com/arouter/arouter/providers/internal/oai"
)

// message is a Messages API response, as far as translation needs it.
type message struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Content      []block `json:"content"`
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        usage   `json:"usage"`
	Error        *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

type block struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Thinking string          `json:"thinking"`
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Input    json.RawMessage `json:"input"`
}

// usage is Anthropic's usage. input_tokens counts only the prompt tokens after the last cache
// breakpoint; cached and cache-written tokens are reported beside it, not inside it.
type usage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// openAI normalises to OpenAI's counting, where the prompt includes cached tokens. Anthropic
// does not report thinking tokens apart from output tokens, so Reasoning stays 0.
func (u *usage) openAI() catalog.Usage {
	in, read, write := max(u.InputTokens, 0), max(u.CacheReadInputTokens, 0), max(u.CacheCreationInputTokens, 0)
	return catalog.Usage{
		Prompt:     in + read + write,
		Completion: max(u.OutputTokens, 0),
		Cached:     read,
		CacheWrite: write,
	}
}

// finishReason maps stop_reason to OpenAI's finish_reason.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	default: // end_turn, stop_sequence, pause_turn, and reasons added after this was written
		return "stop"
	}
}

// TranslateResponse appends the chat.completion for a Messages API response and fills u. Text
// blocks are concatenated into content, thinking blocks into OpenRouter's "reasoning", and
// tool_use blocks become tool_calls whose arguments are the input object as JSON text. The id
// is Anthropic's message id; n, when not nil, gets it and the stop_reason.
func (a Adapter) TranslateResponse(dst, body []byte, model string, u *catalog.Usage, n *providers.Native) ([]byte, error) {
	var m message
	if err := oai.UnmarshalNative(body, &m); err != nil {
		return dst, fmt.Errorf("%w: Anthropic response: %v", oai.ErrMalformed, err)
	}
	if m.Type == "error" && m.Error != nil {
		return dst, &oai.UpstreamError{Type: m.Error.Type, Message: m.Error.Message}
	}
	if m.Type != "message" {
		return dst, fmt.Errorf("%w: Anthropic response has type %q, want \"message\"", oai.ErrMalformed, m.Type)
	}
	c := oai.Completion{ID: m.ID, Model: model, Created: a.now(), Finish: finishReason(m.StopReason), Usage: m.Usage.openAI()}
	for i := range m.Content {
		bl := &m.Content[i]
		switch bl.Type {
		case "text":
			c.Content = append(c.Content, bl.Text...)
		case "thinking":
			c.Reasoning = append(c.Reasoning, bl.Thinking...)
		case "tool_use":
			args := []byte("{}")
			if !oai.IsNull(bl.Input) {
				args = oai.AppendCompact(nil, bl.Input)
			}
			c.ToolCalls = append(c.ToolCalls, oai.CompletionToolCall{ID: bl.ID, Name: bl.Name, Arguments: args})
		}
	}
	*u = c.Usage
	if n != nil {
		*n = providers.Native{ID: m.ID, FinishReason: m.StopReason}
	}
	return c.Append(dst), nil
}
