package etcdapi

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
)

// authServer serves etcd's Auth service over the domain's auth.Service:
// Authenticate (the token clientv3 gets for a user and password, sent
// back in the "token" metadata), AuthStatus, and the management of users,
// roles and permissions, which needs the root role once auth is on (as
// in the REST API).
type authServer struct {
	pb.UnimplementedAuthServer
	s *Server
}

// Authenticate checks a user's password and returns a token. With auth
// off it answers etcd's "authentication is not enabled", which clientv3
// takes as: go on without a token.
func (a authServer) Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	s := a.s
	if s.svc.Auth == nil {
		return nil, s.toStatus(errAuthNotEnabled)
	}
	if err := domain.ValidateAuthName("user", r.Name); err != nil {
		return nil, s.toStatus(errors.Join(errAuthFailed, err))
	}
	token, _, err := s.svc.Auth.Authenticate(ctx, r.Name, r.Password, sourceOf(ctx))
	switch {
	case errors.Is(err, domain.ErrPreconditionFailed):
		err = errors.Join(errAuthNotEnabled, err)
	case errors.Is(err, domain.ErrUnauthenticated):
		err = errors.Join(errAuthFailed, err)
	}
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.AuthenticateResponse{Header: s.currentHeader(), Token: token}, nil
}

// AuthStatus tells whether auth is on, and the auth state's revision.
func (a authServer) AuthStatus(ctx context.Context, _ *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	s := a.s
	out := &pb.AuthStatusResponse{Header: s.currentHeader()}
	if s.svc.Auth != nil {
		st := s.svc.Auth.Store().State()
		out.Enabled, out.AuthRevision = st.Enabled, st.Revision
	}
	return out, nil
}

// change runs one auth change as root and returns the header of the
// revision it was applied at.
func (a authServer) change(ctx context.Context, f func(AuthService) (int64, error)) (*pb.ResponseHeader, error) {
	s := a.s
	if s.svc.Auth == nil {
		return nil, s.toStatus(errAuthNotEnabled)
	}
	if err := s.allow(ctx, auth.Root()); err != nil {
		return nil, s.toStatus(err)
	}
	rev, err := f(s.svc.Auth)
	if err != nil {
		return nil, s.toStatus(err)
	}
	return s.header(rev), nil
}

// state reads the auth state as root, after a read barrier.
func (a authServer) state(ctx context.Context) (domain.AuthState, *pb.ResponseHeader, error) {
	s := a.s
	if s.svc.Auth == nil {
		return domain.AuthState{}, nil, s.toStatus(errAuthNotEnabled)
	}
	if err := s.allow(ctx, auth.Root()); err != nil {
		return domain.AuthState{}, nil, s.toStatus(err)
	}
	st, err := s.svc.Auth.State(ctx)
	if err != nil {
		return domain.AuthState{}, nil, s.toStatus(err)
	}
	return st, s.currentHeader(), nil
}

// AuthEnable turns auth on; the user root with the role root must exist.
func (a authServer) AuthEnable(ctx context.Context, _ *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	h, err := a.change(ctx, func(as AuthService) (int64, error) { return as.Enable(ctx) })
	if err != nil {
		return nil, err
	}
	return &pb.AuthEnableResponse{Header: h}, nil
}

// AuthDisable turns auth off.
func (a authServer) AuthDisable(ctx context.Context, _ *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	h, err := a.change(ctx, func(as AuthService) (int64, error) { return as.Disable(ctx) })
	if err != nil {
		return nil, err
	}
	return &pb.AuthDisableResponse{Header: h}, nil
}

// UserAdd adds a user with a password (Cairn keeps a bcrypt hash, made
// before it is proposed). A user without a password, or with a hash made
// by the client, is refused.
func (a authServer) UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	if (r.Options != nil && r.Options.NoPassword) || r.HashedPassword != "" {
		return nil, a.s.toStatus(domain.InvalidArgument("cairn users have a password, sent in clear text over the connection: no-password users and client-hashed passwords are not supported"))
	}
	h, err := a.change(ctx, func(as AuthService) (int64, error) { return as.AddUser(ctx, r.Name, r.Password) })
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserAddResponse{Header: h}, nil
}

// UserGet tells a user's roles.
func (a authServer) UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	st, h, err := a.state(ctx)
	if err != nil {
		return nil, err
	}
	u := st.User(r.Name)
	if u == nil {
		return nil, a.s.toStatus(domain.InvalidArgument("user %q does not exist", r.Name))
	}
	return &pb.AuthUserGetResponse{Header: h, Roles: append([]string(nil), u.Roles...)}, nil
}

