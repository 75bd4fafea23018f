package client_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/cairnkv/cairn/client"
)

// TestClient_AuthAdmin sets up users, roles and permissions through the
// client, enables auth, checks what they allow, and takes them apart.
func TestClient_AuthAdmin(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	ctx := testCtx(t)
	admin := newClient(t, urls(ms), func(cfg *client.Config) { cfg.Username, cfg.Password = "root", "rootpw" })

	must := func(_ *client.AuthResponse, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(admin.UserAdd(ctx, "root", "rootpw"))
	must(admin.RoleAdd(ctx, "root"))
	must(admin.UserGrantRole(ctx, "root", "root"))
	must(admin.UserAdd(ctx, "alice", "alicepw"))
	must(admin.RoleAdd(ctx, "app"))
	must(admin.RoleGrantPermission(ctx, "app", "app/", client.PermReadWrite, client.WithPrefix()))
	must(admin.RoleGrantPermission(ctx, "app", "config", client.PermRead))
	must(admin.RoleGrantPermission(ctx, "app", "logs/", client.PermWrite, client.WithFromKey()))
	must(admin.RoleGrantPermission(ctx, "app", "a", client.PermRead, client.WithRange("c")))
	must(admin.RoleGrantPermission(ctx, "app", "bin\xff", client.PermRead))
	must(admin.UserGrantRole(ctx, "alice", "app"))

	t.Run("Get", func(t *testing.T) {
		u, err := admin.UserGet(ctx, "alice")
		if err != nil || u.Name != "alice" || !reflect.DeepEqual(u.Roles, []string{"app"}) {
			t.Fatalf("UserGet = %+v, %v", u, err)
		}
		users, err := admin.UserList(ctx)
		if err != nil || !reflect.DeepEqual(users.Users, []string{"alice", "root"}) {
			t.Fatalf("UserList = %+v, %v", users, err)
		}
		roles, err := admin.RoleList(ctx)
		if err != nil || !reflect.DeepEqual(roles.Roles, []string{"app", "root"}) {
			t.Fatalf("RoleList = %+v, %v", roles, err)
		}
		r, err := admin.RoleGet(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		want := []client.Permission{
			{Key: []byte("a"), RangeEnd: []byte("c"), Type: client.PermRead},
			{Key: []byte("app/"), RangeEnd: []byte("app0"), Type: client.PermReadWrite},
			{Key: []byte("bin\xff"), Type: client.PermRead},
			{Key: []byte("config"), Type: client.PermRead},
			{Key: []byte("logs/"), RangeEnd: []byte{0}, Type: client.PermWrite},
		}
		if r.Name != "app" || !reflect.DeepEqual(r.Permissions, want) {
			t.Fatalf("RoleGet = %+v\nwant %+v", r.Permissions, want)
		}
	})
	t.Run("Enable", func(t *testing.T) {
		must(admin.AuthEnable(ctx))
		st, err := admin.AuthStatus(ctx)
		if err != nil || !st.Enabled || st.AuthRevision == 0 {
			t.Fatalf("AuthStatus = %+v, %v", st, err)
		}
		alice := newClient(t, urls(ms), func(cfg *client.Config) { cfg.Username, cfg.Password = "alice", "alicepw" })
		if _, err := alice.Put(ctx, "app/x", "1"); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Put(ctx, "config", "1"); !errors.Is(err, client.ErrPermissionDenied) {
			t.Fatalf("a put with read only: %v", err)
		}
		if _, err := alice.UserList(ctx); !errors.Is(err, client.ErrPermissionDenied) {
			t.Fatalf("UserList as alice: %v", err)
		}
		if _, err := admin.UserDelete(ctx, "root"); !errors.Is(err, client.ErrConflict) {
			t.Fatalf("UserDelete(root) while auth is on: %v", err)
		}
		must(admin.UserChangePassword(ctx, "alice", "newpw"))
		if _, err := alice.Get(ctx, "app/x"); !errors.Is(err, client.ErrUnauthenticated) {
			t.Fatalf("a get with the old password: %v", err)
		}
	})
	t.Run("Revoke", func(t *testing.T) {
		must(admin.RoleRevokePermission(ctx, "app", "app/", client.WithPrefix()))
		must(admin.RoleRevokePermission(ctx, "app", "logs/", client.WithFromKey()))
		must(admin.RoleRevokePermission(ctx, "app", "a", client.WithRange("c")))
		must(admin.RoleRevokePermission(ctx, "app", "bin\xff"))
		if _, err := admin.RoleRevokePermission(ctx, "app", "nothing"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("a revoke of no permission: %v", err)
		}
		r, err := admin.RoleGet(ctx, "app")
		if err != nil || len(r.Permissions) != 1 || string(r.Permissions[0].Key) != "config" {
			t.Fatalf("RoleGet after the revokes: %+v, %v", r, err)
		}
		must(admin.UserRevokeRole(ctx, "alice", "app"))
		if _, err := admin.UserRevokeRole(ctx, "alice", "app"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("a second UserRevokeRole: %v", err)
		}
		must(admin.RoleDelete(ctx, "app"))
		must(admin.UserDelete(ctx, "alice"))
		if _, err := admin.UserGet(ctx, "alice"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("UserGet of a deleted user: %v", err)
		}
		must(admin.AuthDisable(ctx))
		st, err := admin.AuthStatus(ctx)
		if err != nil || st.Enabled {
			t.Fatalf("AuthStatus after disable = %+v, %v", st, err)
		}
	})
}
