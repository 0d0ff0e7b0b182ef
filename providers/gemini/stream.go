package gemini

import (
	"fmt"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/providers"
	"github.com/arouter/arouter/providers/internal/oai"
)

// Stream translates one streamGenerateContent (alt=sse) stream into chat.completion.chunk
// frames. Each Gemini event is a whole GenerateContentResponse holding the next piece of the
// answer and the usage so far; the one with a finishReason is the last. Function calls arrive
// whole, so each becomes one tool_calls frame. Not safe for concurrent use.
type Stream struct {
	chunks   oai.Chunks
	id       string
	started  bool
	finished bool
	nTools   int
	usage    catalog.Usage
	native   providers.Native // the first responseId, the finishReason (or blockReason)
}

var _ providers.Stream = (*Stream)(nil)

// NewStream returns a translator whose frames carry the given id, model and created time.
func NewStream(model, id string, created int64) *Stream {
	s := &Stream{}
	s.Reset(model, id, created)
	return s
}

// Reset readies s for another stream, keeping its buffers.
func (s *Stream) Reset(model, id string, created int64) {
	*s = Stream{chunks: s.chunks, id: id}
	s.chunks.Reset(id, model, created)
}

// Event translates one event; Gemini's events have no name, so name is ignored. An error
// object in place of a response (Gemini's way of failing mid-stream) is returned as
// *providers.UpstreamError. Events after the finishing one only update the usage.
func (s *Stream) Event(dst, _, data []byte) ([]byte, error) {
	if len(data) == 0 {
		return dst, nil
	}
	var r response
	if err := oai.UnmarshalNative(data, &r); err != nil {
		return dst, fmt.Errorf("%w: Gemini stream event: %v", oai.ErrMalformed, err)
	}
	if r.Error != nil {
		e := &oai.UpstreamError{Type: r.Error.Status, Message: r.Error.Message}
		if e.Message == "" {
			e.Message = "provider reported an error without a message"
		}
		return dst, e
	}
	if r.UsageMetadata != nil {
		s.usage = r.UsageMetadata.openAI()
	}
	if s.native.ID == "" {
		s.native.ID = r.ResponseID
	}
	if s.finished {
		return dst, nil
	}
	dst = s.start(dst)
	if len(r.Candidates) == 0 {
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
			s.finished = true
			s.native.FinishReason = r.PromptFeedback.BlockReason
			dst = s.chunks.Finish(dst, "content_filter")
		}
		return dst, nil
	}
	cand := &r.Candidates[0]
	for i := range cand.Content.Parts {
		p := &cand.Content.Parts[i]
		switch {
		case p.FunctionCall != nil:
			id := p.FunctionCall.ID
			if id == "" {
				id = toolCallID(s.id, s.nTools)
			}
			args := "{}"
			if !oai.IsNull(p.FunctionCall.Args) {
				args = string(oai.AppendCompact(nil, p.FunctionCall.Args))
			}
			dst = s.chunks.ToolCall(dst, s.nTools, id, p.FunctionCall.Name, args)
			s.nTools++
		case p.Text != nil && *p.Text == "":
		case p.Text != nil && p.Thought:
			dst = s.chunks.Reasoning(dst, *p.Text)
		case p.Text != nil:
			dst = s.chunks.Content(dst, *p.Text)
		}
	}
	if cand.FinishReason != "" {
		s.finished = true
		s.native.FinishReason = cand.FinishReason
		dst = s.chunks.Finish(dst, finishReason(cand.FinishReason, s.nTools > 0))
	}
	return dst, nil
}

func (s *Stream) start(dst []byte) []byte {
	if s.started {
		return dst
	}
	s.started = true
	return s.chunks.Role(dst)
}

// Usage returns the usage of the latest event that carried usageMetadata.
func (s *Stream) Usage() catalog.Usage { return s.usage }

// Finished reports whether an event with a finishReason (or a blocked prompt) has arrived.
func (s *Stream) Finished() bool { return s.finished }

// Native returns the stream's responseId and its finishReason (a blocked prompt's blockReason).
func (s *Stream) Native() providers.Native { return s.native }
