package proxy

// Every use of sonic lives in this file: each Go release has broken older sonic versions, so
// keeping it behind a few functions keeps an upgrade (or a swap) to one place.

import (
	"unsafe"

	"github.com/bytedance/sonic"

	"github.com/arouter/arouter/catalog"
)

// b2s views b as a string without copying. The string must not outlive b's current contents.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// validJSON reports whether b is one well-formed JSON value. It does not allocate.
func validJSON(b []byte) bool { return sonic.ValidString(b2s(b)) }

// readUsage fills u from an OpenAI-style usage object (the bytes of the object itself). It
// reports false when the object is malformed. Absent fields read as zero. It does not allocate.
func readUsage(obj []byte, u *catalog.Usage) bool {
	if !validJSON(obj) {
		return false
	}
	s := b2s(obj)
	u.Prompt = intAt(s, "prompt_tokens")
	u.Completion = intAt(s, "completion_tokens")
	u.Cached = intAt(s, "prompt_tokens_details", "cached_tokens")
	u.CacheWrite = intAt(s, "prompt_tokens_details", "cache_write_tokens")
	u.Reasoning = intAt(s, "completion_tokens_details", "reasoning_tokens")
	return true
}

// intAt reads a non-negative integer at path; anything else reads as zero.
func intAt(s string, path ...any) int64 {
	n, err := sonic.GetFromString(s, path...)
	if err != nil {
		return 0
	}
	v, err := n.Int64()
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// stringAt returns the string at path in a JSON object, or "" when absent or not a string. The
// result may alias obj. Used on error bodies, off the hot path.
func stringAt(obj []byte, path ...any) string {
	if !validJSON(obj) {
		return ""
	}
	n, err := sonic.GetFromString(b2s(obj), path...)
	if err != nil {
		return ""
	}
	s, err := n.String()
	if err != nil {
		return ""
	}
	return s
}
