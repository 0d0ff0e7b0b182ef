package oai

// Every use of sonic in the adapters lives in this file, as in the proxy: each Go release has
// broken older sonic versions, so it stays behind one function that can fall back to
// encoding/json.

import "github.com/bytedance/sonic"

// native decodes provider output. Strings may alias data (no copy), so a decoded value must not
// outlive the call that decoded it; invalid UTF-8 is kept and replaced when written
// (AppendString).
var native = sonic.Config{NoValidateJSONMarshaler: true}.Froze()

// UnmarshalNative decodes a provider's response body or stream event into v. Client requests
// go through encoding/json instead (Decode), whose errors name the offending field.
func UnmarshalNative(data []byte, v any) error { return native.Unmarshal(data, v) }
