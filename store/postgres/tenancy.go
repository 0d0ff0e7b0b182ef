package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

// Users, organizations, memberships and management keys. Lookups that find nothing, and rows
// of another organization, return errors wrapping tenancy.ErrNotFound; duplicates wrap
// tenancy.ErrExists.
//
// Locking. Every transaction that changes an organization's memberships first locks its orgs
// row FOR NO KEY UPDATE (lockOrg), so membership changes of one organization run one after the
// other: of two admins removing or demoting each other at once, the second sees the first's
// change and gets tenancy.ErrLastAdmin, as with SQLite's single writer. Transactions that only
// depend on a membership, or on the organization's settings, staying as they are (minting a
// management key, inserting an inference key) lock the row FOR SHARE, which waits for those
// changes and for UpdateOrg but not for each other. FOR NO KEY UPDATE, unlike FOR UPDATE, does
// not block the KEY SHARE locks that inserts referencing the organization take.
//
// Lock order: the organization's row always comes before any key's row (RotateKey locks the
// organization before the key it rotates, RemoveMember before the keys it disables), so no two
// of these transactions can wait for each other in a cycle.

// SQLSTATE codes this package maps to errors of its own.
const (
	codeUniqueViolation = "23505"
)

// isDuplicate reports whether err is a UNIQUE or PRIMARY KEY violation: what SQLite reports as
// SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY.
func isDuplicate(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == codeUniqueViolation
}

// querier is what both the pool and a transaction offer; reads that also run inside write
// transactions take one.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// scanner is a row of any kind: pgx.Row or pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

// Lock strengths for lockOrg.
const (
	lockChange = "FOR NO KEY UPDATE" // changes the organization's memberships
	lockKeep   = "FOR SHARE"         // relies on a membership or a setting staying as it is
)

// lockOrg locks organization orgID's row in tx with strength (lockChange or lockKeep) until
// the transaction ends. An unknown organization returns an error wrapping tenancy.ErrNotFound.
func lockOrg(ctx context.Context, tx pgx.Tx, orgID int64, strength string) error {
	var one int
	err := tx.QueryRow(ctx, "SELECT 1 FROM orgs WHERE id = $1 "+strength, orgID).Scan(&one)
	return notFound(err, "organization %d", orgID)
}

// CreateUser stores u with a new personal context named after it, of which u is the admin, in
// one transaction, and sets u.ID, u.PersonalOrgID and u.CreatedAt (now if zero, rounded to the
// millisecond in UTC). Emails are unique regardless of ASCII case, and there is at most one
// instance admin; either duplicate returns an error wrapping tenancy.ErrExists. On error u is
// unchanged. Both uniqueness rules are indexes, so of two concurrent creations the second
// waits for the first and then fails.
func (s *Store) CreateUser(ctx context.Context, u *tenancy.User) error {
	created := roundMS(u.CreatedAt)
	if created.IsZero() {
		created = roundMS(time.Now())
	}
	ms := created.UnixMilli()
	var userID, orgID int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "INSERT INTO orgs (name, personal, created_at) VALUES ($1, 1, $2) RETURNING id",
			u.Name+" (personal)", ms).Scan(&orgID)
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx,
			"INSERT INTO users (email, name, instance_admin, personal_org_id, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
			u.Email, u.Name, boolInt(u.InstanceAdmin), orgID, ms).Scan(&userID)
		if isDuplicate(err) {
			if u.InstanceAdmin {
				return fmt.Errorf("a user with this email, or an instance admin, %w", tenancy.ErrExists)
			}
			return fmt.Errorf("a user with this email %w", tenancy.ErrExists)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'admin', $3)",
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
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE "+emailKey+" = "+emailKeyOf, email))
	return u, notFound(err, "user %q", email)
}

// InstanceAdmin returns the user bootstrapped at first start.
func (s *Store) InstanceAdmin(ctx context.Context) (*tenancy.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE instance_admin = 1"))
	return u, notFound(err, "instance admin")
}

// CountUsers returns the number of users; 0 means the store has not been bootstrapped.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// notFound turns pgx.ErrNoRows into an error wrapping tenancy.ErrNotFound that names what was
// looked for, and adds the same name to other errors.
func notFound(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	if errors.Is(err, pgx.ErrNoRows) {
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Users are never deleted, so the check holds until the commit.
		if err := userExists(ctx, tx, adminUserID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, "INSERT INTO orgs (name, personal, created_at) VALUES ($1, $2, $3) RETURNING id",
			o.Name, boolInt(o.Personal), created.UnixMilli()).Scan(&id)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'admin', $3)",
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
	err := q.QueryRow(ctx, "SELECT 1 FROM users WHERE id = $1", userID).Scan(&one)
	return notFound(err, "user %d", userID)
}

