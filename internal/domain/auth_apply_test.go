package domain_test

import (
	"errors"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
)

var hash = []byte("$2a$10$abcdefghijklmnopqrstuv")

func change(t *testing.T, s *domain.AuthState, r domain.AuthRequest, want error) {
	t.Helper()
	if err := r.Validate(); err != nil {
		t.Fatalf("%s: invalid request: %v", r.Op, err)
	}
	before := s.Revision
	err := s.Change(&r)
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s %s %s: %v", r.Op, r.User, r.Role, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s %s %s: %v, want %v", r.Op, r.User, r.Role, err, want)
	case err != nil && s.Revision != before:
		t.Fatalf("%s: a refused change moved the revision", r.Op)
	}
}

func TestAuthState_Change(t *testing.T) {
	var s domain.AuthState
	key := make([]byte, domain.SigningKeySize)
	enable := domain.AuthRequest{Op: domain.AuthEnable, SigningKey: key}

	change(t, &s, enable, domain.ErrPreconditionFailed) // no root user
	change(t, &s, domain.AuthRequest{Op: domain.AuthUserAdd, User: "root", PasswordHash: hash}, nil)
	if u := s.User("root"); u == nil || u.PasswordRevision != s.Revision {
		t.Fatalf("root after add: %+v (revision %d)", u, s.Revision)
	}
	change(t, &s, domain.AuthRequest{Op: domain.AuthUserAdd, User: "root", PasswordHash: hash}, domain.ErrConflict)
	change(t, &s, enable, domain.ErrPreconditionFailed) // root has no root role
	change(t, &s, domain.AuthRequest{Op: domain.AuthUserGrantRole, User: "root", Role: "root"}, domain.ErrNotFound)
	change(t, &s, domain.AuthRequest{Op: domain.AuthRoleAdd, Role: "root"}, nil)
	change(t, &s, domain.AuthRequest{Op: domain.AuthUserGrantRole, User: "root", Role: "root"}, nil)
	change(t, &s, enable, nil)
	if !s.Enabled || s.Epoch != 1 {
		t.Fatalf("after enable: %+v", s)
	}
	rev := s.Revision
	change(t, &s, enable, nil) // a no-op: same epoch, same revision
	if s.Epoch != 1 || s.Revision != rev {
		t.Fatal("a second enable changed the state")
	}

	// Root cannot be locked out while auth is on.
	change(t, &s, domain.AuthRequest{Op: domain.AuthUserDelete, User: "root"}, domain.ErrConflict)
	change(t, &s, domain.AuthRequest{Op: domain.AuthUserRevokeRole, User: "root", Role: "root"}, domain.ErrConflict)
	change(t, &s, domain.AuthRequest{Op: domain.AuthRoleDelete, Role: "root"}, domain.ErrConflict)

	// Users, roles and permissions.
	change(t, &s, domain.AuthRequest{Op: domain.AuthUserAdd, User: "alice", PasswordHash: hash}, nil)
	change(t, &s, domain.AuthRequest{Op: domain.AuthRoleAdd, Role: "app"}, nil)
	change(t, &s, domain.AuthRequest{Op: domain.AuthUserGrantRole, User: "alice", Role: "app"}, nil)
	change(t, &s, domain.AuthRequest{Op: domain.AuthUserGrantRole, User: "bob", Role: "app"}, domain.ErrNotFound)
	grant := func(typ domain.PermType, key, end string) domain.AuthRequest {
		return domain.AuthRequest{Op: domain.AuthRoleGrantPerm, Role: "app",
			Perm: domain.Permission{Type: typ, Key: []byte(key), RangeEnd: []byte(end)}}
	}
	change(t, &s, grant(domain.PermRead, "b", "c"), nil)
	change(t, &s, grant(domain.PermWrite, "a", ""), nil)
	change(t, &s, grant(domain.PermReadWrite, "b", "c"), nil) // replaces the type
	if ps := s.Role("app").Permissions; len(ps) != 2 || string(ps[0].Key) != "a" || ps[1].Type != domain.PermReadWrite {
		t.Fatalf("permissions: %+v", ps)
	}
	change(t, &s, domain.AuthRequest{Op: domain.AuthRoleRevokePerm, Role: "app",
		Perm: domain.Permission{Key: []byte("b"), RangeEnd: []byte("d")}}, domain.ErrNotFound)
	change(t, &s, domain.AuthRequest{Op: domain.AuthRoleRevokePerm, Role: "app",
		Perm: domain.Permission{Key: []byte("b"), RangeEnd: []byte("c")}}, nil)

	// A new password gets a new revision; deleting a role takes it from
	// its users.
	old := s.User("alice").PasswordRevision
	change(t, &s, domain.AuthRequest{Op: domain.AuthUserPassword, User: "alice", PasswordHash: hash}, nil)
	if s.User("alice").PasswordRevision <= old {
		t.Fatal("a password change kept the password revision")
	}
	change(t, &s, domain.AuthRequest{Op: domain.AuthRoleDelete, Role: "app"}, nil)
	if s.User("alice").HasRole("app") {
		t.Fatal("a deleted role stayed granted")
	}
	change(t, &s, domain.AuthRequest{Op: domain.AuthUserRevokeRole, User: "alice", Role: "app"}, domain.ErrNotFound)

	change(t, &s, domain.AuthRequest{Op: domain.AuthDisable}, nil)
	if s.Enabled || s.SigningKey != nil {
		t.Fatal("disable left auth on or the key in place")
	}
	change(t, &s, domain.AuthRequest{Op: domain.AuthUserDelete, User: "root"}, nil)
}

