package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arouter/arouter/admin"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

var _ admin.Store = (*Store)(nil)

func countRows(t testing.TB, s *Store, table string) int {
	t.Helper()
	var n int
	must(t, s.r.QueryRow("SELECT count(*) FROM "+table).Scan(&n))
	return n
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	if n, err := s.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("CountUsers on a fresh store: %d, %v", n, err)
	}
	if _, err := s.InstanceAdmin(ctx); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("InstanceAdmin on a fresh store: %v, want tenancy.ErrNotFound", err)
	}

	created := time.Date(2026, 1, 2, 3, 4, 5, 678_999_000, time.FixedZone("x", -3600))
	u := &tenancy.User{Email: "Admin@Example.com", Name: "Ada", InstanceAdmin: true, CreatedAt: created}
	must(t, s.CreateUser(ctx, u))
	want := tenancy.User{ID: u.ID, Email: "Admin@Example.com", Name: "Ada", InstanceAdmin: true,
		PersonalOrgID: u.PersonalOrgID, CreatedAt: time.Date(2026, 1, 2, 4, 4, 5, 678_000_000, time.UTC)}
	if u.ID == 0 || u.PersonalOrgID == 0 || *u != want {
		t.Fatalf("CreateUser set %+v", *u)
	}
	for _, email := range []string{"Admin@Example.com", "admin@example.com", "ADMIN@EXAMPLE.COM"} {
		got, err := s.UserByEmail(ctx, email)
		if err != nil || *got != want {
			t.Errorf("UserByEmail(%q): %+v, %v", email, got, err)
		}
	}
	if got, err := s.InstanceAdmin(ctx); err != nil || *got != want {
		t.Errorf("InstanceAdmin: %+v, %v", got, err)
	}
	orgs, err := s.OrgsOfUser(ctx, u.ID)
	wantOrg := tenancy.Membership{Org: tenancy.Org{ID: u.PersonalOrgID, Name: "Ada (personal)", Personal: true,
		CreatedAt: want.CreatedAt}, Role: tenancy.RoleAdmin}
	if err != nil || len(orgs) != 1 || orgs[0] != wantOrg {
		t.Errorf("OrgsOfUser: %+v, %v; want [%+v]", orgs, err, wantOrg)
	}

	// Zero CreatedAt is now; a second user is not an instance admin.
	before := time.Now().Add(-time.Millisecond)
	plain := newUser(t, s, "bob")
	if plain.CreatedAt.Before(before) || plain.CreatedAt.After(time.Now()) || plain.CreatedAt.Location() != time.UTC {
		t.Errorf("zero CreatedAt became %v", plain.CreatedAt)
	}
	if got, err := s.InstanceAdmin(ctx); err != nil || got.ID != u.ID {
		t.Errorf("InstanceAdmin after a second user: %+v, %v", got, err)
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 2 {
		t.Errorf("CountUsers: %d, %v; want 2", n, err)
	}

	// Duplicates leave nothing behind: no user, no personal context, no membership.
	for _, dup := range []*tenancy.User{
		{Email: "admin@EXAMPLE.com", Name: "same email"},
		{Email: "bob@example.com", Name: "same email"},
		{Email: "new@example.com", Name: "second instance admin", InstanceAdmin: true},
	} {
		orgsBefore := countRows(t, s, "orgs")
		err := s.CreateUser(ctx, dup)
		if !errors.Is(err, tenancy.ErrExists) {
			t.Errorf("CreateUser(%s): %v, want tenancy.ErrExists", dup.Name, err)
		}
		if dup.ID != 0 || dup.PersonalOrgID != 0 || !dup.CreatedAt.IsZero() {
			t.Errorf("failed CreateUser changed the user: %+v", *dup)
		}
		if n := countRows(t, s, "orgs"); n != orgsBefore {
			t.Errorf("failed CreateUser(%s) left an organization behind", dup.Name)
		}
	}
	if n := countRows(t, s, "memberships"); n != 2 {
		t.Errorf("%d memberships, want 2", n)
	}
	if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("UserByEmail unknown: %v, want tenancy.ErrNotFound", err)
	}
}

