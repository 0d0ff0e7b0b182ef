package proxy

import (
	"bytes"
	"encoding/json"
)

// chatRequest is what the gateway reads from a chat-completions body: the fields it routes and
// bills on, and where they sit so the body can be rewritten in place. It lives on the handler's
// stack; model points into the body (or, for a model id with escapes, into a copy).
type chatRequest struct {
	model          []byte
	modelVS        int // value range of "model", quotes included
	modelVE        int
	objStart       int // index of the opening brace
	stream         bool
	wantsUsage     bool // stream_options.include_usage is true: the client wants the usage chunk
	streamOptsVS   int  // value range of "stream_options"; -1 when absent
	streamOptsVE   int
	haveModel      bool
	haveStream     bool
	haveStreamOpts bool
	// maxTokens is the completion budget the client set (max_completion_tokens, or the older
	// max_tokens), 0 when absent; admission reserves credit for that many tokens.
	maxTokens int64
}

var (
	keyModel         = []byte("model")
	keyStream        = []byte("stream")
	keyStreamOptions = []byte("stream_options")
	keyMaxTokens     = []byte("max_tokens")
	keyMaxCompletion = []byte("max_completion_tokens")
)

// parse reads body. It returns nil or a request error (400) whose message tells the client what
// to fix. It does not allocate for well-formed bodies with a plain model id.
func (r *chatRequest) parse(body []byte) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return errEmptyBody
	}
	if !validJSON(body) {
		return errMalformedJSON
	}
	it, ok := newObjectIter(body)
	if !ok {
		return errNotObject
	}
	r.objStart = skipSpace(body, 0)
	r.streamOptsVS, r.streamOptsVE = -1, -1
	for {
		key, esc, vs, ve, ok := it.next()
		if !ok {
			break
		}
		// An escaped key ("mod\u0065l") would be read by the provider as "model" while we read
		// it as something else: a client could then be billed for one model and served another.
		if esc {
			return errEscapedKey
		}
		switch {
		case bytes.Equal(key, keyModel):
			if r.haveModel {
				return errDuplicateModel
			}
			r.haveModel = true
			if e := r.setModel(body[vs:ve]); e != nil {
				return e
			}
			r.modelVS, r.modelVE = vs, ve
		case bytes.Equal(key, keyStream):
			if r.haveStream {
				return errDuplicateStream
			}
			r.haveStream = true
			switch v := body[vs:ve]; {
			case bytes.Equal(v, litTrue):
				r.stream = true
			case bytes.Equal(v, litFalse), bytes.Equal(v, litNull):
			default:
				return errStreamNotBool
			}
		case bytes.Equal(key, keyStreamOptions):
			if r.haveStreamOpts {
				return errDuplicateStreamOpts
			}
			r.haveStreamOpts = true
			r.streamOptsVS, r.streamOptsVE = vs, ve
			r.wantsUsage = includesUsage(body[vs:ve])
		case bytes.Equal(key, keyMaxCompletion), bytes.Equal(key, keyMaxTokens):
			// The provider validates the value; a value that is not a plain integer leaves
			// the reservation at the gateway's default.
			if n, ok := parseCount(body[vs:ve]); ok && n > r.maxTokens {
				r.maxTokens = n
			}
		}
	}
	if it.failed() {
		return errMalformedJSON
	}
	if !r.haveModel {
		return errMissingModel
	}
	return nil
}

// maxModelID bounds a model id; catalog ids are far shorter.
const maxModelID = 256

var (
	litTrue  = []byte("true")
	litFalse = []byte("false")
	litNull  = []byte("null")
)

// setModel reads the model id from its JSON value. Escapes are rare but legal (PHP writes
// "openai\/gpt-4o"); decoding them is the one case that allocates.
func (r *chatRequest) setModel(v []byte) *apiError {
	if len(v) < 2 || v[0] != '"' {
		return errModelNotString
	}
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		r.model = raw
	} else {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return errModelNotString
		}
		r.model = []byte(s)
	}
	if len(r.model) > maxModelID {
		return errModelNotString
	}
	if len(r.model) == 0 {
		return errMissingModel
	}
	return nil
}

var keyIncludeUsage = []byte("include_usage")

// includesUsage reports whether a stream_options value sets include_usage to true.
func includesUsage(v []byte) bool {
	it, ok := newObjectIter(v)
	if !ok {
		return false
	}
	for {
		key, _, vs, ve, ok := it.next()
		if !ok {
			return false
		}
		if bytes.Equal(key, keyIncludeUsage) {
			return bytes.Equal(v[vs:ve], litTrue)
		}
	}
}

// includeUsage is what a streaming request's stream_options becomes upstream: the gateway needs
// the final usage chunk to bill the request.
var includeUsage = []byte(`{"include_usage":true}`)

// appendUpstreamBody appends the body to send upstream to dst: the client's body byte for byte,
// except that "model" names the provider's model and, for streams, stream_options asks for
// usage. Fields are never reordered or re-encoded.
func (r *chatRequest) appendUpstreamBody(dst, body, quotedModel []byte) []byte {
	if !r.stream {
		dst = append(dst, body[:r.modelVS]...)
		dst = append(dst, quotedModel...)
		return append(dst, body[r.modelVE:]...)
	}
	if r.streamOptsVS < 0 {
		dst = append(dst, body[:r.objStart+1]...)
		dst = append(dst, `"stream_options":`...)
		dst = append(dst, includeUsage...)
		dst = append(dst, ',')
		dst = append(dst, body[r.objStart+1:r.modelVS]...)
		dst = append(dst, quotedModel...)
		return append(dst, body[r.modelVE:]...)
	}
	// Two replacements, applied in body order.
	first, second := [2]int{r.modelVS, r.modelVE}, [2]int{r.streamOptsVS, r.streamOptsVE}
	firstVal, secondVal := quotedModel, includeUsage
	if r.streamOptsVS < r.modelVS {
		first, second = second, first
		firstVal, secondVal = secondVal, firstVal
	}
	dst = append(dst, body[:first[0]]...)
	dst = append(dst, firstVal...)
	dst = append(dst, body[first[1]:second[0]]...)
	dst = append(dst, secondVal...)
	return append(dst, body[second[1]:]...)
}

// quoteJSON returns s as a JSON string literal. Used at start-up for upstream model names.
func quoteJSON(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// parseCount reads a JSON number that is a non-negative integer of at most 9 digits.
func parseCount(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 9 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
