package oai

import "errors"

// RequestError is a client request that cannot be translated: the gateway answers 400 and
// names Field, so the client knows what to change. Field uses the request's own JSON path
// ("messages[2].content[0].image_url.url"); it is empty when the body as a whole is at fault.
type RequestError struct {
	Field   string
	Message string
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// UpstreamError is an error the provider reported in a stream (Anthropic's "error" event,
// Gemini's error object) or in place of a response body. Type is the provider's own error type
// ("overloaded_error", "RESOURCE_EXHAUSTED"); Message is its text.
type UpstreamError struct {
	Type    string
	Message string
}

func (e *UpstreamError) Error() string {
	if e.Type == "" {
		return "provider error: " + e.Message
	}
	return "provider error " + e.Type + ": " + e.Message
}

// ErrMalformed means the provider sent something that is not its documented format: a body or
// event that is not JSON, or not the expected object. The gateway treats it as a provider
// failure (502), not a client error.
var ErrMalformed = errors.New("provider sent a malformed response")