func TestCreateOrgAndMembers(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	alice, bob, carol := newUser(t, s, "alice"), newUser(t, s, "bob"), newUser(t, s, "carol")

	o := &tenancy.Org{Name: "Acme"}
	if err := s.CreateOrg(ctx, o, 999); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("CreateOrg with an unknown admin: %v, want tenancy.ErrNotFound", err)
	}
	if o.ID != 0 || countRows(t, s, "orgs") != 3 {
		t.Fatalf("failed CreateOrg left a trace: %+v", *o)
	}
	must(t, s.CreateOrg(ctx, o, alice.ID))
	if o.ID == 0 || o.CreatedAt.IsZero() || o.Personal {
		t.Fatalf("CreateOrg set %+v", *o)
	}
	must(t, s.AddMember(ctx, o.ID, bob.ID, tenancy.RoleMember))
	must(t, s.AddMember(ctx, o.ID, carol.ID, tenancy.RoleAdmin))

	members, err := s.Members(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range members {
		got = append(got, fmt.Sprintf("%s:%s", m.User.Name, m.Role))
		if m.JoinedAt.IsZero() || m.User.PersonalOrgID == 0 || m.User.Email != m.User.Name+"@example.com" {
			t.Errorf("member %+v incomplete", m)
		}
	}
	if want := []string{"alice:admin", "bob:member", "carol:admin"}; !slices.Equal(got, want) {
		t.Errorf("Members: %v, want %v", got, want)
	}
	if ms, err := s.Members(ctx, alice.PersonalOrgID); err != nil || len(ms) != 1 || ms[0].User != *alice {
		t.Errorf("Members of a personal context: %+v, %v", ms, err)
	}
	if _, err := s.Members(ctx, 999); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("Members of an unknown org: %v, want tenancy.ErrNotFound", err)
	}

	mships, err := s.OrgsOfUser(ctx, bob.ID)
	if err != nil || len(mships) != 2 || mships[0].Org.ID != bob.PersonalOrgID || mships[0].Role != tenancy.RoleAdmin ||
		!reflect.DeepEqual(mships[1], tenancy.Membership{Org: *o, Role: tenancy.RoleMember}) {
		t.Errorf("OrgsOfUser(bob): %+v, %v", mships, err)
	}
	if ms, err := s.OrgsOfUser(ctx, 999); err != nil || len(ms) != 0 {
		t.Errorf("OrgsOfUser of an unknown user: %+v, %v", ms, err)
	}
}

