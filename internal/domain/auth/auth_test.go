package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// reloading is the fake proposer with the member's commit path for auth:
// the store reloads after every applied change, as the FSM's hook does.
type reloading struct {
	*portstest.Proposer
	store *auth.Store
}

func (r *reloading) Propose(ctx context.Context, cmd domain.Command) (domain.Result, error) {
	res, err := r.Proposer.Propose(ctx, cmd)
	if err == nil && cmd.Type == domain.CmdAuth {
		if rerr := r.store.Reload(); rerr != nil {
			return res, rerr
		}
	}
	return res, err
}

type env struct {
	t      testing.TB
	svc    *auth.Service
	store  *auth.Store
	clock  *portstest.Clock
	hasher *portstest.Hasher
	p      *reloading
}

func newEnv(t testing.TB, cfg auth.Config) *env {
	t.Helper()
	b := portstest.NewBackend()
	store := auth.NewStore(b.AuthState)
	if err := store.Reload(); err != nil {
		t.Fatal(err)
	}
	p := &reloading{Proposer: portstest.NewProposer(b), store: store}
	clock := portstest.NewClock()
	h := &portstest.Hasher{}
	svc, err := auth.NewService(cfg, store, p, h, clock)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, svc: svc, store: store, clock: clock, hasher: h, p: p}
}

func (e *env) do(_ int64, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// enabled sets up root (root role), alice with role app (readwrite on
// the prefix app/, read on the key cfg) and bob without roles, then enables auth.
func (e *env) enabled() {
	ctx := context.Background()
	e.do(e.svc.AddUser(ctx, "root", "rootpw"))
	e.do(e.svc.AddRole(ctx, "root"))
	e.do(e.svc.GrantRole(ctx, "root", "root"))
	e.do(e.svc.AddUser(ctx, "alice", "alicepw"))
	e.do(e.svc.AddUser(ctx, "bob", "bobpw"))
	e.do(e.svc.AddRole(ctx, "app"))
	e.do(e.svc.GrantPermission(ctx, "app", domain.Permission{Type: domain.PermReadWrite, Key: []byte("app/"), RangeEnd: domain.PrefixEnd([]byte("app/"))}))
	e.do(e.svc.GrantPermission(ctx, "app", domain.Permission{Type: domain.PermRead, Key: []byte("cfg")}))
	e.do(e.svc.GrantRole(ctx, "alice", "app"))
	e.do(e.svc.Enable(ctx))
}

func TestStore_CheckMatrix(t *testing.T) {
	e := newEnv(t, auth.Config{})
	// Auth off: everyone may do everything, even without a user.
	if err := e.store.Check("", auth.Root(), auth.Write([]byte("x"), nil)); err != nil {
		t.Fatalf("auth off: %v", err)
	}
	e.enabled()
	pfx := func(p string) (k, end []byte) { return []byte(p), domain.PrefixEnd([]byte(p)) }
	appK, appE := pfx("app/")
	all := []byte{0}
	cases := []struct {
		user string
		need auth.Need
		want error
	}{
		{"", auth.Authenticated(), domain.ErrUnauthenticated},
		{"nobody", auth.Authenticated(), domain.ErrPermissionDenied},
		{"bob", auth.Authenticated(), nil},
		{"bob", auth.Read([]byte("cfg"), nil), domain.ErrPermissionDenied},
		{"alice", auth.Read([]byte("cfg"), nil), nil},
		{"alice", auth.Write([]byte("cfg"), nil), domain.ErrPermissionDenied},
		{"alice", auth.ReadWrite([]byte("cfg"), nil), domain.ErrPermissionDenied},
		{"alice", auth.ReadWrite([]byte("app/x"), nil), nil},
		{"alice", auth.ReadWrite(appK, appE), nil},
		{"alice", auth.Read([]byte("app/a"), []byte("app/z")), nil},
		{"alice", auth.Read([]byte("app/a"), []byte("apq")), domain.ErrPermissionDenied}, // past the prefix
		{"alice", auth.Read([]byte("app"), []byte("app/z")), domain.ErrPermissionDenied}, // before it
		{"alice", auth.Read([]byte("app/"), all), domain.ErrPermissionDenied},            // every key from app/
		{"alice", auth.Read([]byte{}, all), domain.ErrPermissionDenied},                  // every key
		{"alice", auth.Root(), domain.ErrPermissionDenied},
		{"root", auth.Root(), nil},
		{"root", auth.Write([]byte{}, all), nil},
	}
	for _, c := range cases {
		err := e.store.Check(c.user, c.need)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%q needs %v: %v, want %v", c.user, c.need, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "app/") {
			t.Errorf("the denial names a key: %v", err)
		}
	}

	// Revoking takes effect at the next check.
	ctx := context.Background()
	e.do(e.svc.RevokePermission(ctx, "app", []byte("cfg"), nil))
	if err := e.store.Check("alice", auth.Read([]byte("cfg"), nil)); !errors.Is(err, domain.ErrPermissionDenied) {
		t.Fatalf("read after the permission was revoked: %v", err)
	}
}

