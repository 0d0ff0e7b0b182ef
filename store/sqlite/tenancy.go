package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

// Users, organizations, memberships and management keys. Lookups that find nothing, and rows
// of another organization, return errors wrapping tenancy.ErrNotFound; duplicates wrap
// tenancy.ErrExists. Every change that must keep an organization with an admin checks and
// writes in one IMMEDIATE transaction (see inTx), so two concurrent removals, even from two
// processes, cannot both pass the check.

// isDuplicate reports whether err is a UNIQUE or PRIMARY KEY violation.
func isDuplicate(err error) bool {
	return isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) || isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// CreateUser stores u with a new personal context named after it, of which u is the admin, in
// one transaction, and sets u.ID, u.PersonalOrgID and u.CreatedAt (now if zero, rounded to the
// millisecond in UTC). Emails are unique regardless of ASCII case, and there is at most one
// instance admin; either duplicate returns an error wrapping tenancy.ErrExists. On error u is
// unchanged.
func (s *Store) CreateUser(ctx context.Context, u *tenancy.User) error {
	created := roundMS(u.CreatedAt)
	if created.IsZero() {
		created = roundMS(time.Now())
	}
	ms := created.UnixMilli()
	var userID, orgID int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO orgs (name, personal, created_at) VALUES (?, 1, ?)",
			u.Name+" (personal)", ms)
		if err != nil {
			return err
		}
		if orgID, err = res.LastInsertId(); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx,
			"INSERT INTO users (email, name, instance_admin, personal_org_id, created_at) VALUES (?, ?, ?, ?, ?)",
			u.Email, u.Name, boolInt(u.InstanceAdmin), orgID, ms)
		if isDuplicate(err) {
			if u.InstanceAdmin {
				return fmt.Errorf("a user with this email, or an instance admin, %w", tenancy.ErrExists)
			}
			return fmt.Errorf("a user with this email %w", tenancy.ErrExists)
		}
		if err != nil {
			return err
		}
		if userID, err = res.LastInsertId(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, 'admin', ?)",
			orgID, userID, ms)
		return err
	})
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Email, err)
	}
	u.ID, u.PersonalOrgID, u.CreatedAt = userID, orgID, created
	return nil
}

const userColumns = "id, email, name, instance_admin, personal_org_id, created_at"

func scanUser(row scanner) (*tenancy.User, error) {
	var (
		u              tenancy.User
		admin, created int64
	)
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &admin, &u.PersonalOrgID, &created); err != nil {
		return nil, err
	}
	u.InstanceAdmin = admin != 0
	u.CreatedAt = time.UnixMilli(created).UTC()
	return &u, nil
}

// UserByEmail returns the user with email, compared regardless of ASCII case.
func (s *Store) UserByEmail(ctx context.Context, email string) (*tenancy.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE email = ?", email))
	return u, notFound(err, "user %q", email)
}

// InstanceAdmin returns the user bootstrapped at first start.
func (s *Store) InstanceAdmin(ctx context.Context) (*tenancy.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE instance_admin = 1"))
	return u, notFound(err, "instance admin")
}

// CountUsers returns the number of users; 0 means the store has not been bootstrapped.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// notFound turns sql.ErrNoRows into an error wrapping tenancy.ErrNotFound that names what was
// looked for, and adds the same name to other errors.
func notFound(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, tenancy.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// CreateOrg stores o and makes adminUserID its admin, in one transaction, and sets o.ID and
// o.CreatedAt (now if zero, rounded to the millisecond in UTC). An unknown adminUserID returns
// an error wrapping tenancy.ErrNotFound. On error o is unchanged.
func (s *Store) CreateOrg(ctx context.Context, o *tenancy.Org, adminUserID int64) error {
	created := roundMS(o.CreatedAt)
	if created.IsZero() {
		created = roundMS(time.Now())
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := userExists(ctx, tx, adminUserID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO orgs (name, personal, created_at) VALUES (?, ?, ?)",
			o.Name, boolInt(o.Personal), created.UnixMilli())
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, 'admin', ?)",
			id, adminUserID, created.UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("create organization %q: %w", o.Name, err)
	}
	o.ID, o.CreatedAt = id, created
	return nil
}