func TestAddMemberRefusals(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	o := newOrg(t, s, "acme", alice.ID)
	must(t, s.AddMember(ctx, o.ID, bob.ID, tenancy.RoleMember))
	cases := []struct {
		name          string
		org, user     int64
		role          tenancy.Role
		want          error // nil: any error, not a sentinel
		wantSentinels bool
	}{
		{"existing member", o.ID, bob.ID, tenancy.RoleAdmin, tenancy.ErrExists, true},
		{"existing admin", o.ID, alice.ID, tenancy.RoleMember, tenancy.ErrExists, true},
		{"unknown org", 999, bob.ID, tenancy.RoleMember, tenancy.ErrNotFound, true},
		{"unknown user", o.ID, 999, tenancy.RoleMember, tenancy.ErrNotFound, true},
		{"bad role", o.ID, 999, "owner", nil, false},
		{"empty role", o.ID, 999, "", nil, false},
	}
	for _, c := range cases {
		err := s.AddMember(ctx, c.org, c.user, c.role)
		if err == nil || c.wantSentinels && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if ms, err := s.Members(ctx, o.ID); err != nil || len(ms) != 2 || ms[1].Role != tenancy.RoleMember {
		t.Errorf("members changed: %+v, %v", ms, err)
	}
}

func TestSetMemberRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type world struct {
		s                *Store
		org, other       *tenancy.Org
		alice, bob, dave *tenancy.User // alice admin, bob member of org; dave admin of other
	}
	setup := func(t *testing.T) world {
		s := openTest(t)
		w := world{s: s, alice: newUser(t, s, "alice"), bob: newUser(t, s, "bob"), dave: newUser(t, s, "dave")}
		w.org = newOrg(t, s, "acme", w.alice.ID)
		w.other = newOrg(t, s, "other", w.dave.ID)
		must(t, s.AddMember(ctx, w.org.ID, w.bob.ID, tenancy.RoleMember))
		return w
	}
	cases := []struct {
		name  string
		do    func(w world) error
		want  error
		roles string // roles in org afterwards
	}{
		{"promote", func(w world) error { return w.s.SetMemberRole(ctx, w.org.ID, w.bob.ID, tenancy.RoleAdmin) }, nil, "alice:admin bob:admin"},
		{"demote with another admin", func(w world) error {
			must(t, w.s.SetMemberRole(ctx, w.org.ID, w.bob.ID, tenancy.RoleAdmin))
			return w.s.SetMemberRole(ctx, w.org.ID, w.alice.ID, tenancy.RoleMember)
		}, nil, "alice:member bob:admin"},
		{"demote the last admin", func(w world) error { return w.s.SetMemberRole(ctx, w.org.ID, w.alice.ID, tenancy.RoleMember) },
			tenancy.ErrLastAdmin, "alice:admin bob:member"},
		{"last admin stays admin", func(w world) error { return w.s.SetMemberRole(ctx, w.org.ID, w.alice.ID, tenancy.RoleAdmin) },
			nil, "alice:admin bob:member"},
		{"member stays member", func(w world) error { return w.s.SetMemberRole(ctx, w.org.ID, w.bob.ID, tenancy.RoleMember) },
			nil, "alice:admin bob:member"},
		{"not a member", func(w world) error { return w.s.SetMemberRole(ctx, w.org.ID, w.dave.ID, tenancy.RoleMember) },
			tenancy.ErrNotFound, "alice:admin bob:member"},
		{"through another org", func(w world) error { return w.s.SetMemberRole(ctx, w.other.ID, w.bob.ID, tenancy.RoleAdmin) },
			tenancy.ErrNotFound, "alice:admin bob:member"},
		{"unknown org", func(w world) error { return w.s.SetMemberRole(ctx, 999, w.bob.ID, tenancy.RoleAdmin) },
			tenancy.ErrNotFound, "alice:admin bob:member"},
		{"demote in personal context", func(w world) error {
			return w.s.SetMemberRole(ctx, w.alice.PersonalOrgID, w.alice.ID, tenancy.RoleMember)
		}, tenancy.ErrLastAdmin, "alice:admin bob:member"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := setup(t)
			err := c.do(w)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if got := roles(t, w.s, w.org.ID); got != c.roles {
				t.Errorf("roles %q, want %q", got, c.roles)
			}
		})
	}
	t.Run("bad role", func(t *testing.T) {
		t.Parallel()
		w := setup(t)
		if err := w.s.SetMemberRole(ctx, w.org.ID, w.bob.ID, "owner"); err == nil {
			t.Fatal("role owner accepted")
		}
	})
}

