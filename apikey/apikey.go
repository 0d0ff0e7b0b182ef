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
	"strings"
	"time"

	"github.com/arouter/arouter/money"
)

// Prefix starts every ARouter inference token; the version lets the format change later.
const Prefix = "sk-ar-v1-"

// ManagementPrefix starts every management token. The two prefixes never match each other's
// tokens, so a token's kind is known before any lookup: a management key sent to an inference
// endpoint (or the reverse) is refused without touching the store.
const ManagementPrefix = "sk-ar-mgmt-v1-"

// secretHexLen is the length of the random part: 32 random bytes, hex encoded.
const secretHexLen = 64

// TokenLen is the length of a well-formed inference token.
const TokenLen = len(Prefix) + secretHexLen

// ManagementTokenLen is the length of a well-formed management token.
const ManagementTokenLen = len(ManagementPrefix) + secretHexLen

// ErrNotFound is returned by stores when no key has the given hash.
var ErrNotFound = errors.New("api key not found")

// ErrRotated is returned by stores asked to rotate a key that already has a live successor:
// the successor is the key to rotate. Rotating the old one again would make a second successor
// that inherits the old key's grace-period expiry and dies with it.
var ErrRotated = errors.New("api key already rotated")

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

// Generate mints a new random inference token from the operating system's CSPRNG.
func Generate() (string, error) { return generate(Prefix) }

// GenerateManagement mints a new random management token.
func GenerateManagement() (string, error) { return generate(ManagementPrefix) }

func generate(prefix string) (string, error) {
	var secret [secretHexLen / 2]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return prefix + hex.EncodeToString(secret[:]), nil
}

// IsManagementToken reports whether token has the form of a management token.
func IsManagementToken(token string) bool {
	return len(token) == ManagementTokenLen && token[:len(ManagementPrefix)] == ManagementPrefix && isHex(token[len(ManagementPrefix):])
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Label returns the display form of a token, e.g. "sk-ar-v1-3f9…a01": enough to recognise a
// key in a list, far too little to use it.
func Label(token string) string {
	prefix := Prefix
	if len(token) >= len(ManagementPrefix) && token[:len(ManagementPrefix)] == ManagementPrefix {
		prefix = ManagementPrefix
	}
	if len(token) < len(prefix)+6 {
		return prefix + "…"
	}
	secret := token[len(prefix):]
	return prefix + secret[:3] + "…" + secret[len(secret)-3:]
}

// Key is one inference key as the gateway sees it. Records are immutable once published: a
// change (disable, expiry) produces a new record, so the request path can read a *Key from the
// cache without locks.
type Key struct {
	ID    int64
	Hash  Hash
	Name  string
	Label string

	// OrgID is the context (an organization, or a user's personal context) the key belongs to
	// and whose credit pool it spends; CreatorID is the user who created it.
	OrgID     int64
	CreatorID int64
	// BudgetID names the spend counter the key's limit applies to. It is the key's own ID,
	// except for a key made by rotation, which inherits its predecessor's: rotating a key
	// neither resets its spend nor, during a grace period, doubles its limit.
	BudgetID int64

	Disabled bool
	// Limit caps the key's spend per LimitReset period (all time when LimitReset is NoReset);
	// HasLimit false means no cap beyond the context's credits.
	Limit      money.Nanos
	HasLimit   bool
	LimitReset Period
	// AllowedModels restricts the models the key may call: exact ids, or a prefix ending in
	// "*" such as "anthropic/*". Empty allows every model.
	AllowedModels      []string
	IncludeBYOKInLimit bool
	// PromptLogging is the key's own opt-in to prompt logging, as set through the Management
	// API. LogPrompts is what the gateway acts on: the key's opt-in or its organization's,
	// resolved by the store whenever the key is loaded, so that an organization's change
	// reaches its keys with their next load. When it is false nothing of a request's body or
	// answer is kept.
	PromptLogging bool
	LogPrompts    bool

	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time // zero means the key never expires
}

// AllowsModel reports whether the key may call the model with id model. It does not allocate.
func (k *Key) AllowsModel(model string) bool {
	if len(k.AllowedModels) == 0 {
		return true
	}
	for _, p := range k.AllowedModels {
		if MatchModel(p, model) {
			return true
		}
	}
	return false
}

// MatchModel reports whether model matches pattern: equal, or starting with pattern's text
// before a final "*".
func MatchModel(pattern, model string) bool {
	if n := len(pattern); n > 0 && pattern[n-1] == '*' {
		return strings.HasPrefix(model, pattern[:n-1])
	}
	return pattern == model
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

// Filter selects keys for listing, newest first.
type Filter struct {
	OrgID           int64
	CreatorID       int64 // 0: every creator
	IncludeDisabled bool
	Offset, Limit   int
}