func TestStore_CoverageFromSeveralRoles(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.enabled()
	ctx := context.Background()
	// Two roles whose ranges meet: [a, c) and [c, e) cover [b, d).
	for i, r := range []struct{ key, end string }{{"a", "c"}, {"c", "e"}} {
		role := fmt.Sprintf("r%d", i)
		e.do(e.svc.AddRole(ctx, role))
		e.do(e.svc.GrantPermission(ctx, role, domain.Permission{Type: domain.PermRead, Key: []byte(r.key), RangeEnd: []byte(r.end)}))
		e.do(e.svc.GrantRole(ctx, "bob", role))
	}
	if err := e.store.Check("bob", auth.Read([]byte("b"), []byte("d"))); err != nil {
		t.Fatalf("adjacent ranges of two roles: %v", err)
	}
	if err := e.store.Check("bob", auth.Read([]byte("b"), []byte("f"))); err == nil {
		t.Fatal("a range past both permissions was allowed")
	}
	// A txn needs every branch, taken or not.
	txn := &domain.TxnRequest{
		Compare: []domain.Compare{{Key: []byte("b")}},
		Success: []domain.Op{{Range: &domain.RangeRequest{Key: []byte("c")}}},
		Failure: []domain.Op{{Put: &domain.PutRequest{Key: []byte("d")}}},
	}
	if err := e.store.Check("bob", auth.TxnNeeds(txn)...); !errors.Is(err, domain.ErrPermissionDenied) {
		t.Fatalf("a txn whose failure branch writes without permission: %v", err)
	}
	txn.Failure = nil
	if err := e.store.Check("bob", auth.TxnNeeds(txn)...); err != nil {
		t.Fatalf("a read-only txn in range: %v", err)
	}
}

func TestService_Tokens(t *testing.T) {
	e := newEnv(t, auth.Config{TokenTTL: time.Minute})
	ctx := context.Background()
	if _, _, err := e.svc.Authenticate(ctx, "root", "rootpw", "1.2.3.4"); !errors.Is(err, domain.ErrPreconditionFailed) {
		t.Fatalf("authenticate with auth off: %v", err)
	}
	e.enabled()
	tok, ttl, err := e.svc.Authenticate(ctx, "alice", "alicepw", "1.2.3.4")
	if err != nil || ttl != 60 {
		t.Fatalf("authenticate: %q %d %v", tok, ttl, err)
	}
	if u, err := e.svc.VerifyToken(tok); err != nil || u != "alice" {
		t.Fatalf("verify: %q %v", u, err)
	}
	void := func(what, tok string) {
		t.Helper()
		if u, err := e.svc.VerifyToken(tok); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("%s: the token still names %q (%v)", what, u, err)
		}
	}
	// Tampering.
	void("a changed payload", strings.Replace(tok, tok[8:10], "AA", 1))
	void("garbage", "cairn1.!!.!!")
	void("empty", "")
	// Expiry.
	e.clock.Advance(61 * time.Second)
	void("expired", tok)
	// A password change voids the user's tokens, not others'.
	tok, _, _ = e.svc.Authenticate(ctx, "alice", "alicepw", "1.2.3.4")
	rootTok, _, _ := e.svc.Authenticate(ctx, "root", "rootpw", "1.2.3.4")
	e.do(e.svc.ChangePassword(ctx, "alice", "newpw"))
	void("after a password change", tok)
	if _, err := e.svc.VerifyToken(rootTok); err != nil {
		t.Fatalf("another user's token after alice's password change: %v", err)
	}
	// Deleting and re-creating a user voids its old tokens.
	tok, _, _ = e.svc.Authenticate(ctx, "alice", "newpw", "1.2.3.4")
	e.do(e.svc.DeleteUser(ctx, "alice"))
	e.do(e.svc.AddUser(ctx, "alice", "newpw"))
	void("after the user was re-created", tok)
	// Disable and enable void every token.
	e.do(e.svc.Disable(ctx))
	e.do(e.svc.Enable(ctx))
	void("after auth was disabled and enabled again", rootTok)
}