func TestRemoveMember(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	alice, bob, carol := newUser(t, s, "alice"), newUser(t, s, "bob"), newUser(t, s, "carol")
	org := newOrg(t, s, "acme", alice.ID)
	other := newOrg(t, s, "other", carol.ID)
	must(t, s.AddMember(ctx, org.ID, bob.ID, tenancy.RoleMember))
	must(t, s.AddMember(ctx, other.ID, bob.ID, tenancy.RoleMember))

	// Bob's keys: two live in org (one already disabled), one deleted in org, one in other,
	// one personal. Alice has a key in org too.
	bobLive := newOrgKey(t, s, 1, org.ID, bob.ID)
	bobDisabled := newOrgKey(t, s, 2, org.ID, bob.ID)
	must(t, s.SetKeyDisabled(ctx, bobDisabled.Hash, true))
	bobDisabled, _ = s.LoadKey(ctx, bobDisabled.Hash)
	bobDeleted := newOrgKey(t, s, 3, org.ID, bob.ID)
	must(t, s.DeleteKey(ctx, bobDeleted.Hash, org.ID))
	bobOther := newOrgKey(t, s, 4, other.ID, bob.ID)
	bobPersonal := newOrgKey(t, s, 5, bob.PersonalOrgID, bob.ID)
	aliceKey := newOrgKey(t, s, 6, org.ID, alice.ID)
	mk := func(i int, user, orgID int64) *tenancy.ManagementKey {
		k := newManagementKey(i, user, orgID)
		must(t, s.InsertManagementKey(ctx, k))
		return k
	}
	bobMgmt, bobMgmtOther, aliceMgmt := mk(1, bob.ID, org.ID), mk(2, bob.ID, other.ID), mk(3, alice.ID, org.ID)

	for _, c := range []struct {
		name      string
		org, user int64
		want      error
	}{
		{"not a member", org.ID, carol.ID, tenancy.ErrNotFound},
		{"unknown org", 999, bob.ID, tenancy.ErrNotFound},
		{"last admin", org.ID, alice.ID, tenancy.ErrLastAdmin},
		{"own personal context", bob.PersonalOrgID, bob.ID, tenancy.ErrLastAdmin},
	} {
		if hs, err := s.RemoveMember(ctx, c.org, c.user); !errors.Is(err, c.want) || hs != nil {
			t.Errorf("%s: %v, %v; want %v", c.name, hs, err, c.want)
		}
	}

	before := time.Now().Add(-time.Millisecond)
	hashes, err := s.RemoveMember(ctx, org.ID, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(hashes, func(a, b apikey.Hash) int { return slices.Compare(a[:], b[:]) })
	want := []apikey.Hash{bobLive.Hash, bobDisabled.Hash}
	slices.SortFunc(want, func(a, b apikey.Hash) int { return slices.Compare(a[:], b[:]) })
	if !slices.Equal(hashes, want) {
		t.Errorf("RemoveMember returned %v, want %v", hashes, want)
	}
	if got := roles(t, s, org.ID); got != "alice:admin" {
		t.Errorf("roles after removal: %q", got)
	}
	if got := roles(t, s, other.ID); got != "bob:member carol:admin" {
		t.Errorf("other org's roles changed: %q", got)
	}
	// Bob's key disabled now, the disabled one untouched, the rest unchanged.
	if got, err := s.LoadKey(ctx, bobLive.Hash); err != nil || !got.Disabled || got.UpdatedAt.Before(before) {
		t.Errorf("bob's live key after removal: %+v, %v", got, err)
	}
	for _, k := range []*apikey.Key{bobDisabled, bobOther, bobPersonal, aliceKey} {
		got, err := s.LoadKey(ctx, k.Hash)
		if err != nil {
			t.Fatal(err)
		}
		checkKey(t, "untouched key "+k.Name, got, k)
	}
	if _, err := s.PrincipalByManagementKey(ctx, bobMgmt.Hash); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("bob's management key for org still works: %v", err)
	}
	for _, k := range []*tenancy.ManagementKey{bobMgmtOther, aliceMgmt} {
		if _, err := s.PrincipalByManagementKey(ctx, k.Hash); err != nil {
			t.Errorf("management key %s stopped working: %v", k.Name, err)
		}
	}
	// Re-adding bob does not revive the deleted management key.
	must(t, s.AddMember(ctx, org.ID, bob.ID, tenancy.RoleAdmin))
	if _, err := s.PrincipalByManagementKey(ctx, bobMgmt.Hash); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("deleted management key revived by re-adding the member: %v", err)
	}
	// Removing the other admin now works, and returns no keys for a user with none.
	if hs, err := s.RemoveMember(ctx, org.ID, alice.ID); err != nil || len(hs) != 1 || hs[0] != aliceKey.Hash {
		t.Errorf("remove alice: %v, %v", hs, err)
	}
	if hs, err := s.RemoveMember(ctx, other.ID, bob.ID); err != nil || len(hs) != 1 || hs[0] != bobOther.Hash {
		t.Errorf("remove bob from other: %v, %v", hs, err)
	}
}

