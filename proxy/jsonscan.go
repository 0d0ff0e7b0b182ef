package proxy

import "bytes"

// This file walks the top level of a JSON object and reports each member's key and the byte
// range of its value, without decoding anything. The gateway needs exactly that: where "model"
// is (to read and rewrite it in place), whether "stream" is true, and where "usage" is in a
// response. A full unmarshal would allocate and re-marshal bodies it has no business changing.
//
// The walker never reads out of bounds and never panics on arbitrary input (fuzzed), but only
// well-formed JSON is guaranteed to be read as a JSON parser would: request bodies are validated
// first (see sonic.go).

// objectIter iterates over the members of one JSON object.
type objectIter struct {
	b        []byte
	i        int
	keyStart int  // index of the opening quote of the member next returned last
	started  bool // a member has been read, so the next one needs a comma
	done     bool
	err      bool
}

// newObjectIter starts at the first non-space byte of b, which must open an object.
func newObjectIter(b []byte) (objectIter, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return objectIter{err: true}, false
	}
	return objectIter{b: b, i: i + 1}, true
}

// next returns the next member's raw key (without quotes; escapes are not decoded and
// hasEscape says whether there were any) and its value's range [vs, ve). ok is false at the end
// of the object or on malformed input; failed() tells which.
func (it *objectIter) next() (key []byte, hasEscape bool, vs, ve int, ok bool) {
	if it.err || it.done {
		return nil, false, 0, 0, false
	}
	b, i := it.b, skipSpace(it.b, it.i)
	if i < len(b) && b[i] == '}' {
		it.done = true
		return nil, false, 0, 0, false
	}
	if it.started {
		if i >= len(b) || b[i] != ',' {
			return it.fail()
		}
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return it.fail()
	}
	it.keyStart = i
	ke, esc := skipString(b, i)
	if ke < 0 {
		return it.fail()
	}
	key = b[i+1 : ke-1]
	i = skipSpace(b, ke)
	if i >= len(b) || b[i] != ':' {
		return it.fail()
	}
	vs = skipSpace(b, i+1)
	ve = skipValue(b, vs)
	if ve < 0 {
		return it.fail()
	}
	it.i, it.started = ve, true
	return key, esc, vs, ve, true
}

func (it *objectIter) fail() ([]byte, bool, int, int, bool) {
	it.err = true
	return nil, false, 0, 0, false
}

// failed reports whether iteration stopped on malformed input rather than at the closing brace.
func (it *objectIter) failed() bool { return it.err || !it.done }

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"', or -1 if unterminated.
//
// Keys and most values are short, plain strings, and a byte loop small enough to be inlined
// reads them fastest. A string with an escape, or still open after shortString bytes (a
// message's content: every answer holds one of hundreds of bytes, read two or three times
// over), goes to skipLongString.
func skipString(b []byte, i int) (end int, hasEscape bool) {
	j := i + 1
	for n := min(len(b), j+shortString); j < n && b[j] != '\\'; j++ {
		if b[j] == '"' {
			return j + 1, false
		}
	}
	return skipLongString(b, j)
}

// shortString is how many bytes of a string skipString reads one by one.
const shortString = 24

// skipLongString finishes skipString from b[j], which no escape covers and where no escape
// was seen before: it jumps from quote to quote with bytes.IndexByte (vectorised) and takes
// the first quote preceded by an even run of backslashes, which is the first one no escape
// covers.
func skipLongString(b []byte, j int) (end int, hasEscape bool) {
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return -1, hasEscape // unterminated: callers do not read hasEscape
		}
		q += j
		if !hasEscape {
			hasEscape = bytes.IndexByte(b[j:q], '\\') >= 0
		}
		k := q
		for k > j && b[k-1] == '\\' {
			k--
		}
		if (q-k)%2 == 0 {
			return q + 1, hasEscape
		}
		j = q + 1
	}
}

// skipValue returns the index after the value starting at b[i], or -1 if it is malformed or
// unterminated. Containers are skipped by bracket depth, strings by their quotes.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := skipString(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			case '"':
				end, _ := skipString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			}
		}
		return -1
	case ',', ':', '}', ']':
		return -1
	default: // number, true, false, null
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' &&
			b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		return j
	}
}

// arrayIter iterates over the elements of one JSON array, reporting each element's range.
type arrayIter struct {
	b       []byte
	i       int
	started bool
	done    bool
	err     bool
}

// newArrayIter starts at the first non-space byte of b, which must open an array.
func newArrayIter(b []byte) (arrayIter, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return arrayIter{err: true}, false
	}
	return arrayIter{b: b, i: i + 1}, true
}

// next returns the next element's range [vs, ve); ok is false at the end or on malformed input.
func (it *arrayIter) next() (vs, ve int, ok bool) {
	if it.err || it.done {
		return 0, 0, false
	}
	b, i := it.b, skipSpace(it.b, it.i)
	if i < len(b) && b[i] == ']' {
		it.done = true
		return 0, 0, false
	}
	if it.started {
		if i >= len(b) || b[i] != ',' {
			it.err = true
			return 0, 0, false
		}
		i = skipSpace(b, i+1)
	}
	vs = i
	ve = skipValue(b, vs)
	if ve < 0 {
		it.err = true
		return 0, 0, false
	}
	it.i, it.started = ve, true
	return vs, ve, true
}

// failed reports whether iteration stopped on malformed input rather than at the closing bracket.
func (it *arrayIter) failed() bool { return it.err || !it.done }
