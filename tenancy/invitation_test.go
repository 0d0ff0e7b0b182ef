package tenancy

import (
	"strings"
	"testing"

	"github.com/arouter/arouter/apikey"
)

func TestInvitationCodes(t *testing.T) {
	t.Parallel()
	a, err := GenerateInvitationCode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateInvitationCode()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || !IsInvitationCode(a) || len(a) != InvitationCodeLen {
		t.Fatalf("codes %q %q", a, b)
	}
	// Neither kind of key is a code, and a code is neither kind of key.
	mgmt, _ := apikey.GenerateManagement()
	inference, _ := apikey.Generate()
	for _, s := range []string{mgmt, inference, "", a[:len(a)-1], a + "0", strings.ToUpper(a), InvitationPrefix + strings.Repeat("g", 64)} {
		if IsInvitationCode(s) {
			t.Errorf("%q taken for an invitation code", s)
		}
	}
	if apikey.IsManagementToken(a) || strings.HasPrefix(a, apikey.Prefix) {
		t.Errorf("an invitation code passes for a key: %q", a)
	}
}
