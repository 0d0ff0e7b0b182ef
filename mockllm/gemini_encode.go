package mockllm

// Gemini response encoding: GenerateContentResponse bodies, the streamed responses (SSE events
// or JSON array elements) and Google's error envelope, appended by hand like openai_encode.go.

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// gemStatus is the canonical status name Google pairs with each HTTP status, and the message
// the Gemini API sends with it.
func gemStatus(status int) (name, msg string) {
	switch status {
	case 400:
		return "INVALID_ARGUMENT", "Request contains an invalid argument."
	case 401:
		return "UNAUTHENTICATED", "Request had invalid authentication credentials."
	case 403:
		return "PERMISSION_DENIED", "The caller does not have permission"
	case 404:
		return "NOT_FOUND", "Requested entity was not found."
	case 409:
		return "ABORTED", "The operation was aborted."
	case 429:
		return "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."
	case 499:
		return "CANCELLED", "The operation was cancelled."
	case 500:
		return "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
	case 501:
		return "UNIMPLEMENTED", "Operation is not implemented, or supported, or enabled."
	case 503:
		return "UNAVAILABLE", "The model is overloaded. Please try again later."
	case 504:
		return "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."
	}
	return "UNKNOWN", "Unknown error."
}

// write sends the error pretty-printed, as Google's front end does.
func (e *gemError) write(ctx *fasthttp.RequestCtx) {
	name, _ := gemStatus(e.status)
	b := append(make([]byte, 0, 256+len(e.msg)), "{\n  \"error\": {\n    \"code\": "...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, ",\n    \"message\": "...)
	b = appendJSONString(b, e.msg)
	b = append(b, ",\n    \"status\": \""...)
	b = append(b, name...)
	b = append(b, '"')
	if len(e.details) > 0 {
		b = append(b, ",\n    \"details\": [\n"...)
		for i, d := range e.details {
			if i > 0 {
				b = append(b, ",\n"...)
			}
			b = append(b, "      "...)
			b = append(b, d...)
		}
		b = append(b, "\n    ]"...)
	}
	b = append(b, "\n  }\n}\n"...)
	ctx.SetStatusCode(e.status)
	ctx.SetContentType("application/json; charset=UTF-8")
	ctx.SetBody(b)
}

// gemStream is one GenerateContentResponse: it encodes the non-streaming body and, as a
// streamEncoder, the stream of partial responses, each with the usage so far.
type gemStream struct {
	model, id   string
	prompt      int
	cached      int
	thoughts    int
	thoughtText string // shown when the request asked for thoughts
	total       int    // answer tokens
	reason      string // finishReason
	sse         bool
	sent        int // stream: events written, for the JSON-array separators
	// fnName is set for a forced function call: the answer's "text" is then the call's args
	// object, sent as a functionCall part in one response, which also finishes the stream.
	fnName string
}

func (r *gemStream) appendUsage(b []byte, candidates int, final bool) []byte {
	b = append(b, `"usageMetadata":{"promptTokenCount":`...)
	b = strconv.AppendInt(b, int64(r.prompt), 10)
	if candidates > 0 || final {
		b = append(b, `,"candidatesTokenCount":`...)
		b = strconv.AppendInt(b, int64(candidates), 10)
	}
	b = append(b, `,"totalTokenCount":`...)
	b = strconv.AppendInt(b, int64(r.prompt+candidates+r.thoughts), 10)
	if r.cached > 0 {
		b = append(b, `,"cachedContentTokenCount":`...)
		b = strconv.AppendInt(b, int64(r.cached), 10)
	}
	b = append(b, `,"promptTokensDetails":[{"modality":"TEXT","tokenCount":`...)
	b = strconv.AppendInt(b, int64(r.prompt), 10)
	b = append(b, "}]"...)
	if r.cached > 0 {
		b = append(b, `,"cacheTokensDetails":[{"modality":"TEXT","tokenCount":`...)
		b = strconv.AppendInt(b, int64(r.cached), 10)
		b = append(b, "}]"...)
	}
	if r.thoughts > 0 {
		b = append(b, `,"thoughtsTokenCount":`...)
		b = strconv.AppendInt(b, int64(r.thoughts), 10)
	}
	return append(b, '}')
}

