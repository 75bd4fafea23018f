package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"unicode/utf8"
)

// The administration of users, roles and permissions (the API's /v1/auth
// calls). Every call but AuthStatus needs the root role while auth is on.
// A change is replicated to every member before the call returns; its
// Header.Revision is the store's current revision (auth changes create
// none).

// AuthResponse is the answer of a change of the auth state: AuthEnable,
// AuthDisable, UserAdd, RoleGrantPermission, ...
type AuthResponse struct {
	// Header says which member answered.
	Header ResponseHeader
}

// AuthStatusResponse is the answer of AuthStatus.
type AuthStatusResponse struct {
	// Header says which member answered.
	Header ResponseHeader
	// Enabled reports whether auth is on.
	Enabled bool
	// AuthRevision counts the auth changes applied so far.
	AuthRevision uint64
}

// UserGetResponse is the answer of UserGet.
type UserGetResponse struct {
	// Header says which member answered.
	Header ResponseHeader
	// Name is the user's name.
	Name string
	// Roles are the names of the user's roles, sorted.
	Roles []string
}

// UserListResponse is the answer of UserList.
type UserListResponse struct {
	// Header says which member answered.
	Header ResponseHeader
	// Users are the users' names, sorted.
	Users []string
}

// RoleListResponse is the answer of RoleList.
type RoleListResponse struct {
	// Header says which member answered.
	Header ResponseHeader
	// Roles are the roles' names, sorted.
	Roles []string
}

// PermissionType is what a permission allows.
type PermissionType string

// The permission types.
const (
	PermRead      PermissionType = "read"
	PermWrite     PermissionType = "write"
	PermReadWrite PermissionType = "readwrite"
)

// Permission is a permission as a role holds it: on Key alone when
// RangeEnd is empty, else on [Key, RangeEnd); a RangeEnd of "\x00" means
// every key from Key on. A prefix is held as its range end ("config/" as
// ["config/", "config0")).
type Permission struct {
	// Key is the first key the permission covers.
	Key []byte
	// RangeEnd is the end of the range, excluded; empty for Key alone.
	RangeEnd []byte
	// Type says what the permission allows.
	Type PermissionType
}

// RoleGetResponse is the answer of RoleGet.
type RoleGetResponse struct {
	// Header says which member answered.
	Header ResponseHeader
	// Name is the role's name.
	Name string
	// Permissions are the role's permissions, sorted by key, then range
	// end.
	Permissions []Permission
}

func userPath(name string) string { return "/v1/auth/users/" + url.PathEscape(name) }
func rolePath(name string) string { return "/v1/auth/roles/" + url.PathEscape(name) }

// authChange sends a change of the auth state.
func (c *Client) authChange(ctx context.Context, r *request, in any) (*AuthResponse, error) {
	if in != nil {
		r.body, _ = json.Marshal(in)
		r.ctype = "application/json"
	}
	var out struct {
		Header *headerJSON `json:"header"`
	}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &AuthResponse{Header: out.Header.toHeader()}, nil
}

// AuthEnable turns auth on, on every member. It needs a user "root" with
// the role "root" (else ErrPreconditionFailed). Enabling it again changes
// nothing.
func (c *Client) AuthEnable(ctx context.Context) (*AuthResponse, error) {
	return c.authChange(ctx, &request{method: http.MethodPost, path: "/v1/auth/enable", idempotent: true}, nil)
}

// AuthDisable turns auth off; users, roles and permissions are kept, and
// every token becomes void.
func (c *Client) AuthDisable(ctx context.Context) (*AuthResponse, error) {
	return c.authChange(ctx, &request{method: http.MethodPost, path: "/v1/auth/disable", idempotent: true}, nil)
}

