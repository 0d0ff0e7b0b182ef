package tenancy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/arouter/arouter/apikey"
)

// InvitationPrefix starts every invitation code. It matches neither key prefix, so a code sent
// as a key (or a key as a code) is recognised without a lookup.
const InvitationPrefix = "sk-ar-inv-v1-"

// InvitationCodeLen is the length of a well-formed invitation code: the prefix and 32 random
// bytes in lowercase hex.
const InvitationCodeLen = len(InvitationPrefix) + 64

// InvitationTTL is how long an invitation code can be redeemed.
const InvitationTTL = 7 * 24 * time.Hour

// Invitation lets UserID, once, obtain a management key acting in OrgID. Adding a member
// creates one, whether or not the user existed, and the Admin hands its code to that person;
// the Admin never holds a key of the member's. Like keys it is stored only as the hash of its
// code (apikey.HashToken).
type Invitation struct {
	ID         int64
	Hash       apikey.Hash
	OrgID      int64
	UserID     int64
	InvitedBy  int64
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RedeemedAt time.Time // zero until redeemed
}

// GenerateInvitationCode mints a new random invitation code from the operating system's CSPRNG.
func GenerateInvitationCode() (string, error) {
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return InvitationPrefix + hex.EncodeToString(secret[:]), nil
}

// IsInvitationCode reports whether s has the form of an invitation code.
func IsInvitationCode(s string) bool {
	if len(s) != InvitationCodeLen || s[:len(InvitationPrefix)] != InvitationPrefix {
		return false
	}
	for _, c := range []byte(s[len(InvitationPrefix):]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
