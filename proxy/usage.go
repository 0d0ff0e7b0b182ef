package proxy

import (
	"math"

	"github.com/arouter/arouter/catalog"
)

// readUsage fills u from an OpenAI-style usage object (the bytes of the object itself). It
// reports false when the object is malformed. Absent fields, and fields that are not
// non-negative integers, read as zero. It does not allocate.
//
// One walk over the object reads every field. It replaced a sonic path search per field (five
// searches, each from the start of the object, were two thirds of reading a response's usage)
// and reads exactly what those searches read: FuzzReadUsage holds it to them. The searches
// still read the rare objects the walk does not: keys written with escapes.
func readUsage(obj []byte, u *catalog.Usage) bool {
	if !validJSON(obj) {
		return false
	}
	*u = catalog.Usage{}
	it, ok := newObjectIter(obj)
	if !ok {
		return false
	}
	var seen usageFields
	for {
		key, esc, vs, ve, ok := it.next()
		if !ok {
			break
		}
		v := obj[vs:ve]
		switch {
		case esc:
			searchUsage(obj, u)
			return true
		case string(key) == "prompt_tokens":
			seen.first(fieldPrompt, &u.Prompt, v)
		case string(key) == "completion_tokens":
			seen.first(fieldCompletion, &u.Completion, v)
		case string(key) == "prompt_tokens_details" && seen.once(fieldPromptDetails):
			if !readDetails(v, &seen, "cached_tokens", fieldCached, &u.Cached, "cache_write_tokens", fieldCacheWrite, &u.CacheWrite) {
				searchUsage(obj, u)
				return true
			}
		case string(key) == "completion_tokens_details" && seen.once(fieldCompletionDetails):
			if !readDetails(v, &seen, "reasoning_tokens", fieldReasoning, &u.Reasoning, "", 0, nil) {
				searchUsage(obj, u)
				return true
			}
		}
	}
	return !it.failed()
}

// usageFields records which usage members have been read, so that the first of a repeated
// member counts.
type usageFields uint8

const (
	fieldPrompt usageFields = 1 << iota
	fieldCompletion
	fieldPromptDetails
	fieldCompletionDetails
	fieldCached
	fieldCacheWrite
	fieldReasoning
)

// once reports whether f is read for the first time, and marks it read.
func (s *usageFields) once(f usageFields) bool {
	if *s&f != 0 {
		return false
	}
	*s |= f
	return true
}

// first stores the count in v at dst if f is read for the first time.
func (s *usageFields) first(f usageFields, dst *int64, v []byte) {
	if s.once(f) {
		*dst = tokenCount(v)
	}
}

// readDetails reads up to two counts (name1 into dst1, name2 into dst2) from the object v, a
// *_tokens_details object; any other value is ignored, as absent details are. It reports false
// when a key is written with escapes, which only the path searches read.
func readDetails(v []byte, seen *usageFields, name1 string, f1 usageFields, dst1 *int64, name2 string, f2 usageFields, dst2 *int64) bool {
	it, ok := newObjectIter(v)
	if !ok {
		return true
	}
	for {
		key, esc, vs, ve, ok := it.next()
		switch {
		case !ok:
			return true
		case esc:
			return false
		case string(key) == name1:
			seen.first(f1, dst1, v[vs:ve])
		case name2 != "" && string(key) == name2:
			seen.first(f2, dst2, v[vs:ve])
		}
	}
}

// tokenCount reads a non-negative integer within int64. Plain digits are read here; any other
// spelling goes to sonic, as before the walk.
func tokenCount(v []byte) int64 {
	var n int64
	i := 0
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		d := int64(v[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0
		}
		n = n*10 + d
	}
	if i == 0 || i != len(v) {
		return intAt(b2s(v)) // 1e2, 100.0 or "100": rare, and read as the path searches read them
	}
	return n
}
