package sqlite

import (
	"testing"

	"github.com/arouter/arouter/store/storetest"
)

func TestInvitations(t *testing.T) {
	t.Parallel()
	storetest.TestInvitations(t, harness)
}

func TestInvitationSchema(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	for _, name := range []string{"invitations", "invitations_org_user", "management_keys_user_id"} {
		var n int
		if err := s.r.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = ?", name).Scan(&n); err != nil || n != 1 {
			t.Errorf("schema object %s: count %d, err %v", name, n, err)
		}
	}
}