func userExists(ctx context.Context, q querier, userID int64) error {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM users WHERE id = ?", userID).Scan(&one)
	return notFound(err, "user %d", userID)
}

func orgExists(ctx context.Context, q querier, orgID int64) error {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM orgs WHERE id = ?", orgID).Scan(&one)
	return notFound(err, "organization %d", orgID)
}

// OrgsOfUser returns the contexts userID belongs to, with its role in each, the personal
// context first (it is created with the user), then by organization id. An unknown user
// belongs to none.
func (s *Store) OrgsOfUser(ctx context.Context, userID int64) ([]tenancy.Membership, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT o.id, o.name, o.personal, o.created_at, m.role, o.prompt_logging
		FROM memberships m JOIN orgs o ON o.id = m.org_id
		WHERE m.user_id = ? ORDER BY o.personal DESC, o.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("organizations of user %d: %w", userID, err)
	}
	defer rows.Close()
	var out []tenancy.Membership
	for rows.Next() {
		var (
			m                 tenancy.Membership
			personal, created int64
			role              string
		)
		if err := rows.Scan(&m.Org.ID, &m.Org.Name, &personal, &created, &role, &m.Org.PromptLogging); err != nil {
			return nil, fmt.Errorf("organizations of user %d: %w", userID, err)
		}
		m.Org.Personal, m.Org.CreatedAt, m.Role = personal != 0, time.UnixMilli(created).UTC(), tenancy.Role(role)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("organizations of user %d: %w", userID, err)
	}
	return out, nil
}

// Members returns the members of orgID in the order they joined (by user id among equals).
// Every organization has an admin, so an empty result means there is no such organization:
// that returns an error wrapping tenancy.ErrNotFound.
func (s *Store) Members(ctx context.Context, orgID int64) ([]tenancy.Member, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT u.id, u.email, u.name, u.instance_admin, u.personal_org_id, u.created_at,
			m.role, m.created_at
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? ORDER BY m.created_at, u.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("members of organization %d: %w", orgID, err)
	}
	defer rows.Close()
	var out []tenancy.Member
	for rows.Next() {
		var (
			m                      tenancy.Member
			admin, created, joined int64
			role                   string
		)
		if err := rows.Scan(&m.User.ID, &m.User.Email, &m.User.Name, &admin, &m.User.PersonalOrgID, &created,
			&role, &joined); err != nil {
			return nil, fmt.Errorf("members of organization %d: %w", orgID, err)
		}
		m.User.InstanceAdmin, m.User.CreatedAt = admin != 0, time.UnixMilli(created).UTC()
		m.Role, m.JoinedAt = tenancy.Role(role), time.UnixMilli(joined).UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("members of organization %d: %w", orgID, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("organization %d: %w", orgID, tenancy.ErrNotFound)
	}
	return out, nil
}

