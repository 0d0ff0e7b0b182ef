package proxy

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/arouter/arouter/providers"
)

// Adapter translates for a provider that does not speak OpenAI's chat completions (Anthropic,
// Gemini). providers/anthropic.Adapter and providers/gemini.Adapter implement it. A provider
// without one gets the zero-copy OpenAI passthrough.
type Adapter = providers.Adapter

// translatedURIs are a deployment's request URIs on a translated route, built once: Path
// allocates, and it would otherwise do so per request.
type translatedURIs struct {
	plain, stream []byte
}

// translateRequestError answers a client request the provider's API cannot express (say, n > 1
// for Anthropic). It is the client's to fix, so it is not retried elsewhere.
func translateRequestError(provider string, err error) *upstreamError {
	md := map[string]string{"provider": provider}
	msg := err.Error()
	var re *providers.RequestError
	if errors.As(err, &re) {
		md["field"] = re.Field
	}
	return &upstreamError{api: newAPIError(400, "provider "+provider+" cannot take this request: "+msg, md), code: "untranslatable"}
}

// translatedStatus maps a native error answer onto the status an OpenAI-compatible provider
// would have sent, so upstreamStatusError classifies it the same way: Gemini answers a bad
// gateway key with 400 API_KEY_INVALID, which is the gateway's fault, not the client's.
func translatedStatus(a Adapter, status int, body []byte) int {
	if status == fasthttp.StatusBadRequest {
		if _, typ := a.ErrorMessage(body); typ == "API_KEY_INVALID" {
			return fasthttp.StatusUnauthorized
		}
	}
	return status
}

// translatedRetryAfter is the provider's retry delay: its header, or (Gemini) its body's.
func translatedRetryAfter(a Adapter, header, body []byte) []byte {
	if len(header) > 0 {
		return header
	}
	if s := a.RetryAfter(body); s != "" {
		return []byte(s)
	}
	return nil
}

// translatedStreamError is the final event's message for a stream the translator stopped.
func translatedStreamError(provider string, err error) (string, string) {
	var ue *providers.UpstreamError
	if errors.As(err, &ue) {
		return "provider " + provider + " reported an error: " + ue.Message, "upstream_stream_error"
	}
	return "provider " + provider + " sent a malformed stream", "upstream_malformed"
}

// appendTranslatedEnd appends what ends a complete translated stream: OpenAI's usage chunk
// (priced on its way through relayEvent) and "data: [DONE]", which native streams lack.
func (r *sseRelay) appendTranslatedEnd() {
	u := r.translator.Usage()
	frame := providers.AppendUsageChunk(r.tbuf[:0], r.x.rec.GenerationID.String(), r.x.model.ID, r.x.rec.Time.Unix(), &u)
	frame = append(frame, "data: [DONE]\n\n"...)
	r.tbuf = frame
	r.relayFrames(frame)
}

// translateEvent feeds one native event to the translator and relays the OpenAI frames it
// produces as if the provider had sent them. A translator error stops the stream.
func (r *sseRelay) translateEvent(ev []byte) {
	if r.streamErr != nil {
		return
	}
	name, data := providers.SplitEvent(ev)
	if data == nil && name == nil {
		return // a comment or an empty event: the relay sends its own keep-alives
	}
	out, err := r.translator.Event(r.tbuf[:0], name, data)
	r.tbuf = out
	r.relayFrames(out)
	if err != nil {
		r.streamErr = err
	}
}

// relayFrames relays each complete OpenAI frame in b.
func (r *sseRelay) relayFrames(b []byte) {
	for len(b) > 0 {
		end := eventEnd(b)
		if end < 0 {
			return
		}
		r.relayOpenAIEvent(b[:end])
		b = b[end:]
	}
}