// appendResponse appends a GenerateContentResponse holding text (and the thoughts, when
// thoughts is set); final adds the finishReason.
func (r *gemStream) appendResponse(b []byte, text string, candidates int, final bool) []byte {
	return r.appendParts(b, text, r.thoughtText, candidates, final)
}

func (r *gemStream) appendParts(b []byte, text, thought string, candidates int, final bool) []byte {
	b = append(b, `{"candidates":[{"content":{"parts":[`...)
	if thought != "" {
		b = append(b, `{"text":`...)
		b = appendJSONString(b, thought)
		b = append(b, `,"thought":true}`...)
		if text != "" || final {
			b = append(b, ',')
		}
	}
	switch {
	case r.fnName != "":
		b = append(b, `{"functionCall":{"name":`...)
		b = appendJSONString(b, r.fnName)
		b = append(b, `,"args":`...)
		b = append(b, text...)
		b = append(b, "}}"...)
	case text != "" || thought == "" || final:
		b = append(b, `{"text":`...)
		b = appendJSONString(b, text)
		b = append(b, '}')
	}
	b = append(b, `],"role":"model"}`...)
	if final {
		b = append(b, `,"finishReason":"`...)
		b = append(b, r.reason...)
		b = append(b, '"')
	}
	b = append(b, `,"index":0}],`...)
	b = r.appendUsage(b, candidates, final)
	b = append(b, `,"modelVersion":`...)
	b = appendJSONString(b, r.model)
	b = append(b, `,"responseId":`...)
	b = appendJSONString(b, r.id)
	return append(b, '}')
}

// open and close frame one streamed response: an SSE event, or an element of the JSON array.
func (r *gemStream) open(ew *eventWriter) {
	switch {
	case r.sse:
		ew.buf = append(ew.buf, "data: "...)
	case r.sent == 0:
		ew.buf = append(ew.buf, '[')
	default:
		ew.buf = append(ew.buf, ",\r\n"...)
	}
	r.sent++
}

func (r *gemStream) close(ew *eventWriter, last bool) error {
	switch {
	case r.sse:
		ew.buf = append(ew.buf, "\r\n\r\n"...)
	case last:
		ew.buf = append(ew.buf, ']')
	}
	return ew.flush()
}

// waiting sends nothing (Gemini has no keep-alive, and its JSON-array form could not carry
// one); the flush puts the response headers on the wire.
func (r *gemStream) waiting(ew *eventWriter) error { return ew.flush() }

// start sends the thought summary first, when the request asked for it; Gemini has no other
// opening event.
func (r *gemStream) start(ew *eventWriter) error {
	if r.thoughtText == "" {
		return nil
	}
	r.open(ew)
	ew.buf = r.appendParts(ew.buf, "", r.thoughtText, 0, false)
	return r.close(ew, false)
}

func (r *gemStream) content(ew *eventWriter, tok string) error {
	r.open(ew)
	if r.fnName != "" { // the whole call, finishing the answer
		ew.buf = r.appendParts(ew.buf, tok, "", r.total, true)
		return r.close(ew, !r.sse)
	}
	ew.buf = r.appendParts(ew.buf, tok, "", r.sentTokens(), false)
	return r.close(ew, false)
}

// sentTokens counts the answer tokens streamed so far, this one included.
func (r *gemStream) sentTokens() int {
	n := r.sent
	if r.thoughtText != "" {
		n--
	}
	return n
}

func (r *gemStream) finish(ew *eventWriter) error {
	if r.fnName != "" {
		return nil // the call's response was the last
	}
	r.open(ew)
	ew.buf = r.appendParts(ew.buf, "", "", r.total, true)
	return r.close(ew, true)
}

func (r *gemStream) malformed(ew *eventWriter) error {
	r.open(ew)
	ew.buf = append(ew.buf, `{"candidates": [{"content": {"parts": [{"text": `...)
	return r.close(ew, false)
}

// streamError sends the error object Gemini puts in a stream that fails after it started.
func (r *gemStream) streamError(ew *eventWriter) error {
	r.open(ew)
	ew.buf = append(ew.buf, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`...)
	return r.close(ew, true)
}
