// Package apierror renders ARouter's error shape, shared by the inference endpoints and the
// Management API so that clients parse one format everywhere:
//
//	{"error":{"code":<status>,"message":"…","type":"…","param":"…","metadata":{…}}}
//
// code and message are OpenRouter's shape; type and param mirror OpenAI's, so that OpenAI SDKs
// fill their error classes' type and param fields too. param, the request field at fault, is
// there only when known.
package apierror

import (
	"encoding/json"
	"net/http"
)

// Body renders an error. metadata may be nil.
func Body(status int, message string, metadata map[string]string) []byte {
	return BodyWithParam(status, message, "", metadata)
}

// BodyWithParam renders an error about the request field param ("" for none).
func BodyWithParam(status int, message, param string, metadata map[string]string) []byte {
	type inner struct {
		Code     int               `json:"code"`
		Message  string            `json:"message"`
		Type     string            `json:"type"`
		Param    string            `json:"param,omitempty"`
		Metadata map[string]string `json:"metadata,omitempty"`
	}
	b, _ := json.Marshal(struct {
		Error inner `json:"error"`
	}{inner{status, message, Type(status), param, metadata}})
	return b
}

// Type maps a status to the OpenAI error type an SDK user would expect.
func Type(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusConflict,
		http.StatusRequestEntityTooLarge, http.StatusRequestHeaderFieldsTooLarge, http.StatusUnsupportedMediaType:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "insufficient_quota"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return "timeout_error"
	default:
		return "api_error"
	}
}
