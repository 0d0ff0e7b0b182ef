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
	var seen usageFields
	ok, escaped := readCounts(obj, 0, u, &seen)
	if escaped {
		searchUsage(obj, u)
		return true
	}
	return ok
}

// readCounts walks v, the usage object (parent 0) or one of its details objects (parent is
// that field), storing every count it holds and walking the details objects in turn. ok is
// false when v is not an object; escaped is true when a key is written with escapes, which
// only the path searches read.
func readCounts(v []byte, parent usageFields, u *catalog.Usage, seen *usageFields) (ok, escaped bool) {
	it, ok := newObjectIter(v)
	if !ok {
		return false, false
	}
	for {
		key, esc, vs, ve, more := it.next()
		if !more {
			return !it.failed(), false
		}
		if esc {
			return true, true
		}
		f, dst := usageField(u, parent, key)
		switch {
		case f == 0:
		case dst != nil:
			seen.first(f, dst, v[vs:ve])
		case seen.once(f): // a details object; anything but an object there reads as absent
			if _, esc := readCounts(v[vs:ve], f, u, seen); esc {
				return true, true
			}
		}
	}
}

// usageField names the member key of the usage object (parent 0) or of its details object
// parent: the field it is and, for a count, where it goes in u. f is 0 for members not read.
func usageField(u *catalog.Usage, parent usageFields, key []byte) (f usageFields, dst *int64) {
	switch parent {
	case 0:
		switch string(key) {
		case "prompt_tokens":
			return fieldPrompt, &u.Prompt
		case "completion_tokens":
			return fieldCompletion, &u.Completion
		case "prompt_tokens_details":
			return fieldPromptDetails, nil
		case "completion_tokens_details":
			return fieldCompletionDetails, nil
		}
	case fieldPromptDetails:
		switch string(key) {
		case "cached_tokens":
			return fieldCached, &u.Cached
		case "cache_write_tokens":
			return fieldCacheWrite, &u.CacheWrite
		}
	case fieldCompletionDetails:
		if string(key) == "reasoning_tokens" {
			return fieldReasoning, &u.Reasoning
		}
	}
	return 0, nil
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