func TestManagementKeys(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	org := newOrg(t, s, "acme", alice.ID)
	must(t, s.AddMember(ctx, org.ID, bob.ID, tenancy.RoleMember))

	k := newManagementKey(1, bob.ID, org.ID)
	if ok, err := s.ManagementKeyExists(ctx, k.Hash); err != nil || ok {
		t.Fatalf("ManagementKeyExists before insert: %v, %v", ok, err)
	}
	before := time.Now().Add(-time.Millisecond)
	must(t, s.InsertManagementKey(ctx, k))
	if k.ID == 0 || k.CreatedAt.Before(before) || k.CreatedAt.Location() != time.UTC {
		t.Fatalf("InsertManagementKey set %+v", *k)
	}
	if ok, err := s.ManagementKeyExists(ctx, k.Hash); err != nil || !ok {
		t.Fatalf("ManagementKeyExists after insert: %v, %v", ok, err)
	}
	p, err := s.PrincipalByManagementKey(ctx, k.Hash)
	if err != nil {
		t.Fatal(err)
	}
	want := tenancy.Principal{User: *bob, Org: *org, Role: tenancy.RoleMember, KeyID: k.ID}
	if *p != want || p.IsAdmin() {
		t.Errorf("principal:\n got %+v\nwant %+v", *p, want)
	}
	// The role comes from the membership at the time of the request.
	must(t, s.SetMemberRole(ctx, org.ID, bob.ID, tenancy.RoleAdmin))
	if p, err := s.PrincipalByManagementKey(ctx, k.Hash); err != nil || !p.IsAdmin() {
		t.Errorf("principal after promotion: %+v, %v", p, err)
	}
	// A personal-context key.
	pk := newManagementKey(2, alice.ID, alice.PersonalOrgID)
	must(t, s.InsertManagementKey(ctx, pk))
	if p, err := s.PrincipalByManagementKey(ctx, pk.Hash); err != nil || !p.Org.Personal || p.User.ID != alice.ID || !p.IsAdmin() {
		t.Errorf("personal principal: %+v, %v", p, err)
	}

	for _, c := range []struct {
		name string
		k    *tenancy.ManagementKey
		want error
	}{
		{"duplicate hash", newManagementKey(1, alice.ID, org.ID), tenancy.ErrExists},
		{"not a member", newManagementKey(3, bob.ID, alice.PersonalOrgID), tenancy.ErrNotFound},
		{"unknown org", newManagementKey(4, bob.ID, 999), tenancy.ErrNotFound},
		{"unknown user", newManagementKey(5, 999, org.ID), tenancy.ErrNotFound},
	} {
		if err := s.InsertManagementKey(ctx, c.k); !errors.Is(err, c.want) || c.k.ID != 0 {
			t.Errorf("%s: %v (ID %d), want %v", c.name, err, c.k.ID, c.want)
		}
	}
	if _, err := s.PrincipalByManagementKey(ctx, newManagementKey(3, 0, 0).Hash); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("principal of an unknown key: %v", err)
	}
	// Inference keys are not management keys.
	ik := newOrgKey(t, s, 1, org.ID, bob.ID)
	if _, err := s.PrincipalByManagementKey(ctx, ik.Hash); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("principal of an inference key: %v", err)
	}
	// After removal the key stops working but its hash stays taken.
	_, err = s.RemoveMember(ctx, org.ID, bob.ID)
	must(t, err)
	if _, err := s.PrincipalByManagementKey(ctx, k.Hash); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("principal after removal: %v", err)
	}
	if ok, err := s.ManagementKeyExists(ctx, k.Hash); err != nil || !ok {
		t.Errorf("ManagementKeyExists of a deleted key: %v, %v", ok, err)
	}
}

