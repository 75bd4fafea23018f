package main

import (
	"testing"
)

// TestAuth_Golden sets up users, roles and permissions, enables auth,
// uses it, and takes it apart, on a cluster of its own.
func TestAuth_Golden(t *testing.T) {
	c := startCluster(t, 1, nil)
	root := []string{"--user", "root:rootpw"}
	as := func(user []string, args ...string) []string { return append(append([]string{}, user...), args...) }
	golden(t, c, newNormalizer(c), "auth", []step{
		{args: []string{"user", "add", "root:rootpw"}},
		{args: []string{"role", "add", "root"}},
		{args: []string{"user", "grant-role", "root", "root"}},
		{args: []string{"user", "add", "alice", "--new-user-password", "alicepw"}},
		{args: []string{"user", "add", "bob", "--interactive=false"}, stdin: "bobpw\n"},
		{args: []string{"user", "add", "carol"}},
		{args: []string{"role", "add", "app"}},
		{args: []string{"role", "grant-permission", "app", "readwrite", "--prefix", "app/"}},
		{args: []string{"role", "grant-permission", "app", "read", "config"}},
		{args: []string{"role", "grant-permission", "app", "write", "--from-key", "logs/"}},
		{args: []string{"role", "grant-permission", "app", "READ", "a", "c"}},
		{args: []string{"user", "grant-role", "alice", "app"}},
		{args: []string{"user", "list"}},
		{args: []string{"role", "list"}},
		{args: []string{"user", "get", "alice"}},
		{args: []string{"user", "get", "alice", "--detail"}},
		{args: []string{"role", "get", "app"}},
		{args: []string{"auth", "status"}},
		{args: []string{"auth", "enable"}},
		{args: []string{"auth", "status"}},
		{args: as(root, "auth", "status")},
		{args: []string{"--user", "alice:alicepw", "put", "app/x", "1"}},
		{args: []string{"--user", "alice", "--password", "alicepw", "get", "app/x"}},
		{args: []string{"--user", "alice:alicepw", "put", "config", "1"}},
		{args: []string{"--user", "alice:alicepw", "user", "list"}},
		{args: []string{"--user", "alice:wrong", "get", "app/x"}},
		{args: []string{"--user", "alice", "get", "app/x"}},
		{args: []string{"--user", "alice:x", "--password", "y", "get", "app/x"}},
		{args: []string{"--password", "y", "get", "app/x"}},
		{args: as(root, "user", "passwd", "alice", "--interactive=false"), stdin: "newpw\n"},
		{args: []string{"--user", "alice:newpw", "get", "app/x"}},
		{args: as(root, "user", "delete", "root")},
		{args: as(root, "role", "revoke-permission", "app", "--prefix", "app/")},
		{args: as(root, "role", "revoke-permission", "app", "a", "c")},
		{args: as(root, "role", "revoke-permission", "app", "--from-key", "logs/")},
		{args: as(root, "role", "revoke-permission", "app", "config")},
		{args: as(root, "role", "revoke-permission", "app", "config")},
		{args: as(root, "role", "get", "app")},
		{args: as(root, "user", "revoke-role", "alice", "app")},
		{args: as(root, "user", "delete", "alice")},
		{args: as(root, "role", "delete", "app")},
		{args: as(root, "user", "get", "alice")},
		{args: as(root, "auth", "disable")},
		{args: []string{"auth", "status"}},
		{args: []string{"role", "grant-permission", "app", "all", "k"}},
		{args: []string{"role", "grant-permission", "--prefix", "--from-key", "app", "read", "k"}},
	})
}

func TestAuth_JSON(t *testing.T) {
	c := startCluster(t, 1, nil)
	c.mustCtl(t, "user", "add", "alice:pw")
	c.mustCtl(t, "role", "add", "app")
	c.mustCtl(t, "role", "grant-permission", "app", "read", "--prefix", "app/")
	c.mustCtl(t, "role", "grant-permission", "app", "write", "bin\xff")
	c.mustCtl(t, "user", "grant-role", "alice", "app")
	var user struct {
		Name  string   `json:"name"`
		Roles []string `json:"roles"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "user", "get", "alice"), &user)
	if user.Name != "alice" || len(user.Roles) != 1 || user.Roles[0] != "app" {
		t.Fatalf("user get -w json: %+v", user)
	}
	var role struct {
		Name        string `json:"name"`
		Permissions []struct {
			Key        *string `json:"key"`
			KeyBase64  *string `json:"key_base64"`
			RangeEnd   *string `json:"range_end"`
			Permission string  `json:"permission"`
		} `json:"permissions"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "role", "get", "app"), &role)
	if role.Name != "app" || len(role.Permissions) != 2 ||
		*role.Permissions[0].Key != "app/" || *role.Permissions[0].RangeEnd != "app0" || role.Permissions[0].Permission != "read" ||
		role.Permissions[1].KeyBase64 == nil || *role.Permissions[1].KeyBase64 != "Ymlu/w==" || role.Permissions[1].RangeEnd != nil {
		t.Fatalf("role get -w json: %+v", role)
	}
	var users struct {
		Users []string `json:"users"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "user", "list"), &users)
	if len(users.Users) != 1 || users.Users[0] != "alice" {
		t.Fatalf("user list -w json: %+v", users)
	}
	var roles struct {
		Roles []string `json:"roles"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "role", "list"), &roles)
	if len(roles.Roles) != 1 || roles.Roles[0] != "app" {
		t.Fatalf("role list -w json: %+v", roles)
	}
	var st struct {
		Enabled      *bool   `json:"enabled"`
		AuthRevision *uint64 `json:"auth_revision"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "auth", "status"), &st)
	if st.Enabled == nil || *st.Enabled || st.AuthRevision == nil || *st.AuthRevision == 0 {
		t.Fatalf("auth status -w json: %+v", st)
	}
	var change struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
		} `json:"header"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "user", "revoke-role", "alice", "app"), &change)
	if change.Header.MemberID == 0 {
		t.Fatalf("user revoke-role -w json: %+v", change)
	}
}