func TestService_WrongPasswordsAreSlowedDown(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.enabled()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := e.svc.Login(ctx, "alice", "guess", "10.0.0.1"); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	// The user is now slowed down, from any source, even with the right
	// password; and so is the source for any user.
	var ra *domain.RetryAfterError
	if err := e.svc.Login(ctx, "alice", "alicepw", "10.0.0.2"); !errors.As(err, &ra) || !errors.Is(err, domain.ErrTooManyRequests) {
		t.Fatalf("login during the delay: %v", err)
	}
	if err := e.svc.Login(ctx, "bob", "bobpw", "10.0.0.1"); !errors.Is(err, domain.ErrTooManyRequests) {
		t.Fatalf("another user from the guessing source: %v", err)
	}
	if err := e.svc.Login(ctx, "bob", "bobpw", "10.0.0.3"); err != nil {
		t.Fatalf("another user from another source: %v", err)
	}
	e.clock.Advance(time.Second)
	if err := e.svc.Login(ctx, "alice", "alicepw", "10.0.0.2"); err != nil {
		t.Fatalf("login after the delay: %v", err)
	}
	// The delay doubles with each failure past the free ones.
	for i := 0; i < 6; i++ {
		e.clock.Advance(time.Minute)
		_ = e.svc.Login(ctx, "carol", "x", fmt.Sprintf("10.1.0.%d", i))
	}
	// Six failures: the delay is 250 ms << 3 = 2 s.
	e.clock.Advance(time.Second)
	if err := e.svc.Login(ctx, "carol", "x", "10.2.0.1"); !errors.As(err, &ra) || ra.After != 1 {
		t.Fatalf("1 s after the sixth failure: %v, want a wait of 1 s", err)
	}
	e.clock.Advance(time.Second)
	if err := e.svc.Login(ctx, "carol", "x", "10.2.0.1"); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("2 s after the sixth failure: %v, want an attempt", err)
	}
	// An unknown user fails like a wrong password, and costs a hash too.
	calls := e.hasher.Calls.Load()
	if err := e.svc.Login(ctx, "nobody", "x", "10.3.0.1"); !errors.Is(err, domain.ErrUnauthenticated) || strings.Contains(err.Error(), "exist") {
		t.Fatalf("unknown user: %v", err)
	}
	if e.hasher.Calls.Load() == calls {
		t.Fatal("an unknown user was refused without the cost of a hash check")
	}
}

// blockingHasher holds every Match until released.
type blockingHasher struct {
	portstest.Hasher
	release chan struct{}
	started chan struct{}
}

func (b *blockingHasher) Match(hash []byte, pw string) (bool, error) {
	b.started <- struct{}{}
	<-b.release
	return b.Hasher.Match(hash, pw)
}

func TestService_HashingIsBounded(t *testing.T) {
	b := portstest.NewBackend()
	store := auth.NewStore(b.AuthState)
	_ = store.Reload()
	h := &blockingHasher{release: make(chan struct{}), started: make(chan struct{}, 100)}
	svc, err := auth.NewService(auth.Config{MaxHashers: 2, MaxHashWaiters: 3}, store,
		&reloading{Proposer: portstest.NewProposer(b), store: store}, h, portstest.NewClock())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Go(func() {
			// A probe below may hold the last place for a moment: retry.
			for errors.Is(svc.Login(context.Background(), "u", "p", fmt.Sprint(i)), domain.ErrTooManyRequests) {
				time.Sleep(time.Millisecond)
			}
		})
	}
	<-h.started
	<-h.started
	// Two hashing, one waiting: the waiting room (3) is full.
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Until the third login is in, a probe may get in line: its
		// deadline takes it out again.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		err := svc.Login(ctx, "u", "p", "x")
		cancel()
		if errors.Is(err, domain.ErrTooManyRequests) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a fourth login with 3 in the waiting room: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-h.started:
		t.Fatal("a third hash ran while two were running")
	default:
	}
	close(h.release)
	wg.Wait()
}

func TestService_BasicLoginIsCached(t *testing.T) {
	e := newEnv(t, auth.Config{})
	e.enabled()
	ctx := context.Background()
	if err := e.svc.Login(ctx, "alice", "alicepw", "s"); err != nil {
		t.Fatal(err)
	}
	calls := e.hasher.Calls.Load()
	for i := 0; i < 10; i++ {
		if err := e.svc.Login(ctx, "alice", "alicepw", "s"); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.hasher.Calls.Load() - calls; n != 0 {
		t.Fatalf("%d hashes for 10 logins with a verified password", n)
	}
	e.do(e.svc.ChangePassword(ctx, "alice", "new"))
	if err := e.svc.Login(ctx, "alice", "alicepw", "s"); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("the old password after a change: %v", err)
	}
}

func TestStore_ChangedWakesWaiters(t *testing.T) {
	e := newEnv(t, auth.Config{})
	ch := e.store.Changed()
	e.do(e.svc.AddRole(context.Background(), "x"))
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed was not closed by a reload")
	}
}

func TestStore_OnChange(t *testing.T) {
	e := newEnv(t, auth.Config{})
	calls := 0
	cancel := e.store.OnChange(func() { calls++ })
	e.do(e.svc.AddRole(context.Background(), "x"))
	if calls != 1 {
		t.Fatalf("%d calls after one change, want 1", calls)
	}
	cancel()
	e.do(e.svc.AddRole(context.Background(), "y"))
	if calls != 1 {
		t.Fatalf("a cancelled hook was called: %d calls", calls)
	}
}
