package domain

import (
	"errors"
	"fmt"
)

// The errors of authentication and authorization.
var (
	// ErrUnauthenticated: auth is on and the request carries no valid
	// credentials (none, a wrong password, an expired or void token).
	ErrUnauthenticated = errors.New("auth: unauthenticated")
	// ErrPermissionDenied: the user may not do what the request asks. Its
	// message never says what a key holds.
	ErrPermissionDenied = errors.New("auth: permission denied")
	// ErrTooManyRequests: too many failed logins for a user or from a
	// source; a *RetryAfterError says when to try again.
	ErrTooManyRequests = errors.New("auth: too many failed attempts")
)

// RetryAfterError is an error that the client may retry after a delay.
type RetryAfterError struct {
	Err   error
	After int64 // seconds, at least 1
	Msg   string
}

func (e *RetryAfterError) Error() string { return e.Msg }

// Unwrap returns the error it qualifies.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// The root user and role: the root role holds every permission and is the
// only one allowed cluster, maintenance and auth calls; auth can be enabled
// only when a user root has it.
const (
	RootUser = "root"
	RootRole = "root"
)

// Limits of the auth records.
const (
	MaxAuthNameSize    = 128 // bytes of a user or role name
	MaxPasswordSize    = 72  // bytes of a password: bcrypt reads no more
	MaxPasswordHash    = 128 // bytes of a stored password hash
	SigningKeySize     = 32  // bytes of the token signing key
	MaxRolesPerUser    = 64
	MaxPermsPerRole    = 1024
	MaxAuthUsers       = 10000
	MaxAuthRoles       = 10000
	PasswordHashPrefix = "$2" // bcrypt
)

// PermType is what a permission allows on its keys.
type PermType uint8

// The permission types. Values are part of the Raft log format.
const (
	PermRead      PermType = 1
	PermWrite     PermType = 2
	PermReadWrite PermType = 3
)

// String returns the API name of the permission type.
func (p PermType) String() string {
	switch p {
	case PermRead:
		return "read"
	case PermWrite:
		return "write"
	case PermReadWrite:
		return "readwrite"
	}
	return fmt.Sprintf("perm_%d", uint8(p))
}

// ParsePermType parses read, write or readwrite.
func ParsePermType(s string) (PermType, error) {
	switch s {
	case "read":
		return PermRead, nil
	case "write":
		return PermWrite, nil
	case "readwrite":
		return PermReadWrite, nil
	}
	return 0, InvalidArgument("permission must be read, write or readwrite, not %q", s)
}

// Allows reports whether p grants want (read or write).
func (p PermType) Allows(want PermType) bool { return p&want == want }

// Permission grants a type of access to a key (RangeEnd empty), a range
// [Key, RangeEnd), or every key from Key (RangeEnd "\x00").
type Permission struct {
	Type     PermType
	Key      []byte
	RangeEnd []byte
}

// AuthUser is a user. PasswordHash is a bcrypt hash, computed before the
// command is proposed. PasswordRevision is the auth revision at which the
// password was last set: a token names it, so that a new password (or a
// deleted and re-created user) voids every earlier token.
type AuthUser struct {
	Name             string
	PasswordHash     []byte
	Roles            []string // sorted
	PasswordRevision uint64
}

// HasRole reports whether the user has the role.
func (u *AuthUser) HasRole(role string) bool {
	for _, r := range u.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// AuthRole is a named set of permissions.
type AuthRole struct {
	Name        string
	Permissions []Permission // sorted by key, then range end
}

// AuthState is the replicated auth configuration. Revision counts the auth
// changes; Epoch counts the enables, and a token of an earlier epoch is
// void; SigningKey signs the tokens of this epoch (chosen by the member
// that proposed the enable, so that apply stays deterministic).
type AuthState struct {
	Enabled    bool
	Revision   uint64
	Epoch      uint64
	SigningKey []byte
	Users      []AuthUser // sorted by name
	Roles      []AuthRole // sorted by name
}

// User returns the named user, or nil.
func (s *AuthState) User(name string) *AuthUser {
	for i := range s.Users {
		if s.Users[i].Name == name {
			return &s.Users[i]
		}
	}
	return nil
}

// Role returns the named role, or nil.
func (s *AuthState) Role(name string) *AuthRole {
	for i := range s.Roles {
		if s.Roles[i].Name == name {
			return &s.Roles[i]
		}
	}
	return nil
}

// AuthOp is the change an AuthRequest makes.
type AuthOp uint8

// The auth operations. Values are part of the Raft log format.
const (
	AuthEnable         AuthOp = 1  // SigningKey
	AuthDisable        AuthOp = 2  //
	AuthUserAdd        AuthOp = 3  // User, PasswordHash
	AuthUserDelete     AuthOp = 4  // User
	AuthUserPassword   AuthOp = 5  // User, PasswordHash
	AuthUserGrantRole  AuthOp = 6  // User, Role
	AuthUserRevokeRole AuthOp = 7  // User, Role
	AuthRoleAdd        AuthOp = 8  // Role
	AuthRoleDelete     AuthOp = 9  // Role
	AuthRoleGrantPerm  AuthOp = 10 // Role, Perm
	AuthRoleRevokePerm AuthOp = 11 // Role, Perm (Key and RangeEnd; Type is ignored)
)

// String returns the operation's name, for logs.
func (o AuthOp) String() string {
	names := [...]string{"", "enable", "disable", "user_add", "user_delete", "user_password",
		"user_grant_role", "user_revoke_role", "role_add", "role_delete", "role_grant_permission",
		"role_revoke_permission"}
	if int(o) < len(names) && o != 0 {
		return names[o]
	}
	return fmt.Sprintf("auth_op_%d", uint8(o))
}

// AuthRequest is one change of the auth configuration (CmdAuth).
type AuthRequest struct {
	Op           AuthOp
	User         string
	Role         string
	PasswordHash []byte
	Perm         Permission
	SigningKey   []byte
}
