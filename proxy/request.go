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

	routeFields
	// strip holds the ranges of members removed from the upstream body (the routing fields),
	// each with its separating comma.
	strip  [4][2]int
	nStrip int
	// messagesVS, messagesVE locate "messages" (-1 when absent), for sticky routing's prefix.
	messagesVS, messagesVE int
	nKept                  int // members that stay in the upstream body
}

var (
	keyModel         = []byte("model")
	keyStream        = []byte("stream")
	keyStreamOptions = []byte("stream_options")
	keyMaxTokens     = []byte("max_tokens")
	keyMessages      = []byte("messages")
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
	r.messagesVS, r.messagesVE = -1, -1
	prevEnd, keptBefore := -1, false
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
		stripped := false
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
		case bytes.Equal(key, keyMessages):
			if r.messagesVS >= 0 {
				return errDuplicateMessages
			}
			if body[vs] != '[' {
				return errMessagesNotArray
			}
			r.messagesVS, r.messagesVE = vs, ve
		case bytes.Equal(key, keyMaxCompletion), bytes.Equal(key, keyMaxTokens):
			// The provider validates the value; a value that is not a plain integer leaves
			// the reservation at the gateway's default, and one too long to read is reserved
			// at maxCount.
			if n, ok := parseCount(body[vs:ve]); ok && n > r.maxTokens {
				r.maxTokens = n
			}
		case bytes.Equal(key, keyModels):
			if r.haveModels {
				return errDuplicateRouting
			}
			r.haveModels, stripped = true, true
			if e := r.parseModels(body[vs:ve]); e != nil {
				return e
			}
		case bytes.Equal(key, keyRoute):
			if r.haveRoute {
				return errDuplicateRouting
			}
			r.haveRoute, stripped = true, true
			if e := r.parseRoute(body[vs:ve]); e != nil {
				return e
			}
		case bytes.Equal(key, keyProvider):
			if r.haveProvider {
				return errDuplicateRouting
			}
			r.haveProvider, stripped = true, true
			if e := r.parseProvider(body[vs:ve]); e != nil {
				return e
			}
		case bytes.Equal(key, keyUsage):
			if r.haveUsageField {
				return errDuplicateRouting
			}
			r.haveUsageField, stripped = true, true
		}
		if stripped {
			r.stripMember(body, it.keyStart, prevEnd, ve, keptBefore)
		} else {
			keptBefore = true
			r.nKept++
		}
		prevEnd = ve
	}
	if it.failed() {
		return errMalformedJSON
	}
	if !r.haveModel {
		if r.nModels == 0 {
			return errMissingModel
		}
		// "models" alone: its first entry is the model, the rest are fallbacks.
		r.model = r.models[0]
	}
	// Checked here rather than left to the provider: every provider refuses these, each in its
	// own words, and only after the gateway has reserved credit and made the round trip.
	if r.messagesVS < 0 {
		return errMissingMessages
	}
	if body[skipSpace(body, r.messagesVS+1)] == ']' {
		return errEmptyMessages
	}
	return nil
}

// stripMember records the removal of the member spanning [keyStart, ve) and one comma next to
// it: the comma before it when an earlier member stays, else the comma after it, so that
// removing any set of members leaves valid JSON.
func (r *chatRequest) stripMember(body []byte, keyStart, prevEnd, ve int, keptBefore bool) {
	from, to := keyStart, ve
	if keptBefore {
		from = prevEnd
	} else if j := skipSpace(body, ve); j < len(body) && body[j] == ',' {
		to = skipSpace(body, j+1)
	}
	r.strip[r.nStrip] = [2]int{from, to}
	r.nStrip++
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

// edit replaces body[from:to] with with.
type edit struct {
	from, to int
	with     []byte
}

// appendUpstreamBody appends the body to send upstream to dst: the client's body byte for byte,
// except that "model" names the provider's model, for streams stream_options asks for usage,
// and ARouter's own routing fields are removed. Fields are never reordered or re-encoded.
func (r *chatRequest) appendUpstreamBody(dst, body, quotedModel []byte) []byte {
	var edits [7]edit
	n := 0
	if r.haveModel {
		edits[n] = edit{r.modelVS, r.modelVE, quotedModel}
		n++
	}
	if r.stream {
		if r.streamOptsVS < 0 {
			edits[n] = edit{r.objStart + 1, r.objStart + 1, streamOptionsMember}
		} else {
			edits[n] = edit{r.streamOptsVS, r.streamOptsVE, includeUsage}
		}
		n++
	}
	for _, st := range r.strip[:r.nStrip] {
		edits[n] = edit{st[0], st[1], nil}
		n++
	}
	if !r.haveModel {
		// The model came from "models": give the provider a "model" member of its own.
		edits[n] = edit{r.objStart + 1, r.objStart + 1, nil}
		n++
	}
	// Insertion sort by position; an insertion sorts before a removal starting at its point.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && (edits[j].from < edits[j-1].from || edits[j].from == edits[j-1].from && edits[j].to < edits[j-1].to); j-- {
			edits[j], edits[j-1] = edits[j-1], edits[j]
		}
	}
	pos := 0
	for _, e := range edits[:n] {
		dst = append(dst, body[pos:e.from]...)
		if e.with == nil && e.from == e.to { // the inserted "model" member
			dst = append(dst, `"model":`...)
			dst = append(dst, quotedModel...)
			if r.nKept > 0 {
				dst = append(dst, ',')
			}
		}
		dst = append(dst, e.with...)
		pos = e.to
	}
	return append(dst, body[pos:]...)
}

// streamOptionsMember is inserted when a streaming request has no stream_options.
var streamOptionsMember = []byte(`"stream_options":{"include_usage":true},`)

// quoteJSON returns s as a JSON string literal. Used at start-up for upstream model names.
func quoteJSON(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// maxCount is what parseCount reads a longer integer as: more tokens than any model writes,
// and a reservation no budget holds, so that a max_tokens of 10 digits cannot slip under the
// budget at the default reservation.
const maxCount = 999_999_999

// parseCount reads a JSON number that is a non-negative integer, at most maxCount.
func parseCount(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n = n*10 + int64(c-'0'); n > maxCount {
			n = maxCount // keep checking that the rest are digits
		}
	}
	return n, true
}