// AuthStatus says whether auth is on. Any user may ask.
func (c *Client) AuthStatus(ctx context.Context) (*AuthStatusResponse, error) {
	var out struct {
		Header       *headerJSON `json:"header"`
		Enabled      bool        `json:"enabled"`
		AuthRevision uint64      `json:"auth_revision"`
	}
	if _, err := c.call(ctx, &request{method: http.MethodGet, path: "/v1/auth/status", idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &AuthStatusResponse{Header: out.Header.toHeader(), Enabled: out.Enabled, AuthRevision: out.AuthRevision}, nil
}

// UserAdd adds the user name, without roles. A name taken already is
// ErrConflict; a name or password out of the limits is
// ErrInvalidArgument.
func (c *Client) UserAdd(ctx context.Context, name, password string) (*AuthResponse, error) {
	return c.authChange(ctx, &request{method: http.MethodPost, path: "/v1/auth/users"},
		map[string]string{"name": name, "password": password})
}

// UserDelete deletes the user name; its tokens become void. The user root
// cannot be deleted while auth is on (ErrConflict).
func (c *Client) UserDelete(ctx context.Context, name string) (*AuthResponse, error) {
	return c.authChange(ctx, &request{method: http.MethodDelete, path: userPath(name)}, nil)
}

// UserChangePassword sets the password of the user name; every token of
// that user becomes void.
func (c *Client) UserChangePassword(ctx context.Context, name, password string) (*AuthResponse, error) {
	return c.authChange(ctx, &request{method: http.MethodPost, path: userPath(name) + "/password", idempotent: true},
		map[string]string{"password": password})
}

// UserGrantRole gives the user the role. Granting it again changes
// nothing.
func (c *Client) UserGrantRole(ctx context.Context, user, role string) (*AuthResponse, error) {
	return c.authChange(ctx, &request{method: http.MethodPut, path: userPath(user) + "/roles/" + url.PathEscape(role),
		idempotent: true}, nil)
}

// UserRevokeRole takes the role from the user; ErrNotFound when the user
// does not have it.
func (c *Client) UserRevokeRole(ctx context.Context, user, role string) (*AuthResponse, error) {
	return c.authChange(ctx, &request{method: http.MethodDelete, path: userPath(user) + "/roles/" + url.PathEscape(role)}, nil)
}

// UserGet returns the user name and its roles; ErrNotFound when there is
// no such user.
func (c *Client) UserGet(ctx context.Context, name string) (*UserGetResponse, error) {
	var out struct {
		Header *headerJSON `json:"header"`
		Name   string      `json:"name"`
		Roles  []string    `json:"roles"`
	}
	if _, err := c.call(ctx, &request{method: http.MethodGet, path: userPath(name), idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &UserGetResponse{Header: out.Header.toHeader(), Name: out.Name, Roles: out.Roles}, nil
}

// UserList returns every user's name.
func (c *Client) UserList(ctx context.Context) (*UserListResponse, error) {
	var out struct {
		Header *headerJSON `json:"header"`
		Users  []string    `json:"users"`
	}
	if _, err := c.call(ctx, &request{method: http.MethodGet, path: "/v1/auth/users", idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &UserListResponse{Header: out.Header.toHeader(), Users: out.Users}, nil
}

// RoleAdd adds the role name, without permissions (the role root needs
// none: it allows everything). A name taken already is ErrConflict.
func (c *Client) RoleAdd(ctx context.Context, name string) (*AuthResponse, error) {
	return c.authChange(ctx, &request{method: http.MethodPost, path: "/v1/auth/roles"}, map[string]string{"name": name})
}

// RoleDelete deletes the role name and takes it from every user. The role
// root cannot be deleted while auth is on (ErrConflict).
func (c *Client) RoleDelete(ctx context.Context, name string) (*AuthResponse, error) {
	return c.authChange(ctx, &request{method: http.MethodDelete, path: rolePath(name)}, nil)
}

// RoleList returns every role's name.
func (c *Client) RoleList(ctx context.Context) (*RoleListResponse, error) {
	var out struct {
		Header *headerJSON `json:"header"`
		Roles  []string    `json:"roles"`
	}
	if _, err := c.call(ctx, &request{method: http.MethodGet, path: "/v1/auth/roles", idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &RoleListResponse{Header: out.Header.toHeader(), Roles: out.Roles}, nil
}

// permissionJSON is a permission as the API sends and takes it.
type permissionJSON struct {
	Key            *string `json:"key,omitempty"`
	KeyBase64      *string `json:"key_base64,omitempty"`
	RangeEnd       *string `json:"range_end,omitempty"`
	RangeEndBase64 *string `json:"range_end_base64,omitempty"`
	Prefix         bool    `json:"prefix,omitempty"`
	FromKey        bool    `json:"from_key,omitempty"`
	Permission     string  `json:"permission"`
}

// RoleGet returns the role name and its permissions; ErrNotFound when
// there is no such role.
func (c *Client) RoleGet(ctx context.Context, name string) (*RoleGetResponse, error) {
	var out struct {
		Header      *headerJSON      `json:"header"`
		Name        string           `json:"name"`
		Permissions []permissionJSON `json:"permissions"`
	}
	if _, err := c.call(ctx, &request{method: http.MethodGet, path: rolePath(name), idempotent: true}, &out); err != nil {
		return nil, err
	}
	resp := &RoleGetResponse{Header: out.Header.toHeader(), Name: out.Name}
	for _, p := range out.Permissions {
		key, err := fromText(p.Key, p.KeyBase64, false)
		if err != nil {
			return nil, err
		}
		end, err := fromText(p.RangeEnd, p.RangeEndBase64, false)
		if err != nil {
			return nil, err
		}
		if key == nil {
			key = []byte{}
		}
		resp.Permissions = append(resp.Permissions, Permission{Key: key, RangeEnd: end, Type: PermissionType(p.Permission)})
	}
	return resp, nil
}

// RoleGrantPermission gives the role the permission perm on key, or with
// WithPrefix, WithRange or WithFromKey (the other options do not apply)
// on a range of keys. A permission on the same key and range end as one
// the role has replaces its type, so it is sent again to another member
// after any failure.
func (c *Client) RoleGrantPermission(ctx context.Context, role, key string, perm PermissionType, opts ...OpOption) (*AuthResponse, error) {
	op := newOp(opGet, key, "", opts)
	in := permissionJSON{Permission: string(perm), Prefix: op.prefix, FromKey: op.fromKey}
	in.Key, in.KeyBase64 = textOrBase64(op.key)
	if op.hasEnd {
		in.RangeEnd, in.RangeEndBase64 = textOrBase64(op.end)
	}
	return c.authChange(ctx, &request{method: http.MethodPost, path: rolePath(role) + "/permissions", idempotent: true}, in)
}

// RoleRevokePermission takes from the role the permission on key, or with
// WithPrefix, WithRange or WithFromKey on the range named as when it was
// granted, whatever its type. ErrNotFound when the role has none such.
func (c *Client) RoleRevokePermission(ctx context.Context, role, key string, opts ...OpOption) (*AuthResponse, error) {
	op := newOp(opGet, key, "", opts)
	q := url.Values{"key": {op.key}}
	op.rangeQuery(q)
	return c.authChange(ctx, &request{method: http.MethodDelete, path: rolePath(role) + "/permissions", query: q}, nil)
}

// textOrBase64 returns s as the plain JSON field when it is UTF-8, else as
// the _base64 one.
func textOrBase64(s string) (plain, b64field *string) {
	if utf8.ValidString(s) {
		return &s, nil
	}
	e := base64.StdEncoding.EncodeToString([]byte(s))
	return nil, &e
}
