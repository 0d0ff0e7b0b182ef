package byok

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, MasterKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSealer(t testing.TB, cur []byte, old ...[]byte) *Sealer {
	t.Helper()
	s, err := NewSealer(cur, old...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	s := mustSealer(t, newKey(t))
	aad := AAD(7, "openai")
	for _, secret := range []string{"sk-12345678", strings.Repeat("x", 4096), "ключ-🔑-key"} {
		ct := s.Seal([]byte(secret), aad)
		if bytes.Contains(ct, []byte(secret)) {
			t.Fatalf("ciphertext contains the plaintext")
		}
		if len(ct) != headerSize+len(secret)+16 {
			t.Errorf("ciphertext of %d bytes for %d bytes of plaintext", len(ct), len(secret))
		}
		pt, err := s.Open(ct, aad)
		if err != nil || string(pt) != secret {
			t.Fatalf("Open: %q, %v", pt, err)
		}
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	t.Parallel()
	s := mustSealer(t, newKey(t))
	seen := map[string]bool{}
	for range 1000 {
		ct := s.Seal([]byte("same secret"), AAD(1, "p"))
		nonce := string(ct[1+keyIDSize : headerSize])
		if seen[nonce] {
			t.Fatal("a nonce was used twice")
		}
		seen[nonce] = true
	}
}

// A ciphertext is bound to its organization and provider, and any change to it is detected.
func TestOpenRejectsMovedOrAlteredCiphertexts(t *testing.T) {
	t.Parallel()
	s := mustSealer(t, newKey(t))
	ct := s.Seal([]byte("sk-secret-value"), AAD(1, "openai"))
	for name, aad := range map[string][]byte{
		"another organization": AAD(2, "openai"),
		"another provider":     AAD(1, "anthropic"),
		"no aad":               nil,
		"org 11 vs 1+provider": AAD(11, "openai"),
	} {
		if _, err := s.Open(ct, aad); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		pt, err := s.Open(bad, AAD(1, "openai"))
		if err == nil {
			t.Fatalf("flipping a bit of byte %d went unnoticed: %q", i, pt)
		}
		if strings.Contains(err.Error(), "sk-secret") {
			t.Fatalf("error reveals the secret: %v", err)
		}
	}
	for _, short := range [][]byte{nil, ct[:headerSize], ct[:headerSize+15]} {
		if _, err := s.Open(short, AAD(1, "openai")); err == nil {
			t.Errorf("a %d-byte ciphertext opened", len(short))
		}
	}
}

// AAD keeps its fields apart: no two (org, provider) pairs give the same bytes.
func TestAADIsUnambiguous(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, org := range []int64{0, 1, 11, 12, -1} {
		for _, p := range []string{"", "1", "openai", "2openai"} {
			k := string(AAD(org, p))
			if prev, ok := seen[k]; ok {
				t.Errorf("AAD(%d, %q) equals %s", org, p, prev)
			}
			seen[k] = fmt.Sprintf("AAD(%d, %q)", org, p)
		}
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newK := newKey(t), newKey(t)
	before := mustSealer(t, oldKey)
	ct := before.Seal([]byte("sk-rotate-me"), AAD(3, "groq"))

	// With only the new key, the old ciphertext does not open, and the error says what to do.
	onlyNew := mustSealer(t, newK)
	if _, err := onlyNew.Open(ct, AAD(3, "groq")); err == nil || !strings.Contains(err.Error(), EnvMasterKeyOld) {
		t.Fatalf("old ciphertext under the new key alone: %v", err)
	}
	// During the rotation both open it; Reseal moves it to the new key.
	during := mustSealer(t, newK, oldKey)
	if pt, err := during.Open(ct, AAD(3, "groq")); err != nil || string(pt) != "sk-rotate-me" {
		t.Fatalf("Open during rotation: %q, %v", pt, err)
	}
	moved, err := during.Reseal(ct, AAD(3, "groq"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(moved[1:1+keyIDSize], onlyNew.current[:]) {
		t.Errorf("resealed under key %x, want the new key %s", moved[1:1+keyIDSize], onlyNew.KeyID())
	}
	if pt, err := onlyNew.Open(moved, AAD(3, "groq")); err != nil || string(pt) != "sk-rotate-me" {
		t.Fatalf("resealed ciphertext under the new key alone: %q, %v", pt, err)
	}
	if _, err := before.Open(moved, AAD(3, "groq")); err == nil {
		t.Error("the old key alone opens the resealed ciphertext")
	}
	if _, err := during.Reseal(moved, AAD(4, "groq")); err == nil {
		t.Error("Reseal with the wrong aad succeeded")
	}
}

// Relabelling a ciphertext with another key id fails: the header is authenticated.
func TestKeyIDIsAuthenticated(t *testing.T) {
	t.Parallel()
	a, b := newKey(t), newKey(t)
	s := mustSealer(t, a, b)
	ct := s.Seal([]byte("sk-abcdefgh"), AAD(1, "p"))
	idB := idOf(b)
	copy(ct[1:], idB[:])
	if _, err := s.Open(ct, AAD(1, "p")); err == nil {
		t.Fatal("a ciphertext relabelled with another key id opened")
	}
}

func TestNilSealer(t *testing.T) {
	t.Parallel()
	var s *Sealer
	if _, err := s.Open([]byte("anything"), nil); !errors.Is(err, ErrNoMasterKey) {
		t.Errorf("Open on nil: %v", err)
	}
	if s.KeyID() != "" {
		t.Error("nil KeyID")
	}
	if !strings.Contains(ErrNoMasterKey.Error(), "AROUTER_MASTER_KEY") || !strings.Contains(ErrNoMasterKey.Error(), "openssl rand -hex 32") {
		t.Errorf("ErrNoMasterKey does not say what to do: %v", ErrNoMasterKey)
	}
}

func TestNewSealerRejectsBadKeys(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("%d-byte key accepted", n)
		}
		if _, err := NewSealer(newKey(t), make([]byte, n)); err == nil || !strings.Contains(err.Error(), EnvMasterKeyOld) {
			t.Errorf("%d-byte old key: %v", n, err)
		}
	}
}

func TestParseMasterKey(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	for _, s := range []string{
		hex.EncodeToString(k),
		strings.ToUpper(hex.EncodeToString(k)),
		" " + hex.EncodeToString(k) + "\n",
		base64.StdEncoding.EncodeToString(k),
		base64.RawStdEncoding.EncodeToString(k),
		base64.URLEncoding.EncodeToString(k),
		base64.RawURLEncoding.EncodeToString(k),
	} {
		got, err := ParseMasterKey(s)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("ParseMasterKey(%q) = %x, %v", s, got, err)
		}
	}
	secretish := hex.EncodeToString(k)[:62] + "zz"
	for _, s := range []string{"", "short", hex.EncodeToString(k[:16]), base64.StdEncoding.EncodeToString(k[:31]), secretish, hex.EncodeToString(k) + "00"} {
		_, err := ParseMasterKey(s)
		if err == nil {
			t.Errorf("ParseMasterKey(%q) accepted", s)
			continue
		}
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error repeats the input: %v", err)
		}
		if !strings.Contains(err.Error(), "openssl rand -hex 32") {
			t.Errorf("error does not say how to make a key: %v", err)
		}
	}
}

func TestSealerFromEnv(t *testing.T) {
	t.Parallel()
	a, b := newKey(t), newKey(t)
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	s, err := SealerFromEnv(env(nil))
	if s != nil || err != nil {
		t.Fatalf("no key set: %v, %v; want nil, nil", s, err)
	}
	if s, err = SealerFromEnv(env(map[string]string{EnvMasterKey: "  "})); s != nil || err != nil {
		t.Fatalf("blank key: %v, %v; want nil, nil", s, err)
	}
	if _, err := SealerFromEnv(env(map[string]string{EnvMasterKeyOld: hex.EncodeToString(a)})); err == nil {
		t.Error("only the old key set: accepted")
	}
	if _, err := SealerFromEnv(env(map[string]string{EnvMasterKey: "nope"})); err == nil || !strings.Contains(err.Error(), EnvMasterKey) {
		t.Errorf("malformed key: %v", err)
	}
	if _, err := SealerFromEnv(env(map[string]string{EnvMasterKey: hex.EncodeToString(a), EnvMasterKeyOld: "nope"})); err == nil ||
		!strings.Contains(err.Error(), EnvMasterKeyOld) {
		t.Errorf("malformed old key: %v", err)
	}
	old := mustSealer(t, b)
	ct := old.Seal([]byte("sk-from-before"), AAD(1, "p"))
	s, err = SealerFromEnv(env(map[string]string{EnvMasterKey: hex.EncodeToString(a), EnvMasterKeyOld: base64.StdEncoding.EncodeToString(b)}))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := s.Open(ct, AAD(1, "p")); err != nil || string(pt) != "sk-from-before" {
		t.Errorf("old key from the environment: %q, %v", pt, err)
	}
	if s.KeyID() != mustSealer(t, a).KeyID() {
		t.Error("the current key is not AROUTER_MASTER_KEY")
	}
}

func TestParseMode(t *testing.T) {
	t.Parallel()
	for _, m := range []Mode{Prefer, Fallback, Only} {
		if got, err := ParseMode(string(m)); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
	for _, s := range []string{"", "Prefer", "always", "exclusive"} {
		if _, err := ParseMode(s); err == nil {
			t.Errorf("ParseMode(%q) accepted", s)
		}
	}
}

func TestLabel(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, provider, secret, want string }{
		{"", "openai", "sk-proj-abcdefghijklmnop1234", "openai key …1234"},
		{"team key", "openai", "sk-proj-abcdefghijklmnop1234", "team key …1234"},
		{"", "groq", "12345678", "groq key …78"},
		{"", "groq", "123456789012", "groq key …012"},
		{"", "p", "ключ-ключ-ключ-🔑🔑🔑🔑", "p key …🔑🔑🔑🔑"},
	} {
		if got := Label(c.name, c.provider, c.secret); got != c.want {
			t.Errorf("Label(%q, %q, %q) = %q, want %q", c.name, c.provider, c.secret, got, c.want)
		}
	}
}
