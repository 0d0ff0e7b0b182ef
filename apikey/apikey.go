// Package apikey defines ARouter's inference API keys: how tokens are minted, how they are hashed
// for storage and lookup, and the immutable key record the rest of the gateway reads.
//
// A token is shown once, at creation. Everything after that — the store, the cache, logs — sees
// only its SHA-256 hash and a short display label.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Prefix starts every ARouter inference token; the version lets the format change later.
const Prefix = "sk-ar-v1-"

// secretHexLen is the length of the random part: 32 random bytes, hex encoded.
const secretHexLen = 64

// TokenLen is the length of a well-formed token.
const TokenLen = len(Prefix) + secretHexLen

// ErrNotFound is returned by stores when no key has the given hash.
var ErrNotFound = errors.New("api key not found")

// Hash is the SHA-256 of a full token; it is the only form in which a key is stored.
type Hash [sha256.Size]byte

// HashToken hashes a presented token. It does not allocate.
func HashToken(token []byte) Hash { return sha256.Sum256(token) }

// String returns the hash as lowercase hex, the form used in URLs and the CLI.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses the hex form produced by String.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("key hash must be %d hex characters, got %d", 2*len(h), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("key hash is not hex: %w", err)
	}
	return h, nil
}

// Generate mints a new random token from the operating system's CSPRNG.
func Generate() (string, error) {
	var secret [secretHexLen / 2]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return Prefix + hex.EncodeToString(secret[:]), nil
}

// Label returns the display form of a token, e.g. "sk-ar-v1-3f9…a01": enough to recognise a
// key in a list, far too little to use it.
func Label(token string) string {
	if len(token) < len(Prefix)+6 {
		return Prefix + "…"
	}
	secret := token[len(Prefix):]
	return Prefix + secret[:3] + "…" + secret[len(secret)-3:]
}

// Key is one inference key as the gateway sees it. Records are immutable once published: a
// change (disable, expiry) produces a new record, so the request path can read a *Key from the
// cache without locks.
type Key struct {
	ID        int64
	Hash      Hash
	Name      string
	Label     string
	Disabled  bool
	CreatedAt time.Time
	ExpiresAt time.Time // zero means the key never expires
}

// ErrDisabled and ErrExpired say why an existing key may not be used.
var (
	ErrDisabled = errors.New("api key is disabled")
	ErrExpired  = errors.New("api key has expired")
)

// Usable reports whether the key may authenticate a request at now.
func (k *Key) Usable(now time.Time) error {
	if k.Disabled {
		return ErrDisabled
	}
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return ErrExpired
	}
	return nil
}
