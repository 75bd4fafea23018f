package auth_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
)

// BenchmarkCheck is the cost auth adds to a request once the user is
// known: one permission check of a 100-permission user.
func BenchmarkCheck(b *testing.B) {
	e := newEnv(b, auth.Config{})
	ctx := context.Background()
	e.do(e.svc.AddUser(ctx, "root", "pw"))
	e.do(e.svc.AddRole(ctx, "root"))
	e.do(e.svc.GrantRole(ctx, "root", "root"))
	e.do(e.svc.AddUser(ctx, "u", "pw"))
	e.do(e.svc.AddRole(ctx, "r"))
	for i := 0; i < 100; i++ {
		p := []byte(fmt.Sprintf("app%03d/", i))
		e.do(e.svc.GrantPermission(ctx, "r", domain.Permission{Type: domain.PermReadWrite, Key: p, RangeEnd: domain.PrefixEnd(p)}))
	}
	e.do(e.svc.GrantRole(ctx, "u", "r"))
	e.do(e.svc.Enable(ctx))
	need := auth.Write([]byte("app050/key"), nil)
	b.ResetTimer()
	for b.Loop() {
		if err := e.store.Check("u", need); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyToken is the cost of a Bearer token on a request.
func BenchmarkVerifyToken(b *testing.B) {
	e := newEnv(b, auth.Config{})
	ctx := context.Background()
	e.do(e.svc.AddUser(ctx, "root", "pw"))
	e.do(e.svc.AddRole(ctx, "root"))
	e.do(e.svc.GrantRole(ctx, "root", "root"))
	e.do(e.svc.Enable(ctx))
	tok, _, err := e.svc.Authenticate(ctx, "root", "pw", "s")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.svc.VerifyToken(tok); err != nil {
			b.Fatal(err)
		}
	}
}
