package mockllm

// Anthropic response encoding: the Message body, the event stream and the error envelope,
// appended by hand in Anthropic's field order for the same reason as openai_encode.go.

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// anthErrorType is the error type Anthropic documents for each status.
func anthErrorType(status int) (typ, msg string) {
	switch status {
	case 400:
		return "invalid_request_error", "There was an issue with the format or content of your request."
	case 401:
		return "authentication_error", "There's an issue with your API key."
	case 402:
		return "billing_error", "There's an issue with your billing or payment information."
	case 403:
		return "permission_error", "Your API key does not have permission to use the specified resource."
	case 404:
		return "not_found_error", "The requested resource was not found."
	case 413:
		return "request_too_large", "Request exceeds the maximum allowed number of bytes."
	case 429:
		return "rate_limit_error", "Your account has hit a rate limit."
	case 504:
		return "timeout_error", "The request timed out while processing."
	case 529:
		return "overloaded_error", "Overloaded"
	}
	return "api_error", "Internal server error"
}

func (s *Server) writeAnthError(ctx *fasthttp.RequestCtx, e *anthError) {
	reqID := s.newIDWith("req_011C", 20)
	b := append(make([]byte, 0, 128+len(e.msg)), `{"type":"error","error":{"type":`...)
	b = appendJSONString(b, e.typ)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.msg)
	b = append(b, `},"request_id":`...)
	b = appendJSONString(b, reqID)
	b = append(b, '}')
	ctx.Response.Header.Set("request-id", reqID)
	ctx.SetStatusCode(e.status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// anthUsage is one response's usage in Anthropic's terms: input excludes the cached parts.
type anthUsage struct {
	input, cacheWrite, cacheRead, output int
}

func (u anthUsage) append(b []byte, output int) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.input), 10)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.cacheWrite), 10)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.cacheRead), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(output), 10)
	return append(b, `,"service_tier":"standard"}`...)
}

// anthStream is one Message: it encodes the non-streaming body and, as a streamEncoder, the
// event stream.
type anthStream struct {
	id, model         string
	usage             anthUsage
	stop, stopSeq     string
	textIdx, thinking int
	signature         string
	seed              uint64
	// A forced tool call replaces the text block with a tool_use block (toolName set), whose
	// input arrives in a stream as input_json_delta fragments.
	toolID, toolName, toolInput string
}

// thinkingText is the deterministic content of the thinking block, as its word tokens.
func (m *anthStream) thinkingText() completionText {
	return newGeneratedText(m.seed^0x7468696e6b, m.thinking, m.thinking)
}

func (m *anthStream) appendStop(b []byte) []byte {
	b = append(b, `"stop_reason":"`...)
	b = append(b, m.stop...)
	b = append(b, `","stop_sequence":`...)
	if m.stopSeq == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, m.stopSeq)
}

func (m *anthStream) appendMessage(b []byte, text string) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, m.id)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = appendJSONString(b, m.model)
	b = append(b, `,"content":[`...)
	if m.thinking > 0 {
		t := m.thinkingText()
		b = append(b, `{"type":"thinking","thinking":`...)
		b = appendJSONString(b, t.rest())
		b = append(b, `,"signature":`...)
		b = appendJSONString(b, m.signature)
		b = append(b, "},"...)
	}
	if m.toolName != "" {
		b = append(b, `{"type":"tool_use","id":`...)
		b = appendJSONString(b, m.toolID)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, m.toolName)
		b = append(b, `,"input":`...)
		b = append(b, m.toolInput...)
	} else {
		b = append(b, `{"type":"text","text":`...)
		b = appendJSONString(b, text)
	}
	b = append(b, `}],`...)
	b = m.appendStop(b)
	b = append(b, `,"usage":`...)
	b = m.usage.append(b, m.usage.output)
	return append(b, '}')
}

func anthEvent(b []byte, name string) []byte {
	b = append(b, "event: "...)
	b = append(b, name...)
	return append(b, "\ndata: "...)
}

func (m *anthStream) blockStart(ew *eventWriter, idx int, block string) error {
	ew.buf = anthEvent(ew.buf, "content_block_start")
	ew.buf = append(ew.buf, `{"type":"content_block_start","index":`...)
	ew.buf = strconv.AppendInt(ew.buf, int64(idx), 10)
	ew.buf = append(ew.buf, `,"content_block":`...)
	ew.buf = append(ew.buf, block...)
	ew.buf = append(ew.buf, "}\n\n"...)
	return ew.flush()
}

func (m *anthStream) blockStop(ew *eventWriter, idx int) error {
	ew.buf = anthEvent(ew.buf, "content_block_stop")
	ew.buf = append(ew.buf, `{"type":"content_block_stop","index":`...)
	ew.buf = strconv.AppendInt(ew.buf, int64(idx), 10)
	ew.buf = append(ew.buf, "}\n\n"...)
	return ew.flush()
}

