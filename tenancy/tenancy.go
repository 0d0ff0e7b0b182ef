// Package tenancy defines who uses ARouter and in which context: users, organizations, roles
// and the management keys that let a user act in one context through the Management API.
//
// Every user has a personal context, which is an organization of one with Personal set; an
// organization shares one credit pool among its members. A management key binds one user to
// one context; to act in another context the user holds another key. What a principal may do
// is decided from its role in that context alone.
package tenancy

import (
	"errors"
	"fmt"
	"time"

	"github.com/arouter/arouter/apikey"
)

// Role is a member's role in an organization.
type Role string

const (
	RoleAdmin  Role = "admin"  // everything in the organization
	RoleMember Role = "member" // own keys, models, own usage
)

// ParseRole reads the wire form of a role.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RoleAdmin, RoleMember:
		return Role(s), nil
	}
	return "", fmt.Errorf("%q is not a role; use admin or member", s)
}

// User is a person (or a service account) who signs in with management keys.
type User struct {
	ID    int64
	Email string // unique; how admins name a user they add to an organization
	Name  string
	// InstanceAdmin marks the user bootstrapped at first start: the operator, and how a
	// restart finds that user again. Its one privilege beyond its own contexts is granting
	// credits, to any organization.
	InstanceAdmin bool
	PersonalOrgID int64
	CreatedAt     time.Time
}

// Org is an organization or, with Personal set, a user's personal context.
type Org struct {
	ID        int64
	Name      string
	Personal  bool
	CreatedAt time.Time
	// PromptLogging is the organization's opt-in to storing the bodies of its requests and
	// answers (every key of it logs; keys may also opt in alone). Off by default.
	PromptLogging bool
}

// Member is a user as a member of one organization.
type Member struct {
	User     User
	Role     Role
	JoinedAt time.Time
}

// Membership is an organization as one user belongs to it.
type Membership struct {
	Org  Org
	Role Role
}

// ManagementKey authenticates the Management API as UserID acting in OrgID. Like inference
// keys it is stored only as the hash of its token.
type ManagementKey struct {
	ID        int64
	Hash      apikey.Hash
	Name      string
	Label     string
	UserID    int64
	OrgID     int64
	CreatedAt time.Time
}

// Principal is who a management request acts as, resolved on each request from the key and
// the user's current membership, so that a role change or a removal applies at once.
type Principal struct {
	User  User
	Org   Org
	Role  Role
	KeyID int64 // the management key used
}

// IsAdmin reports whether the principal administers its context.
func (p *Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// Errors stores return, wrapped, so callers can answer with the right status.
var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrLastAdmin = errors.New("an organization must keep at least one admin")
)