// Two admins removing or demoting each other at the same moment: one must win, the other
// must get ErrLastAdmin, and the organization always keeps an admin. Runs with both calls on
// one Store (the writer queue serialises them) and on two Stores on one file (SQLite's write
// lock does, as between two processes).
func TestLastAdminRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ops := map[string]func(s *Store, org, user int64) error{
		"remove": func(s *Store, org, user int64) error { _, err := s.RemoveMember(ctx, org, user); return err },
		"demote": func(s *Store, org, user int64) error { return s.SetMemberRole(ctx, org, user, tenancy.RoleMember) },
	}
	for _, stores := range []int{1, 2} {
		for _, pair := range [][2]string{{"remove", "remove"}, {"demote", "demote"}, {"remove", "demote"}} {
			t.Run(fmt.Sprintf("%d stores %s-%s", stores, pair[0], pair[1]), func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "arouter.db")
				a := openAt(t, path)
				b := a
				if stores == 2 {
					b = openAt(t, path)
				}
				x, y := newUser(t, a, "x"), newUser(t, a, "y")
				const rounds = 25
				for i := range rounds {
					org := newOrg(t, a, fmt.Sprint("org ", i), x.ID)
					must(t, a.AddMember(ctx, org.ID, y.ID, tenancy.RoleAdmin))
					var wg sync.WaitGroup
					var errs [2]error
					start := make(chan struct{})
					wg.Go(func() { <-start; errs[0] = ops[pair[0]](a, org.ID, x.ID) })
					wg.Go(func() { <-start; errs[1] = ops[pair[1]](b, org.ID, y.ID) })
					close(start)
					wg.Wait()
					won := 0
					for _, err := range errs {
						switch {
						case err == nil:
							won++
						case !errors.Is(err, tenancy.ErrLastAdmin):
							t.Fatalf("round %d: unexpected error %v", i, err)
						}
					}
					var admins int
					must(t, a.r.QueryRow("SELECT count(*) FROM memberships WHERE org_id = ? AND role = 'admin'", org.ID).Scan(&admins))
					if won != 1 || admins != 1 {
						t.Fatalf("round %d: %d calls succeeded (%v), %d admins left; want 1 and 1", i, won, errs, admins)
					}
				}
			})
		}
	}
}

func TestManagementKeysListAndRevoke(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	u := &tenancy.User{Email: "a@x.test", Name: "a"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	other := &tenancy.User{Email: "b@x.test", Name: "b"}
	if err := s.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := range 2 {
		k := &tenancy.ManagementKey{Hash: apikey.HashToken([]byte{byte(i)}), Name: "k", Label: "l", UserID: u.ID, OrgID: u.PersonalOrgID}
		if err := s.InsertManagementKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, k.ID)
	}
	if ks, err := s.ManagementKeys(ctx, u.ID, u.PersonalOrgID); err != nil || len(ks) != 2 || ks[0].ID != ids[0] {
		t.Fatalf("list: %v %+v", err, ks)
	}
	// Someone else's key, or the key in another context, is not found.
	for _, c := range [][3]int64{{ids[0], other.ID, u.PersonalOrgID}, {ids[0], u.ID, other.PersonalOrgID}, {999, u.ID, u.PersonalOrgID}} {
		if err := s.DeleteManagementKey(ctx, c[0], c[1], c[2]); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("delete %v: %v, want not found", c, err)
		}
	}
	if err := s.DeleteManagementKey(ctx, ids[0], u.ID, u.PersonalOrgID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteManagementKey(ctx, ids[0], u.ID, u.PersonalOrgID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := s.PrincipalByManagementKey(ctx, apikey.HashToken([]byte{0})); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("revoked key still authenticates: %v", err)
	}
	if ks, _ := s.ManagementKeys(ctx, u.ID, u.PersonalOrgID); len(ks) != 1 || ks[0].ID != ids[1] {
		t.Errorf("after revoking: %+v", ks)
	}
}