// orgExists checks that organization orgID exists. Organizations are never deleted, so inside
// a transaction the answer holds until the commit without a lock.
func orgExists(ctx context.Context, q querier, orgID int64) error {
	var one int
	err := q.QueryRow(ctx, "SELECT 1 FROM orgs WHERE id = $1", orgID).Scan(&one)
	return notFound(err, "organization %d", orgID)
}

// OrgsOfUser returns the contexts userID belongs to, with its role in each, the personal
// context first (it is created with the user), then by organization id. An unknown user
// belongs to none.
func (s *Store) OrgsOfUser(ctx context.Context, userID int64) ([]tenancy.Membership, error) {
	rows, err := s.pool.Query(ctx, `SELECT o.id, o.name, o.personal, o.created_at, m.role, o.prompt_logging
		FROM memberships m JOIN orgs o ON o.id = m.org_id
		WHERE m.user_id = $1 ORDER BY o.personal DESC, o.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("organizations of user %d: %w", userID, err)
	}
	defer rows.Close()
	var out []tenancy.Membership
	for rows.Next() {
		var (
			m                               tenancy.Membership
			personal, created, promptLogged int64
			role                            string
		)
		if err := rows.Scan(&m.Org.ID, &m.Org.Name, &personal, &created, &role, &promptLogged); err != nil {
			return nil, fmt.Errorf("organizations of user %d: %w", userID, err)
		}
		m.Org.Personal, m.Org.CreatedAt, m.Role = personal != 0, time.UnixMilli(created).UTC(), tenancy.Role(role)
		m.Org.PromptLogging = promptLogged != 0
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
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.email, u.name, u.instance_admin, u.personal_org_id, u.created_at,
			m.role, m.created_at
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = $1 ORDER BY m.created_at, u.id`, orgID)
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
// (change a role with SetMemberRole). It locks the organization (lockChange).
func (s *Store) AddMember(ctx context.Context, orgID, userID int64, role tenancy.Role) error {
	if _, err := tenancy.ParseRole(string(role)); err != nil {
		return fmt.Errorf("add user %d to organization %d: %w", userID, orgID, err)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockOrg(ctx, tx, orgID, lockChange); err != nil {
			return err
		}
		if err := userExists(ctx, tx, userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
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

// memberRole returns userID's role in orgID, or an error wrapping tenancy.ErrNotFound. The
// caller holds the organization's lock, so the answer holds until its commit.
func memberRole(ctx context.Context, tx pgx.Tx, orgID, userID int64) (tenancy.Role, error) {
	var role string
	err := tx.QueryRow(ctx, "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2", orgID, userID).Scan(&role)
	return tenancy.Role(role), notFound(err, "membership")
}

// keepAnAdmin returns an error wrapping tenancy.ErrLastAdmin when orgID has no admin besides
// userID. Called inside the transaction that then demotes or removes userID, which holds the
// organization's lock (lockChange): no other change to its admins can commit in between.
func keepAnAdmin(ctx context.Context, tx pgx.Tx, orgID, userID int64) error {
	var others int
	if err := tx.QueryRow(ctx,
		"SELECT count(*) FROM memberships WHERE org_id = $1 AND role = 'admin' AND user_id <> $2",
		orgID, userID).Scan(&others); err != nil {
		return err
	}
	if others == 0 {
		return tenancy.ErrLastAdmin
	}
	return nil
}

// SetMemberRole changes userID's role in orgID. A user who is not a member, or an unknown
// organization, is not found; demoting the organization's last admin returns an error
// wrapping tenancy.ErrLastAdmin. It locks the organization (lockChange).
func (s *Store) SetMemberRole(ctx context.Context, orgID, userID int64, role tenancy.Role) error {
	if _, err := tenancy.ParseRole(string(role)); err != nil {
		return fmt.Errorf("set role of user %d in organization %d: %w", userID, orgID, err)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockOrg(ctx, tx, orgID, lockChange); err != nil {
			return err
		}
		cur, err := memberRole(ctx, tx, orgID, userID)
		if err != nil || cur == role {
			return err
		}
		if cur == tenancy.RoleAdmin {
			if err := keepAnAdmin(ctx, tx, orgID, userID); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, "UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3", string(role), orgID, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("set role of user %d in organization %d: %w", userID, orgID, err)
	}
	return nil
}

// RemoveMember removes userID from orgID, deletes the user's management keys for it, voids
// their unredeemed invitations to it and disables the inference keys the user created in it,
// in one transaction. It returns the hashes of all those inference keys (deleted ones
// excluded), so the caller can drop them from caches. A user who is not a member, or an
// unknown organization, is not found; removing the last admin returns an error wrapping
// tenancy.ErrLastAdmin. A user's personal context always has them as its only admin, so they
// cannot leave it. It locks the organization (lockChange).
func (s *Store) RemoveMember(ctx context.Context, orgID, userID int64) ([]apikey.Hash, error) {
	var hashes []apikey.Hash
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockOrg(ctx, tx, orgID, lockChange); err != nil {
			return err
		}
		cur, err := memberRole(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		if cur == tenancy.RoleAdmin {
			if err := keepAnAdmin(ctx, tx, orgID, userID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2", orgID, userID); err != nil {
			return err
		}
		now := time.Now().UnixMilli()
		if _, err := tx.Exec(ctx,
			"UPDATE management_keys SET deleted_at = $1 WHERE org_id = $2 AND user_id = $3 AND deleted_at IS NULL",
			now, orgID, userID); err != nil {
			return err
		}
		if err := voidInvitations(ctx, tx, orgID, userID, now); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE api_keys
			SET disabled = 1, updated_at = CASE WHEN disabled = 0 THEN $1 ELSE updated_at END
			WHERE org_id = $2 AND creator_id = $3 AND deleted_at IS NULL RETURNING hash`, now, orgID, userID)
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
// tenancy.ErrExists. It locks the organization (lockKeep), so a concurrent RemoveMember either
// deletes the new key too or runs first and makes this one fail.
func (s *Store) InsertManagementKey(ctx context.Context, k *tenancy.ManagementKey) error {
	created := roundMS(k.CreatedAt)
	if created.IsZero() {
		created = roundMS(time.Now())
	}
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockOrg(ctx, tx, k.OrgID, lockKeep); err != nil {
			return err
		}
		if _, err := memberRole(ctx, tx, k.OrgID, k.UserID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx,
			"INSERT INTO management_keys (hash, name, label, user_id, org_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
			k.Hash[:], k.Name, k.Label, k.UserID, k.OrgID, created.UnixMilli()).Scan(&id)
		if isDuplicate(err) {
			return fmt.Errorf("management key with this hash %w", tenancy.ErrExists)
		}
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
	var ok bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM management_keys WHERE hash = $1)", h[:]).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up management key: %w", err)
	}
	return ok, nil
}

// principalSQL resolves a management key to its user, context and the user's current role
// there. The inner join on memberships makes a removed member's keys stop working at once,
// even before RemoveMember's deletion of them is seen by a cache. It is prepared on every
// connection (stmtPrincipal).
const principalSQL = `SELECT mk.id,
		u.id, u.email, u.name, u.instance_admin, u.personal_org_id, u.created_at,
		o.id, o.name, o.personal, o.created_at, m.role, o.prompt_logging
	FROM management_keys mk
	JOIN users u ON u.id = mk.user_id
	JOIN orgs o ON o.id = mk.org_id
	JOIN memberships m ON m.org_id = mk.org_id AND m.user_id = mk.user_id
	WHERE mk.hash = $1 AND mk.deleted_at IS NULL`

// PrincipalByManagementKey returns who a management request with the key hashed h acts as.
// A deleted key, or one whose user is no longer a member of its context, is not found (the
// error wraps tenancy.ErrNotFound).
func (s *Store) PrincipalByManagementKey(ctx context.Context, h apikey.Hash) (*tenancy.Principal, error) {
	var (
		p                                        tenancy.Principal
		admin, userCreated, personal, orgCreated int64
		promptLogging                            int64
		role                                     string
	)
	err := s.pool.QueryRow(ctx, stmtPrincipal, h[:]).Scan(&p.KeyID,
		&p.User.ID, &p.User.Email, &p.User.Name, &admin, &p.User.PersonalOrgID, &userCreated,
		&p.Org.ID, &p.Org.Name, &personal, &orgCreated, &role, &promptLogging)
	if err != nil {
		return nil, notFound(err, "management key %s", h)
	}
	p.User.InstanceAdmin, p.User.CreatedAt = admin != 0, time.UnixMilli(userCreated).UTC()
	p.Org.Personal, p.Org.CreatedAt = personal != 0, time.UnixMilli(orgCreated).UTC()
	p.Org.PromptLogging = promptLogging != 0
	p.Role = tenancy.Role(role)
	return &p, nil
}

// ManagementKeys returns userID's live management keys acting in orgID, oldest first.
func (s *Store) ManagementKeys(ctx context.Context, userID, orgID int64) ([]tenancy.ManagementKey, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT id, hash, name, label, created_at FROM management_keys WHERE user_id = $1 AND org_id = $2 AND deleted_at IS NULL ORDER BY id",
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
// otherwise the error wraps tenancy.ErrNotFound. One statement: atomic without a lock.
func (s *Store) DeleteManagementKey(ctx context.Context, id, userID, orgID int64) error {
	tag, err := s.pool.Exec(ctx,
		"UPDATE management_keys SET deleted_at = $1 WHERE id = $2 AND user_id = $3 AND org_id = $4 AND deleted_at IS NULL",
		time.Now().UnixMilli(), id, userID, orgID)
	if err != nil {
		return fmt.Errorf("delete management key %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("management key %d: %w", id, tenancy.ErrNotFound)
	}
	return nil
}
