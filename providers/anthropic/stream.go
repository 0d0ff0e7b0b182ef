package anthropic

import (
	"fmt"

	"github.com/arouter/arouter/catalog"
	"github.com/arouter/arouter/providers"
	"github.com/arouter/arouter/providers/internal/oai"
)

// Stream translates one Messages API event stream into chat.completion.chunk frames. It keeps
// only what later events refer back to (which content block is which tool call) and the usage
// so far, never the answer itself. Not safe for concurrent use.
type Stream struct {
	chunks   oai.Chunks
	started  bool // the role frame has been written
	finished bool // message_stop seen
	sentStop bool // the finish frame has been written
	blocks   []blockRef
	nTools   int
	usage    usage
	native   providers.Native // message_start's id, message_delta's stop_reason
}

// blockRef remembers an open content block: its Anthropic index and, for tool_use, the
// OpenAI tool call index its argument fragments belong to.
type blockRef struct {
	index int64
	kind  byte // 't' text, 'r' thinking, 'u' tool_use, 0 anything else
	tool  int
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
	*s = Stream{chunks: s.chunks, blocks: s.blocks[:0]}
	s.chunks.Reset(id, model, created)
}

// event is the union of every Messages stream event's fields that translation reads.
type event struct {
	Type    string `json:"type"`
	Index   int64  `json:"index"`
	Message *struct {
		ID    string `json:"id"`
		Usage usage  `json:"usage"`
	} `json:"message"`
	ContentBlock *struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		Thinking string `json:"thinking"`
		ID       string `json:"id"`
		Name     string `json:"name"`
	} `json:"content_block"`
	Delta *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		Thinking    string `json:"thinking"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *struct {
		InputTokens              *int64 `json:"input_tokens"`
		OutputTokens             *int64 `json:"output_tokens"`
		CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	} `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// Event translates one event. The event name is only a fallback: every Anthropic data object
// carries its own "type". Unknown event and block types are skipped, as Anthropic's versioning
// policy asks of clients. Events after message_stop are ignored.
func (s *Stream) Event(dst, name, data []byte) ([]byte, error) {
	if len(data) == 0 {
		return dst, nil
	}
	var ev event
	if err := oai.UnmarshalNative(data, &ev); err != nil {
		return dst, fmt.Errorf("%w: Anthropic stream event: %v", oai.ErrMalformed, err)
	}
	typ := ev.Type
	if typ == "" {
		typ = string(name)
	}
	if typ == "error" {
		e := &oai.UpstreamError{Type: "api_error", Message: "provider reported an error without a message"}
		if ev.Error != nil {
			if ev.Error.Type != "" {
				e.Type = ev.Error.Type
			}
			if ev.Error.Message != "" {
				e.Message = ev.Error.Message
			}
		}
		return dst, e
	}
	if s.finished {
		return dst, nil
	}
	switch typ {
	case "message_start":
		if ev.Message != nil {
			s.usage = ev.Message.Usage
			s.native.ID = ev.Message.ID
		}
		dst = s.start(dst)
	case "content_block_start":
		cb := ev.ContentBlock
		if cb == nil || s.sentStop {
			break
		}
		ref := blockRef{index: ev.Index}
		switch cb.Type {
		case "text":
			ref.kind = 't'
			if cb.Text != "" {
				dst = s.chunks.Content(s.start(dst), cb.Text)
			}
		case "thinking":
			ref.kind = 'r'
			if cb.Thinking != "" {
				dst = s.chunks.Reasoning(s.start(dst), cb.Thinking)
			}
		case "tool_use":
			ref.kind, ref.tool = 'u', s.nTools
			s.nTools++
			dst = s.chunks.ToolCall(s.start(dst), ref.tool, cb.ID, cb.Name, "")
		}
		s.setBlock(ref)
	case "content_block_delta":
		d := ev.Delta
		ref, ok := s.block(ev.Index)
		if d == nil || !ok || s.sentStop {
			break
		}
		switch {
		case d.Type == "text_delta" && ref.kind == 't' && d.Text != "":
			dst = s.chunks.Content(s.start(dst), d.Text)
		case d.Type == "thinking_delta" && ref.kind == 'r' && d.Thinking != "":
			dst = s.chunks.Reasoning(s.start(dst), d.Thinking)
		case d.Type == "input_json_delta" && ref.kind == 'u' && d.PartialJSON != "":
			dst = s.chunks.ToolCall(s.start(dst), ref.tool, "", "", d.PartialJSON)
		}
		// signature_delta and citations_delta have no OpenAI counterpart.
	case "message_delta":
		if u := ev.Usage; u != nil {
			// Cumulative counts; input and cache counts appear here only in newer API versions.
			setIf(&s.usage.OutputTokens, u.OutputTokens)
			setIf(&s.usage.InputTokens, u.InputTokens)
			setIf(&s.usage.CacheCreationInputTokens, u.CacheCreationInputTokens)
			setIf(&s.usage.CacheReadInputTokens, u.CacheReadInputTokens)
		}
		if ev.Delta != nil && ev.Delta.StopReason != "" && !s.sentStop {
			s.sentStop = true
			s.native.FinishReason = ev.Delta.StopReason
			dst = s.chunks.Finish(s.start(dst), finishReason(ev.Delta.StopReason))
		}
	case "message_stop":
		s.finished = true
		if !s.sentStop {
			s.sentStop = true
			dst = s.chunks.Finish(s.start(dst), "stop")
		}
	}
	// ping, content_block_stop and unknown events carry nothing to translate.
	return dst, nil
}

// start writes the role frame before the first frame of the stream.
func (s *Stream) start(dst []byte) []byte {
	if s.started {
		return dst
	}
	s.started = true
	return s.chunks.Role(dst)
}

func (s *Stream) block(index int64) (blockRef, bool) {
	for i := len(s.blocks) - 1; i >= 0; i-- {
		if s.blocks[i].index == index {
			return s.blocks[i], true
		}
	}
	return blockRef{}, false
}

func (s *Stream) setBlock(ref blockRef) {
	for i := range s.blocks {
		if s.blocks[i].index == ref.index {
			s.blocks[i] = ref
			return
		}
	}
	s.blocks = append(s.blocks, ref)
}

func setIf(dst *int64, v *int64) {
	if v != nil && *v >= 0 {
		*dst = *v
	}
}

// Usage returns the usage reported so far: message_start's input and cache counts and the
// latest output count.
func (s *Stream) Usage() catalog.Usage { return s.usage.openAI() }

// Finished reports whether message_stop has arrived.
func (s *Stream) Finished() bool { return s.finished }

// Native returns message_start's message id and message_delta's stop_reason, when they came.
func (s *Stream) Native() providers.Native { return s.native }
