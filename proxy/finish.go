package proxy

import "github.com/arouter/arouter/accounting"

// choiceFinish returns the finish_reason of the first choice in a choices array that has one
// set (a string, not null), and that choice's native_finish_reason when the provider (an
// upstream gateway such as OpenRouter) sends one; ok is false when no choice has finished. The
// values are the raw bytes between the quotes, pointing into choices. It walks the JSON rather
// than matching bytes, because providers differ in spacing ("finish_reason": "stop"), and it
// serves both a chat.completion's choices and a stream chunk's.
func choiceFinish(choices []byte) (reason, native []byte, ok bool) {
	arr, ok := newArrayIter(choices)
	if !ok {
		return nil, nil, false
	}
	for {
		cs, ce, ok := arr.next()
		if !ok {
			return nil, nil, false
		}
		c := choices[cs:ce]
		it, ok := newObjectIter(c)
		if !ok {
			continue
		}
		reason, native = nil, nil
		for {
			key, _, vs, ve, ok := it.next()
			if !ok {
				break
			}
			switch string(key) {
			case "finish_reason":
				if c[vs] == '"' {
					reason = c[vs+1 : ve-1]
				}
			case "native_finish_reason":
				if c[vs] == '"' {
					native = c[vs+1 : ve-1]
				}
			}
		}
		if reason != nil {
			return reason, native, true
		}
	}
}

// noteFinish records a finish reason read from an OpenAI answer, unless one was recorded
// already (with n > 1 the first choice to finish names it). The native reason is the
// provider's own when it sent one, else the value as sent; on a translated route the adapter
// reports the native one (see providers.Native), so it is left alone.
func (x *exchange) noteFinish(reason, native []byte, translated bool) {
	if x.rec.FinishReason != accounting.FinishNone {
		return
	}
	x.rec.FinishReason = accounting.ParseFinishReason(reason)
	if translated {
		return
	}
	if native == nil {
		native = reason
	}
	x.rec.NativeFinishReason.Set(native)
}

// noteUpstreamID records the provider's id for its answer from an "id" member's value (the
// raw JSON, quotes included), the first time one is seen. Translated routes take it from the
// adapter instead: their answers carry the gateway's id or a made-up one.
func (x *exchange) noteUpstreamID(v []byte) {
	if x.rec.UpstreamID.IsZero() && len(v) >= 2 && v[0] == '"' {
		x.rec.UpstreamID.Set(v[1 : len(v)-1])
	}
}

// translated reports whether the route's provider needs an adapter (Anthropic, Gemini).
func (rt *route) translated() bool { return rt.up != nil && rt.up.adapter != nil }
