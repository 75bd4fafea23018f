package domain

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// Change applies the auth change r to s, deterministically: it reads
// nothing but s and r. It returns a business error (and leaves s as it
// was) when the change does not fit the state: a user or role that exists
// already or does not exist, an enable without a root user holding the
// root role, a change that would lock root out while auth is on. Every
// successful change but a no-op advances s.Revision.
func (s *AuthState) Change(r *AuthRequest) error {
	next := s.clone()
	changed, err := next.change(r)
	if err != nil {
		return err
	}
	if changed {
		next.Revision++
		if r.Op == AuthUserAdd || r.Op == AuthUserPassword {
			next.User(r.User).PasswordRevision = next.Revision
		}
		*s = next
	}
	return nil
}

func (s *AuthState) change(r *AuthRequest) (bool, error) {
	switch r.Op {
	case AuthEnable:
		if s.Enabled {
			return false, nil
		}
		if u := s.User(RootUser); u == nil || !u.HasRole(RootRole) {
			return false, fmt.Errorf("auth enable needs a user %q with the role %q: %w", RootUser, RootRole, ErrPreconditionFailed)
		}
		s.Enabled, s.Epoch, s.SigningKey = true, s.Epoch+1, bytes.Clone(r.SigningKey)
		return true, nil
	case AuthDisable:
		if !s.Enabled {
			return false, nil
		}
		s.Enabled, s.SigningKey = false, nil
		return true, nil
	case AuthUserAdd:
		if s.User(r.User) != nil {
			return false, fmt.Errorf("user %q exists already: %w", r.User, ErrConflict)
		}
		if len(s.Users) >= MaxAuthUsers {
			return false, InvalidArgument("there are %d users, the limit", MaxAuthUsers)
		}
		s.Users = insertSorted(s.Users, AuthUser{Name: r.User, PasswordHash: bytes.Clone(r.PasswordHash)},
			func(u AuthUser) string { return u.Name })
		return true, nil
	case AuthRoleAdd:
		if s.Role(r.Role) != nil {
			return false, fmt.Errorf("role %q exists already: %w", r.Role, ErrConflict)
		}
		if len(s.Roles) >= MaxAuthRoles {
			return false, InvalidArgument("there are %d roles, the limit", MaxAuthRoles)
		}
		s.Roles = insertSorted(s.Roles, AuthRole{Name: r.Role}, func(r AuthRole) string { return r.Name })
		return true, nil
	}
	if r.Op >= AuthUserAdd && r.Op <= AuthUserRevokeRole {
		return s.changeUser(r)
	}
	return s.changeRole(r)
}

func (s *AuthState) changeUser(r *AuthRequest) (bool, error) {
	u := s.User(r.User)
	if u == nil {
		return false, fmt.Errorf("user %q: %w", r.User, ErrNotFound)
	}
	rootOff := s.Enabled && r.User == RootUser
	switch r.Op {
	case AuthUserDelete:
		if rootOff {
			return false, fmt.Errorf("user %q cannot be deleted while auth is enabled: %w", RootUser, ErrConflict)
		}
		s.Users = slices.DeleteFunc(s.Users, func(x AuthUser) bool { return x.Name == r.User })
	case AuthUserPassword:
		u.PasswordHash = bytes.Clone(r.PasswordHash)
	case AuthUserGrantRole:
		if s.Role(r.Role) == nil {
			return false, fmt.Errorf("role %q: %w", r.Role, ErrNotFound)
		}
		if u.HasRole(r.Role) {
			return false, nil
		}
		if len(u.Roles) >= MaxRolesPerUser {
			return false, InvalidArgument("user %q has %d roles, the limit", r.User, MaxRolesPerUser)
		}
		u.Roles = insertSorted(u.Roles, r.Role, func(s string) string { return s })
	case AuthUserRevokeRole:
		if !u.HasRole(r.Role) {
			return false, fmt.Errorf("user %q does not have the role %q: %w", r.User, r.Role, ErrNotFound)
		}
		if rootOff && r.Role == RootRole {
			return false, fmt.Errorf("the role %q cannot be revoked from user %q while auth is enabled: %w", RootRole, RootUser, ErrConflict)
		}
		u.Roles = slices.DeleteFunc(u.Roles, func(x string) bool { return x == r.Role })
	}
	return true, nil
}

func (s *AuthState) changeRole(r *AuthRequest) (bool, error) {
	role := s.Role(r.Role)
	if role == nil {
		return false, fmt.Errorf("role %q: %w", r.Role, ErrNotFound)
	}
	switch r.Op {
	case AuthRoleDelete:
		if s.Enabled && r.Role == RootRole {
			return false, fmt.Errorf("role %q cannot be deleted while auth is enabled: %w", RootRole, ErrConflict)
		}
		s.Roles = slices.DeleteFunc(s.Roles, func(x AuthRole) bool { return x.Name == r.Role })
		for i := range s.Users {
			s.Users[i].Roles = slices.DeleteFunc(s.Users[i].Roles, func(x string) bool { return x == r.Role })
		}
	case AuthRoleGrantPerm:
		i, found := findPerm(role.Permissions, r.Perm)
		switch {
		case found && role.Permissions[i].Type == r.Perm.Type:
			return false, nil
		case found:
			role.Permissions[i].Type = r.Perm.Type
		case len(role.Permissions) >= MaxPermsPerRole:
			return false, InvalidArgument("role %q has %d permissions, the limit", r.Role, MaxPermsPerRole)
		default:
			p := Permission{Type: r.Perm.Type, Key: bytes.Clone(r.Perm.Key), RangeEnd: bytes.Clone(r.Perm.RangeEnd)}
			role.Permissions = slices.Insert(role.Permissions, i, p)
		}
	case AuthRoleRevokePerm:
		i, found := findPerm(role.Permissions, r.Perm)
		if !found {
			return false, fmt.Errorf("role %q has no permission on that key or range: %w", r.Role, ErrNotFound)
		}
		role.Permissions = slices.Delete(role.Permissions, i, i+1)
	}
	return true, nil
}

// findPerm returns where p's key and range end are (or would be) in the
// sorted ps.
func findPerm(ps []Permission, p Permission) (int, bool) {
	return slices.BinarySearchFunc(ps, p, func(a, b Permission) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return bytes.Compare(a.RangeEnd, b.RangeEnd)
	})
}

func insertSorted[T any](xs []T, x T, name func(T) string) []T {
	i, _ := slices.BinarySearchFunc(xs, name(x), func(a T, n string) int { return strings.Compare(name(a), n) })
	return slices.Insert(xs, i, x)
}

// clone returns a deep copy of s.
func (s *AuthState) clone() AuthState {
	c := *s
	c.SigningKey = bytes.Clone(s.SigningKey)
	c.Users = slices.Clone(s.Users)
	for i := range c.Users {
		c.Users[i].PasswordHash = bytes.Clone(c.Users[i].PasswordHash)
		c.Users[i].Roles = slices.Clone(c.Users[i].Roles)
	}
	c.Roles = slices.Clone(s.Roles)
	for i := range c.Roles {
		c.Roles[i].Permissions = slices.Clone(c.Roles[i].Permissions)
	}
	return c
}
