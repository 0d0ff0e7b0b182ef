package byok

import "fmt"

// Mode says when an organization's own credential is used for its requests to a provider.
type Mode string

const (
	// Prefer tries the organization's key first and falls back to the platform's key when it
	// fails (the response says so, so nobody is billed on the wrong account unknowingly).
	Prefer Mode = "prefer"
	// Fallback tries the platform's key first and the organization's key when that fails.
	Fallback Mode = "fallback"
	// Only sends the organization's requests to the provider with its key and nothing else:
	// when the key fails, the request fails.
	Only Mode = "only"
)

// ParseMode reads a mode as the API and the store write it.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Prefer, Fallback, Only:
		return m, nil
	}
	return "", fmt.Errorf("%q is not a BYOK mode; use \"prefer\", \"fallback\" or \"only\"", s)
}

func (m Mode) String() string { return string(m) }
