package accounting

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
	"time"
)

// GenerationID identifies one request across the response header, the usage record and the
// generation lookup. It is a fixed-size value so that minting one does not allocate:
// "gen-" + 10 characters of millisecond timestamp + 16 characters of per-process randomness
// and counter, in a base-32 alphabet that sorts like the timestamp.
type GenerationID [30]byte

const genAlphabet = "0123456789abcdefghjkmnpqrstvwxyz" // Crockford base 32, lower case

// genCounter starts at a random value so that two processes started in the same millisecond
// do not walk the same sequence; genSalt separates processes further.
var (
	genCounter atomic.Uint64
	genSalt    uint64
)

func init() {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("accounting: no randomness for generation ids: " + err.Error())
	}
	genSalt = binary.LittleEndian.Uint64(b[:8])
	genCounter.Store(binary.LittleEndian.Uint64(b[8:]))
}

// NewGenerationID returns a new id, unique across processes with overwhelming probability.
func NewGenerationID(now time.Time) GenerationID {
	var id GenerationID
	copy(id[:], "gen-")
	ms := uint64(now.UnixMilli())
	for i := 13; i >= 4; i-- {
		id[i] = genAlphabet[ms&31]
		ms >>= 5
	}
	// 80 bits: the counter mixed with the salt, so ids are unpredictable across processes but
	// never repeat within one.
	n := genCounter.Add(1)
	lo := n ^ genSalt
	hi := genSalt >> 48
	for i := 29; i >= 14; i-- {
		id[i] = genAlphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return id
}

// String returns the id as text. It allocates; the hot path uses Bytes.
func (id GenerationID) String() string { return string(id[:]) }

// Bytes returns the id as a byte slice backed by id itself.
func (id *GenerationID) Bytes() []byte { return id[:] }

// IsZero reports whether id was never set.
func (id GenerationID) IsZero() bool { return id[0] == 0 }