// TestAuthState_ChangeLeavesCopiesAlone checks that a change does not write
// through slices a caller still holds (a compiled copy of the state).
func TestAuthState_ChangeLeavesCopiesAlone(t *testing.T) {
	var s domain.AuthState
	for _, r := range []domain.AuthRequest{
		{Op: domain.AuthUserAdd, User: "u", PasswordHash: hash},
		{Op: domain.AuthRoleAdd, Role: "r"},
		{Op: domain.AuthUserGrantRole, User: "u", Role: "r"},
	} {
		if err := s.Change(&r); err != nil {
			t.Fatal(err)
		}
	}
	held := s
	heldRoles := held.Users[0].Roles
	if err := s.Change(&domain.AuthRequest{Op: domain.AuthRoleDelete, Role: "r"}); err != nil {
		t.Fatal(err)
	}
	if len(heldRoles) != 1 || heldRoles[0] != "r" || len(held.Roles) != 1 {
		t.Fatal("the change wrote into the state's earlier copy")
	}
}

func TestAuthRequest_Validate(t *testing.T) {
	bad := []domain.AuthRequest{
		{Op: 0},
		{Op: 12},
		{Op: domain.AuthEnable},
		{Op: domain.AuthEnable, SigningKey: make([]byte, 31)},
		{Op: domain.AuthUserAdd, User: "u"},
		{Op: domain.AuthUserAdd, User: "u", PasswordHash: []byte("plain")},
		{Op: domain.AuthUserAdd, User: "a:b", PasswordHash: hash},
		{Op: domain.AuthUserAdd, User: "a/b", PasswordHash: hash},
		{Op: domain.AuthUserAdd, User: "a b", PasswordHash: hash},
		{Op: domain.AuthUserAdd, User: "\x00", PasswordHash: hash},
		{Op: domain.AuthUserDelete},
		{Op: domain.AuthUserDelete, User: "u", Role: "r"},
		{Op: domain.AuthRoleAdd, Role: "r", Perm: domain.Permission{Type: domain.PermRead}},
		{Op: domain.AuthRoleGrantPerm, Role: "r", Perm: domain.Permission{Type: 4, Key: []byte("k")}},
		{Op: domain.AuthRoleGrantPerm, Role: "r", Perm: domain.Permission{Type: domain.PermRead}},
		{Op: domain.AuthRoleGrantPerm, Role: "r", Perm: domain.Permission{Type: domain.PermRead, Key: []byte("b"), RangeEnd: []byte("a")}},
		{Op: domain.AuthRoleRevokePerm, Role: "r", Perm: domain.Permission{Type: domain.PermRead, Key: []byte("k")}},
	}
	for _, r := range bad {
		if err := r.Validate(); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("%+v: %v, want invalid argument", r, err)
		}
	}
}
