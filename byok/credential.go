package byok

import "time"

// Credential is an organization's provider key, opened. Secret is in clear: it lives in memory
// only and must never be logged, stored or returned by an API (use Label).
type Credential struct {
	ID        int64
	OrgID     int64
	Provider  string // provider id from the configuration
	Label     string // e.g. "openai key …abcd"; safe to show and log
	Mode      Mode
	Secret    string // empty when the credential could not be opened: see Usable
	CreatedAt time.Time
}

// Usable reports whether the credential was opened. A credential sealed under a master key
// the process does not have (or with no master key at all) is still listed by the Cache, so
// that the request path can tell "this organization has a key it cannot use" from "this
// organization has no key": with Only it must refuse the request rather than silently use the
// platform's key.
func (c *Credential) Usable() bool { return c.Secret != "" }

// SealedCredential is a credential as the store holds it: the secret sealed by a Sealer with
// AAD(OrgID, Provider) as additional data.
type SealedCredential struct {
	ID         int64
	OrgID      int64
	Provider   string
	Label      string
	Mode       Mode
	Ciphertext []byte
	CreatedAt  time.Time
}

// labelTail is how many trailing characters of a secret a label shows.
const labelTail = 4

// Label names a credential for display: name (the provider id plus " key" when empty) and
// the secret's last four characters, e.g. "openai key …abcd". Four characters tell two keys
// apart without weakening either; a secret shorter than 16 characters shows a quarter of its
// length at most, so a label never gives away much of a short key.
func Label(name, provider, secret string) string {
	if name == "" {
		name = provider + " key"
	}
	r := []rune(secret)
	n := min(labelTail, len(r)/4)
	return name + " …" + string(r[len(r)-n:])
}