func (m *anthStream) delta(ew *eventWriter, idx int, typ, field, value string) error {
	ew.buf = anthEvent(ew.buf, "content_block_delta")
	ew.buf = append(ew.buf, `{"type":"content_block_delta","index":`...)
	ew.buf = strconv.AppendInt(ew.buf, int64(idx), 10)
	ew.buf = append(ew.buf, `,"delta":{"type":"`...)
	ew.buf = append(ew.buf, typ...)
	ew.buf = append(ew.buf, `","`...)
	ew.buf = append(ew.buf, field...)
	ew.buf = append(ew.buf, `":`...)
	ew.buf = appendJSONString(ew.buf, value)
	ew.buf = append(ew.buf, "}}\n\n"...)
	return ew.flush()
}

func (m *anthStream) ping(ew *eventWriter) error {
	ew.buf = append(ew.buf, "event: ping\ndata: {\"type\": \"ping\"}\n\n"...)
	return ew.flush()
}

// waiting sends nothing: Anthropic's first event is message_start, and its pings come after
// it. The flush puts the response headers on the wire.
func (m *anthStream) waiting(ew *eventWriter) error { return ew.flush() }

func (m *anthStream) start(ew *eventWriter) error {
	ew.buf = anthEvent(ew.buf, "message_start")
	ew.buf = append(ew.buf, `{"type":"message_start","message":{"id":`...)
	ew.buf = appendJSONString(ew.buf, m.id)
	ew.buf = append(ew.buf, `,"type":"message","role":"assistant","model":`...)
	ew.buf = appendJSONString(ew.buf, m.model)
	ew.buf = append(ew.buf, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	ew.buf = m.usage.append(ew.buf, 1)
	ew.buf = append(ew.buf, "}}\n\n"...)
	if err := ew.flush(); err != nil {
		return err
	}
	if m.thinking > 0 {
		if err := m.blockStart(ew, 0, `{"type":"thinking","thinking":""}`); err != nil {
			return err
		}
		if err := m.ping(ew); err != nil {
			return err
		}
		t := m.thinkingText()
		for {
			tok, ok := t.next()
			if !ok {
				break
			}
			if err := m.delta(ew, 0, "thinking_delta", "thinking", tok); err != nil {
				return err
			}
		}
		if err := m.delta(ew, 0, "signature_delta", "signature", m.signature); err != nil {
			return err
		}
		if err := m.blockStop(ew, 0); err != nil {
			return err
		}
	}
	block := `{"type":"text","text":""}`
	if m.toolName != "" {
		b := []byte(`{"type":"tool_use","id":`)
		b = appendJSONString(b, m.toolID)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, m.toolName)
		block = string(append(b, `,"input":{}}`...))
	}
	if err := m.blockStart(ew, m.textIdx, block); err != nil {
		return err
	}
	if m.thinking == 0 {
		return m.ping(ew)
	}
	return nil
}

func (m *anthStream) content(ew *eventWriter, tok string) error {
	if m.toolName != "" {
		return m.delta(ew, m.textIdx, "input_json_delta", "partial_json", tok)
	}
	return m.delta(ew, m.textIdx, "text_delta", "text", tok)
}

func (m *anthStream) finish(ew *eventWriter) error {
	if err := m.blockStop(ew, m.textIdx); err != nil {
		return err
	}
	ew.buf = anthEvent(ew.buf, "message_delta")
	ew.buf = append(ew.buf, `{"type":"message_delta","delta":{`...)
	ew.buf = m.appendStop(ew.buf)
	ew.buf = append(ew.buf, `},"usage":{"output_tokens":`...)
	ew.buf = strconv.AppendInt(ew.buf, int64(m.usage.output), 10)
	ew.buf = append(ew.buf, "}}\n\n"...)
	if err := ew.flush(); err != nil {
		return err
	}
	ew.buf = append(ew.buf, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
	return ew.flush()
}

// malformed sends a delta cut off mid-JSON; Anthropic streams have no terminator to follow.
func (m *anthStream) malformed(ew *eventWriter) error {
	ew.buf = anthEvent(ew.buf, "content_block_delta")
	ew.buf = append(ew.buf, `{"type":"content_block_delta","index":`...)
	ew.buf = strconv.AppendInt(ew.buf, int64(m.textIdx), 10)
	ew.buf = append(ew.buf, `,"delta":{"type":"text_delta","text":`+"\n\n"...)
	return ew.flush()
}

// streamError sends the error event Anthropic uses when a stream fails after it started,
// typically an overload.
func (m *anthStream) streamError(ew *eventWriter) error {
	ew.buf = anthEvent(ew.buf, "error")
	ew.buf = append(ew.buf, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`+"\n\n"...)
	return ew.flush()
}
