package byok

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The environment variables that hold the master keys.
const (
	EnvMasterKey    = "AROUTER_MASTER_KEY"
	EnvMasterKeyOld = "AROUTER_MASTER_KEY_OLD"
)

// MasterKeySize is the length of a master key: AES-256.
const MasterKeySize = 32

// ErrNoMasterKey is what storing a provider key answers when no master key is configured.
var ErrNoMasterKey = errors.New("set " + EnvMasterKey + " to store provider keys (generate one with: openssl rand -hex 32)")

// Ciphertext layout: version (1 byte) | key id (8) | nonce (12) | AES-GCM ciphertext and tag.
// The version and key id are authenticated too (they are part of GCM's additional data), so a
// ciphertext cannot be relabelled as sealed under another key.
const (
	version1   = 1
	keyIDSize  = 8
	nonceSize  = 12
	headerSize = 1 + keyIDSize + nonceSize
)

// keyID names a master key in ciphertexts without revealing it: the first 8 bytes of a
// domain-separated SHA-256 of the key.
type keyID [keyIDSize]byte

func idOf(key []byte) keyID {
	h := sha256.Sum256(append([]byte("arouter byok master key id\x00"), key...))
	return keyID(h[:keyIDSize])
}

// Sealer encrypts provider secrets under the current master key and decrypts them under the
// current or an old one, so that the master key can be rotated: while both are configured,
// Reseal moves each ciphertext to the current key. It is safe for concurrent use.
//
// A nil *Sealer means no master key is configured: Open returns ErrNoMasterKey, and Seal must
// not be called.
type Sealer struct {
	current keyID
	aeads   map[keyID]cipher.AEAD
}

// NewSealer returns a Sealer sealing under current and opening under current or any of old.
// Every key must be MasterKeySize bytes.
func NewSealer(current []byte, old ...[]byte) (*Sealer, error) {
	s := &Sealer{aeads: map[keyID]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, old...) {
		if len(key) != MasterKeySize {
			what := EnvMasterKey
			if i > 0 {
				what = EnvMasterKeyOld
			}
			return nil, fmt.Errorf("%s: a master key must be %d bytes, got %d", what, MasterKeySize, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := idOf(key)
		if i == 0 {
			s.current = id
		}
		s.aeads[id] = aead
	}
	return s, nil
}

// KeyID returns the current master key's id in hex, for logs: it tells which key is in use
// without revealing it.
// A nil Sealer has no key: "".
func (s *Sealer) KeyID() string {
	if s == nil {
		return ""
	}
	return hex.EncodeToString(s.current[:])
}

// Seal encrypts plaintext under the current master key with a fresh random nonce, binding it
// to aad (use AAD): the result opens only with the same aad.
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	if s == nil {
		panic("byok: Seal on a nil Sealer: " + ErrNoMasterKey.Error())
	}
	out := make([]byte, headerSize, headerSize+len(plaintext)+16)
	out[0] = version1
	copy(out[1:], s.current[:])
	nonce := out[1+keyIDSize : headerSize]
	_, _ = rand.Read(nonce) // never fails (crypto/rand crashes the program instead)
	return s.aeads[s.current].Seal(out, nonce, plaintext, additional(out[:1+keyIDSize], aad))
}

// Open decrypts a ciphertext made by Seal with the same aad, under whichever configured master
// key sealed it. Errors never contain key material or plaintext.
func (s *Sealer) Open(ciphertext, aad []byte) ([]byte, error) {
	if s == nil {
		return nil, ErrNoMasterKey
	}
	if len(ciphertext) < headerSize+16 || ciphertext[0] != version1 {
		return nil, errors.New("not a sealed BYOK credential (unknown format)")
	}
	id := keyID(ciphertext[1 : 1+keyIDSize])
	aead, ok := s.aeads[id]
	if !ok {
		return nil, fmt.Errorf("sealed under master key %x, which is neither %s (%s) nor %s; set the key it was sealed with as %s, or delete and re-add the credential",
			id[:], EnvMasterKey, s.KeyID(), EnvMasterKeyOld, EnvMasterKeyOld)
	}
	pt, err := aead.Open(nil, ciphertext[1+keyIDSize:headerSize], ciphertext[headerSize:], additional(ciphertext[:1+keyIDSize], aad))
	if err != nil {
		return nil, errors.New("authentication failed: the ciphertext was altered or belongs to another organization or provider")
	}
	return pt, nil
}

// Reseal opens ciphertext under whichever configured key sealed it and seals it again under
// the current key: the step of a master key rotation.
func (s *Sealer) Reseal(ciphertext, aad []byte) ([]byte, error) {
	pt, err := s.Open(ciphertext, aad)
	if err != nil {
		return nil, err
	}
	out := s.Seal(pt, aad)
	clear(pt)
	return out, nil
}

// additional is GCM's additional data: the ciphertext's header, then the caller's aad.
func additional(header, aad []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(aad)), header...), aad...)
}

// AAD is the additional data that binds a credential's ciphertext to its row: the
// organization and the provider. A ciphertext copied to another organization's or provider's
// row fails to open.
func AAD(orgID int64, provider string) []byte {
	b := append([]byte("arouter byok v1\x00org "), strconv.FormatInt(orgID, 10)...)
	return append(append(b, "\x00provider "...), provider...)
}

// ParseMasterKey reads a master key written as 64 hex digits or as base64 (standard or URL
// alphabet, padded or not) of 32 bytes. The error never repeats the input.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*MasterKeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == MasterKeySize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("a master key must be %d random bytes written as %d hex digits or base64; generate one with: openssl rand -hex 32",
		MasterKeySize, 2*MasterKeySize)
}

// SealerFromEnv builds the Sealer from AROUTER_MASTER_KEY and, during a rotation,
// AROUTER_MASTER_KEY_OLD, read through lookup (os.LookupEnv). With no master key set it
// returns nil and no error: BYOK is then unavailable, and storing a provider key answers
// ErrNoMasterKey. A malformed key is an error.
func SealerFromEnv(lookup func(string) (string, bool)) (*Sealer, error) {
	get := func(name string) string { v, _ := lookup(name); return strings.TrimSpace(v) }
	cur, old := get(EnvMasterKey), get(EnvMasterKeyOld)
	if cur == "" {
		if old != "" {
			return nil, fmt.Errorf("%s is set but %s is not: during a rotation set %s to the new key and %s to the old one",
				EnvMasterKeyOld, EnvMasterKey, EnvMasterKey, EnvMasterKeyOld)
		}
		return nil, nil
	}
	key, err := ParseMasterKey(cur)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvMasterKey, err)
	}
	var olds [][]byte
	if old != "" {
		k, err := ParseMasterKey(old)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvMasterKeyOld, err)
		}
		olds = append(olds, k)
	}
	return NewSealer(key, olds...)
}
