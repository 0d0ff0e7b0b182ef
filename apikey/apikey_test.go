package apikey

import (
	"strings"
	"testing"
	"time"
)

func TestGenerateIsRandomAndWellFormed(t *testing.T) {
	t.Parallel()
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate()
	if a == b {
		t.Fatal("two tokens are equal")
	}
	if len(a) != TokenLen || !strings.HasPrefix(a, Prefix) {
		t.Fatalf("malformed token %q", a)
	}
}

func TestHashRoundTripAndLabel(t *testing.T) {
	t.Parallel()
	tok := Prefix + strings.Repeat("ab", 32)
	h := HashToken([]byte(tok))
	back, err := ParseHash(h.String())
	if err != nil || back != h {
		t.Fatalf("ParseHash(String()) = %v, %v", back, err)
	}
	if _, err := ParseHash("zz"); err == nil {
		t.Fatal("short hash accepted")
	}
	if _, err := ParseHash(strings.Repeat("g", 64)); err == nil {
		t.Fatal("non-hex hash accepted")
	}
	if got := Label(tok); got != "sk-ar-v1-aba…bab" {
		t.Fatalf("Label = %q", got)
	}
	if strings.Contains(Label(tok), tok[len(Prefix)+3:len(tok)-3]) {
		t.Fatal("label leaks the secret")
	}
}

func TestUsable(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := (&Key{}).Usable(now); err != nil {
		t.Fatalf("plain key: %v", err)
	}
	if err := (&Key{Disabled: true}).Usable(now); err != ErrDisabled {
		t.Fatalf("disabled key: %v", err)
	}
	if err := (&Key{ExpiresAt: now}).Usable(now); err != ErrExpired {
		t.Fatalf("key expiring now: %v", err)
	}
	if err := (&Key{ExpiresAt: now.Add(time.Second)}).Usable(now); err != nil {
		t.Fatalf("key expiring later: %v", err)
	}
}