// UserList lists the users by name.
func (a authServer) UserList(ctx context.Context, _ *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	st, h, err := a.state(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.AuthUserListResponse{Header: h}
	for _, u := range st.Users {
		out.Users = append(out.Users, u.Name)
	}
	return out, nil
}

// UserDelete deletes a user.
func (a authServer) UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	h, err := a.change(ctx, func(as AuthService) (int64, error) { return as.DeleteUser(ctx, r.Name) })
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserDeleteResponse{Header: h}, nil
}

// UserChangePassword sets a user's password; the user's tokens stop
// working.
func (a authServer) UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	if r.HashedPassword != "" {
		return nil, a.s.toStatus(domain.InvalidArgument("client-hashed passwords are not supported: send the password"))
	}
	h, err := a.change(ctx, func(as AuthService) (int64, error) { return as.ChangePassword(ctx, r.Name, r.Password) })
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserChangePasswordResponse{Header: h}, nil
}

// UserGrantRole grants a role to a user.
func (a authServer) UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	h, err := a.change(ctx, func(as AuthService) (int64, error) { return as.GrantRole(ctx, r.User, r.Role) })
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserGrantRoleResponse{Header: h}, nil
}

// UserRevokeRole takes a role from a user.
func (a authServer) UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	h, err := a.change(ctx, func(as AuthService) (int64, error) { return as.RevokeRole(ctx, r.Name, r.Role) })
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserRevokeRoleResponse{Header: h}, nil
}

// RoleAdd adds a role.
func (a authServer) RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	h, err := a.change(ctx, func(as AuthService) (int64, error) { return as.AddRole(ctx, r.Name) })
	if err != nil {
		return nil, err
	}
	return &pb.AuthRoleAddResponse{Header: h}, nil
}

// RoleGet tells a role's permissions.
func (a authServer) RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	st, h, err := a.state(ctx)
	if err != nil {
		return nil, err
	}
	ro := st.Role(r.Role)
	if ro == nil {
		return nil, a.s.toStatus(domain.InvalidArgument("role %q does not exist", r.Role))
	}
	out := &pb.AuthRoleGetResponse{Header: h}
	for _, p := range ro.Permissions {
		// authpb numbers READ, WRITE, READWRITE from 0; the domain from 1.
		out.Perm = append(out.Perm, &authpb.Permission{PermType: authpb.Permission_Type(p.Type - 1), Key: p.Key, RangeEnd: p.RangeEnd})
	}
	return out, nil
}

// RoleList lists the roles by name.
func (a authServer) RoleList(ctx context.Context, _ *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	st, h, err := a.state(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.AuthRoleListResponse{Header: h}
	for _, ro := range st.Roles {
		out.Roles = append(out.Roles, ro.Name)
	}
	return out, nil
}

// RoleDelete deletes a role.
func (a authServer) RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	h, err := a.change(ctx, func(as AuthService) (int64, error) { return as.DeleteRole(ctx, r.Role) })
	if err != nil {
		return nil, err
	}
	return &pb.AuthRoleDeleteResponse{Header: h}, nil
}

// RoleGrantPermission grants a role read, write or both on a key, a range
// or every key from a key (range end "\x00"), as etcd's permissions do.
func (a authServer) RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	if r.Perm == nil || r.Perm.PermType < authpb.READ || r.Perm.PermType > authpb.READWRITE {
		return nil, a.s.toStatus(domain.InvalidArgument("a permission of type READ, WRITE or READWRITE is required"))
	}
	p := domain.Permission{Type: domain.PermType(r.Perm.PermType + 1), Key: r.Perm.Key, RangeEnd: r.Perm.RangeEnd}
	h, err := a.change(ctx, func(as AuthService) (int64, error) { return as.GrantPermission(ctx, r.Name, p) })
	if err != nil {
		return nil, err
	}
	return &pb.AuthRoleGrantPermissionResponse{Header: h}, nil
}

// RoleRevokePermission takes a role's permission on a key or range.
func (a authServer) RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	h, err := a.change(ctx, func(as AuthService) (int64, error) { return as.RevokePermission(ctx, r.Role, r.Key, r.RangeEnd) })
	if err != nil {
		return nil, err
	}
	return &pb.AuthRoleRevokePermissionResponse{Header: h}, nil
}