// AddMember makes userID a member of orgID with role. An unknown organization or user returns
// an error wrapping tenancy.ErrNotFound, an existing membership one wrapping tenancy.ErrExists
// (change a role with SetMemberRole).
func (s *Store) AddMember(ctx context.Context, orgID, userID int64, role tenancy.Role) error {
	if _, err := tenancy.ParseRole(string(role)); err != nil {
		return fmt.Errorf("add user %d to organization %d: %w", userID, orgID, err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := orgExists(ctx, tx, orgID); err != nil {
			return err
		}
		if err := userExists(ctx, tx, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
			orgID, userID, string(role), time.Now().UnixMilli())
		if isDuplicate(err) {
			return fmt.Errorf("membership %w", tenancy.ErrExists)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("add user %d to organization %d: %w", userID, orgID, err)
	}
	return nil
}

// memberRole returns userID's role in orgID, or an error wrapping tenancy.ErrNotFound.
func memberRole(ctx context.Context, tx *sql.Tx, orgID, userID int64) (tenancy.Role, error) {
	var role string
	err := tx.QueryRowContext(ctx, "SELECT role FROM memberships WHERE org_id = ? AND user_id = ?", orgID, userID).Scan(&role)
	return tenancy.Role(role), notFound(err, "membership")
}

// keepAnAdmin returns an error wrapping tenancy.ErrLastAdmin when orgID has no admin besides
// userID. Called inside the write transaction that then demotes or removes userID.
func keepAnAdmin(ctx context.Context, tx *sql.Tx, orgID, userID int64) error {
	var others int
	if err := tx.QueryRowContext(ctx,
		"SELECT count(*) FROM memberships WHERE org_id = ? AND role = 'admin' AND user_id != ?",
		orgID, userID).Scan(&others); err != nil {
		return err
	}
	if others == 0 {
		return tenancy.ErrLastAdmin
	}
	return nil
}

// SetMemberRole changes userID's role in orgID. A user who is not a member is not found;
// demoting the organization's last admin returns an error wrapping tenancy.ErrLastAdmin.
func (s *Store) SetMemberRole(ctx context.Context, orgID, userID int64, role tenancy.Role) error {
	if _, err := tenancy.ParseRole(string(role)); err != nil {
		return fmt.Errorf("set role of user %d in organization %d: %w", userID, orgID, err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := memberRole(ctx, tx, orgID, userID)
		if err != nil || cur == role {
			return err
		}
		if cur == tenancy.RoleAdmin {
			if err := keepAnAdmin(ctx, tx, orgID, userID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, "UPDATE memberships SET role = ? WHERE org_id = ? AND user_id = ?", string(role), orgID, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("set role of user %d in organization %d: %w", userID, orgID, err)
	}
	return nil
}

// RemoveMember removes userID from orgID, deletes the user's management keys for it, voids
// their unredeemed invitations to it and disables the inference keys the user created in it,
// in one transaction. It returns the
// hashes of all those inference keys (deleted ones excluded), so the caller can drop them from
// caches. A user who is not a member is not found; removing the last admin returns an error
// wrapping tenancy.ErrLastAdmin. A user's personal context always has them as its only admin,
// so they cannot leave it.
func (s *Store) RemoveMember(ctx context.Context, orgID, userID int64) ([]apikey.Hash, error) {
	var hashes []apikey.Hash
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		hashes = hashes[:0]
		cur, err := memberRole(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		if cur == tenancy.RoleAdmin {
			if err := keepAnAdmin(ctx, tx, orgID, userID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM memberships WHERE org_id = ? AND user_id = ?", orgID, userID); err != nil {
			return err
		}
		now := time.Now().UnixMilli()
		if _, err := tx.ExecContext(ctx,
			"UPDATE management_keys SET deleted_at = ? WHERE org_id = ? AND user_id = ? AND deleted_at IS NULL",
			now, orgID, userID); err != nil {
			return err
		}
		if err := voidInvitations(ctx, tx, orgID, userID, now); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `UPDATE api_keys
			SET disabled = 1, updated_at = CASE WHEN disabled = 0 THEN ?1 ELSE updated_at END
			WHERE org_id = ?2 AND creator_id = ?3 AND deleted_at IS NULL RETURNING hash`, now, orgID, userID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				return err
			}
			var h apikey.Hash
			copy(h[:], b)
			hashes = append(hashes, h)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("remove user %d from organization %d: %w", userID, orgID, err)
	}
	return hashes, nil
}

// InsertManagementKey stores k and sets k.ID and k.CreatedAt (now if zero, rounded to the
// millisecond in UTC). k.UserID must be a member of k.OrgID (else the error wraps
// tenancy.ErrNotFound); a stored hash, even of a deleted key, returns one wrapping
// tenancy.ErrExists.
func (s *Store) InsertManagementKey(ctx context.Context, k *tenancy.ManagementKey) error {
	created := roundMS(k.CreatedAt)
	if created.IsZero() {
		created = roundMS(time.Now())
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := memberRole(ctx, tx, k.OrgID, k.UserID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			"INSERT INTO management_keys (hash, name, label, user_id, org_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			k.Hash[:], k.Name, k.Label, k.UserID, k.OrgID, created.UnixMilli())
		if isDuplicate(err) {
			return fmt.Errorf("management key with this hash %w", tenancy.ErrExists)
		}
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return fmt.Errorf("insert management key %q: %w", k.Label, err)
	}
	k.ID, k.CreatedAt = id, created
	return nil
}

// ManagementKeyExists reports whether a management key with hash h was ever stored, deleted
// or not: a hash can be stored only once, so bootstrap uses this to decide whether to insert
// the key it was given.
func (s *Store) ManagementKeyExists(ctx context.Context, h apikey.Hash) (bool, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM management_keys WHERE hash = ?", h[:]).Scan(&n); err != nil {
		return false, fmt.Errorf("look up management key: %w", err)
	}
	return n > 0, nil
}

// principalSQL resolves a management key to its user, context and the user's current role
// there. The inner join on memberships makes a removed member's keys stop working at once,
// even before RemoveMember's deletion of them is seen by a cache.
const principalSQL = `SELECT mk.id,
		u.id, u.email, u.name, u.instance_admin, u.personal_org_id, u.created_at,
		o.id, o.name, o.personal, o.created_at, m.role, o.prompt_logging
	FROM management_keys mk
	JOIN users u ON u.id = mk.user_id
	JOIN orgs o ON o.id = mk.org_id
	JOIN memberships m ON m.org_id = mk.org_id AND m.user_id = mk.user_id
	WHERE mk.hash = ? AND mk.deleted_at IS NULL`

// PrincipalByManagementKey returns who a management request with the key hashed h acts as.
// A deleted key, or one whose user is no longer a member of its context, is not found (the
// error wraps tenancy.ErrNotFound).
func (s *Store) PrincipalByManagementKey(ctx context.Context, h apikey.Hash) (*tenancy.Principal, error) {
	var (
		p                                        tenancy.Principal
		admin, userCreated, personal, orgCreated int64
		role                                     string
	)
	err := s.principal.QueryRowContext(ctx, h[:]).Scan(&p.KeyID,
		&p.User.ID, &p.User.Email, &p.User.Name, &admin, &p.User.PersonalOrgID, &userCreated,
		&p.Org.ID, &p.Org.Name, &personal, &orgCreated, &role, &p.Org.PromptLogging)
	if err != nil {
		return nil, notFound(err, "management key %s", h)
	}
	p.User.InstanceAdmin, p.User.CreatedAt = admin != 0, time.UnixMilli(userCreated).UTC()
	p.Org.Personal, p.Org.CreatedAt = personal != 0, time.UnixMilli(orgCreated).UTC()
	p.Role = tenancy.Role(role)
	return &p, nil
}

// ManagementKeys returns userID's live management keys acting in orgID, oldest first.
func (s *Store) ManagementKeys(ctx context.Context, userID, orgID int64) ([]tenancy.ManagementKey, error) {
	rows, err := s.r.QueryContext(ctx,
		"SELECT id, hash, name, label, created_at FROM management_keys WHERE user_id = ? AND org_id = ? AND deleted_at IS NULL ORDER BY id",
		userID, orgID)
	if err != nil {
		return nil, fmt.Errorf("list management keys: %w", err)
	}
	defer rows.Close()
	var out []tenancy.ManagementKey
	for rows.Next() {
		k := tenancy.ManagementKey{UserID: userID, OrgID: orgID}
		var hash []byte
		var created int64
		if err := rows.Scan(&k.ID, &hash, &k.Name, &k.Label, &created); err != nil {
			return nil, fmt.Errorf("list management keys: %w", err)
		}
		copy(k.Hash[:], hash)
		k.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list management keys: %w", err)
	}
	return out, nil
}

// DeleteManagementKey revokes management key id if it belongs to userID acting in orgID;
// otherwise the error wraps tenancy.ErrNotFound.
func (s *Store) DeleteManagementKey(ctx context.Context, id, userID, orgID int64) error {
	res, err := s.w.ExecContext(ctx,
		"UPDATE management_keys SET deleted_at = ? WHERE id = ? AND user_id = ? AND org_id = ? AND deleted_at IS NULL",
		time.Now().UnixMilli(), id, userID, orgID)
	if err != nil {
		return fmt.Errorf("delete management key %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete management key %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("management key %d: %w", id, tenancy.ErrNotFound)
	}
	return nil
}
