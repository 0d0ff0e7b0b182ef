package gemini

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/providers"
	"github.com/arouter/arouter/providers/internal/oai"
)

// response is a GenerateContentResponse (also each event of a stream), as far as translation
// needs it. Error is set when an error arrives in its place.
type response struct {
	Candidates []struct {
		Content struct {
			Parts []part `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	UsageMetadata *usageMetadata `json:"usageMetadata"`
	ResponseID    string         `json:"responseId"`
	Error         *struct {
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

type part struct {
	Text         *string `json:"text"`
	Thought      bool    `json:"thought"`
	FunctionCall *struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
}

// usageMetadata counts the prompt including cached content and tool-use prompts apart, and the
// answer without the thoughts.
type usageMetadata struct {
	PromptTokenCount        int64 `json:"promptTokenCount"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int64 `json:"toolUsePromptTokenCount"`
}

// openAI normalises to OpenAI's counting: completion tokens include the thoughts, and the
// prompt includes tool-use prompt tokens (results of built-in tools fed back to the model).
func (m *usageMetadata) openAI() catalog.Usage {
	prompt := max(m.PromptTokenCount, 0) + max(m.ToolUsePromptTokenCount, 0)
	thoughts := max(m.ThoughtsTokenCount, 0)
	return catalog.Usage{
		Prompt:     prompt,
		Completion: max(m.CandidatesTokenCount, 0) + thoughts,
		Reasoning:  thoughts,
		Cached:     min(max(m.CachedContentTokenCount, 0), prompt),
	}
}

// finishReason maps Gemini's finishReason. Gemini says STOP after function calls, so calls
// decide "tool_calls".
func finishReason(reason string, calls bool) string {
	switch reason {
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return "content_filter"
	case "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS":
		return "error"
	}
	if calls {
		return "tool_calls"
	}
	return "stop" // STOP, OTHER, LANGUAGE and reasons added after this was written
}

// toolCallID names a call Gemini left unnamed. OpenAI clients echo the id back in their tool
// message, and the request translation finds the function name by it, so it must be unique
// within a conversation: the response id makes it so.
func toolCallID(responseID string, i int) string {
	return "call_" + responseID + "_" + strconv.Itoa(i)
}

// TranslateResponse appends the chat.completion for a generateContent response and fills u.
// Text parts are concatenated into content, thought parts into OpenRouter's "reasoning", and
// functionCall parts become tool_calls. A prompt blocked before any candidate becomes an empty
// answer with finish_reason "content_filter". The id is Gemini's responseId; n, when not nil,
// gets it and the finishReason (the blockReason for a blocked prompt).
func (a Adapter) TranslateResponse(dst, body []byte, model string, u *catalog.Usage, n *providers.Native) ([]byte, error) {
	var r response
	if err := oai.UnmarshalNative(body, &r); err != nil {
		return dst, fmt.Errorf("%w: Gemini response: %v", oai.ErrMalformed, err)
	}
	if r.Error != nil {
		return dst, &oai.UpstreamError{Type: r.Error.Status, Message: r.Error.Message}
	}
	created := a.now()
	id := r.ResponseID
	if id == "" {
		id = "gen-" + strconv.FormatInt(created, 10)
	}
	c := oai.Completion{ID: id, Model: model, Created: created}
	var native string
	if r.UsageMetadata != nil {
		c.Usage = r.UsageMetadata.openAI()
	}
	switch {
	case len(r.Candidates) > 0:
		cand := &r.Candidates[0]
		for i := range cand.Content.Parts {
			p := &cand.Content.Parts[i]
			switch {
			case p.FunctionCall != nil:
				callID := p.FunctionCall.ID
				if callID == "" {
					callID = toolCallID(id, len(c.ToolCalls))
				}
				args := []byte("{}")
				if !oai.IsNull(p.FunctionCall.Args) {
					args = oai.AppendCompact(nil, p.FunctionCall.Args)
				}
				c.ToolCalls = append(c.ToolCalls, oai.CompletionToolCall{ID: callID, Name: p.FunctionCall.Name, Arguments: args})
			case p.Text != nil && p.Thought:
				c.Reasoning = append(c.Reasoning, *p.Text...)
			case p.Text != nil:
				c.Content = append(c.Content, *p.Text...)
			}
		}
		c.Finish = finishReason(cand.FinishReason, len(c.ToolCalls) > 0)
		native = cand.FinishReason
	case r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "":
		c.Finish = "content_filter"
		native = r.PromptFeedback.BlockReason
	default:
		return dst, fmt.Errorf("%w: Gemini response has no candidates", oai.ErrMalformed)
	}
	*u = c.Usage
	if n != nil {
		*n = providers.Native{ID: r.ResponseID, FinishReason: native}
	}
	return c.Append(dst), nil
}
