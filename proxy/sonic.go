package proxy

// Every use of sonic lives in this file: each Go release has broken older sonic versions, so
// keeping it behind a few functions keeps an upgrade (or a swap) to one place.

import (
	"strings"
	"unsafe"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/ast"

	"github.com/arouter/arouter/catalog"
)

// b2s views b as a string without copying. The string must not outlive b's current contents.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// validJSON reports whether b is one well-formed JSON value. It does not allocate.
func validJSON(b []byte) bool { return sonic.ValidString(b2s(b)) }

// searchUsage reads usage the slow way, a sonic path search per field: for objects whose keys
// are written with escapes, which readUsage's walk does not decode. obj must be valid JSON.
func searchUsage(obj []byte, u *catalog.Usage) {
	s := b2s(obj)
	u.Prompt = intAt(s, "prompt_tokens")
	u.Completion = intAt(s, "completion_tokens")
	u.Cached = intAt(s, "prompt_tokens_details", "cached_tokens")
	u.CacheWrite = intAt(s, "prompt_tokens_details", "cache_write_tokens")
	u.Reasoning = intAt(s, "completion_tokens_details", "reasoning_tokens")
}

// intAt reads a non-negative integer at path (with no path: s itself). sonic reads numbers
// written as 1e2 or 100.0, and numeric strings, as integers; anything else reads as zero.
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

// stringAt returns a copy of the string at path in a JSON object, or "" when absent or not a
// string (sonic would render a number as its digits). A copy, because obj is a pooled
// response's body and the error that keeps the string outlives it. Used on error bodies, off
// the hot path.
func stringAt(obj []byte, path ...any) string {
	if !validJSON(obj) {
		return ""
	}
	n, err := sonic.GetFromString(b2s(obj), path...)
	if err != nil || n.TypeSafe() != ast.V_STRING {
		return ""
	}
	s, err := n.String()
	if err != nil {
		return ""
	}
	return strings.Clone(s)
}
