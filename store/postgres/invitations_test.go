package postgres

import (
	"testing"

	"github.com/arouter/arouter/store/storetest"
	"github.com/arouter/arouter/tenancy"
)

// newInvitation and allow are the conformance tests' (see storetest.NewInvitation).
var newInvitation = storetest.NewInvitation

// allow is an authorize callback that lets anyone redeem.
func allow(*tenancy.Invitation, bool) error { return nil }

func TestInvitations(t *testing.T) {
	t.Parallel()
	storetest.TestInvitations(t, harness)
}

func TestInvitationSchema(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	for _, name := range []string{"invitations", "invitations_org_user", "management_keys_user_id"} {
		checkSchemaObject(t, s, name, true)
	}
}
