package app

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestEtcdAPI_TLSAndAuth: over TLS (HTTP/2 by ALPN) with auth on, the
// gRPC API asks the same auth as REST: a user from a token (clientv3's
// user and password) or a client certificate's common name, and the same
// permissions.
func TestEtcdAPI_TLSAndAuth(t *testing.T) {
	t.Parallel()
	pki := newClusterPKI(t)
	anonCert, anonKey := pki.clientCA.Issue(t, "", false)
	e := &rbacEnv{pki: pki, anon: tlsHTTPClient(t, pki.clientCA.ClientConfig(t, anonCert, anonKey))}
	e.ms = startTLSCluster(t, 1, pki, func(c *Config) { c.BcryptCost = 4 })
	url := e.ms[0].URL
	e.setupAuth(t, url)

	client := func(conf *tls.Config, user, password string) *clientv3.Client {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, TLS: conf, Username: user, Password: password,
			DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatalf("client of %q: %v", user, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	anonTLS := pki.clientCA.ClientConfig(t, anonCert, anonKey)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	anon := client(anonTLS, "", "")
	if _, err := anon.Get(ctx, "app/k"); !errors.Is(err, rpctypes.ErrUserEmpty) {
		t.Fatalf("no user: %v", err)
	}
	rw := client(anonTLS, "rw", "rwpw")
	if _, err := rw.Put(ctx, "app/x", "1"); err != nil {
		t.Fatalf("rw puts in app/: %v", err)
	}
	if g, err := rw.Get(ctx, "app/", clientv3.WithPrefix()); err != nil || len(g.Kvs) != 2 {
		t.Fatalf("rw reads app/: %+v %v", g, err)
	}
	if _, err := rw.Get(ctx, "other"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("rw reads other: %v", err)
	}
	if _, err := rw.Txn(ctx).Then(clientv3.OpPut("app/y", "1"), clientv3.OpGet("other")).Commit(); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("a txn that reads other: %v", err)
	}
	if _, err := rw.Compact(ctx, 1); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("rw compacts: %v", err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	if r := <-rw.Watch(wctx, "other"); !r.Canceled || !errors.Is(r.Err(), rpctypes.ErrPermissionDenied) {
		t.Fatalf("rw watches other: %+v %v", r, r.Err())
	}
	ro := client(anonTLS, "ro", "ropw")
	if _, err := ro.Put(ctx, "app/x", "2"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("ro writes: %v", err)
	}
	if _, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, TLS: anonTLS, Username: "rw", Password: "wrong",
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()}); !errors.Is(err, rpctypes.ErrAuthFailed) {
		t.Fatalf("a wrong password: %v", err)
	}
	// A watch ends when an auth change takes the user's permission.
	ch := rw.Watch(wctx, "app/", clientv3.WithPrefix())
	if _, err := rw.Put(ctx, "app/z", "1"); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; len(r.Events) != 1 {
		t.Fatalf("rw's watch: %+v %v", r, r.Err())
	}
	e.rootDo(t, url, "DELETE", "/v1/auth/users/rw/roles/rw", "")
	deadline := time.After(10 * time.Second)
	for ended := false; !ended; {
		select {
		case r, ok := <-ch:
			ended = !ok || r.Canceled
		case <-deadline:
			t.Fatal("the watch goes on without the permission")
		}
	}
	// The common name of a verified client certificate is the user.
	rootCert, rootKey := pki.clientCA.Issue(t, "root", false)
	root := client(pki.clientCA.ClientConfig(t, rootCert, rootKey), "", "")
	if _, err := root.Put(ctx, "other", "2"); err != nil {
		t.Fatalf("root by certificate: %v", err)
	}
	if _, err := root.MemberList(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := root.AuthStatus(ctx)
	if err != nil || !st.Enabled {
		t.Fatalf("auth status: %+v %v", st, err)
	}
}
