package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// Config tunes the Service. Zero values mean the defaults.
type Config struct {
	// TokenTTL is how long a token from Authenticate is valid (default 5m,
	// as etcd's --auth-token-ttl).
	TokenTTL time.Duration
	// MaxHashers bounds the password hashes computed or checked at once
	// (default half the CPUs, at least 1), MaxHashWaiters the logins that
	// hash or wait for a slot (default 64; more are told to retry at
	// once): a flood of logins cannot take the CPU from the member's other
	// work nor pile up goroutines.
	MaxHashers     int
	MaxHashWaiters int
}

// Service manages users, roles and permissions through Raft and logs users
// in.
type Service struct {
	cfg      Config
	store    *Store
	proposer ports.Proposer
	hasher   ports.PasswordHasher
	clock    ports.Clock
	limiter  *limiter

	slots   chan struct{} // one per running hash
	waiters chan struct{} // one per login waiting for a slot

	salt      [16]byte // keys the cache of verified passwords
	mu        sync.Mutex
	cache     map[[32]byte]uint64 // verified (user, password) -> password revision
	dummyOnce sync.Once
	dummy     []byte // hash checked for unknown users, so that they take as long
}

// maxCachedLogins bounds the cache of verified passwords.
const maxCachedLogins = 4096

// NewService returns the auth service over store.
func NewService(cfg Config, store *Store, p ports.Proposer, h ports.PasswordHasher, clock ports.Clock) (*Service, error) {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 5 * time.Minute
	}
	if cfg.MaxHashers <= 0 {
		cfg.MaxHashers = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if cfg.MaxHashWaiters <= 0 {
		cfg.MaxHashWaiters = 64
	}
	s := &Service{cfg: cfg, store: store, proposer: p, hasher: h, clock: clock, limiter: newLimiter(clock.Now),
		slots: make(chan struct{}, cfg.MaxHashers), waiters: make(chan struct{}, cfg.MaxHashWaiters),
		cache: map[[32]byte]uint64{}}
	if _, err := rand.Read(s.salt[:]); err != nil {
		return nil, err
	}
	return s, nil
}

// Store returns the store the service decides with.
func (s *Service) Store() *Store { return s.store }

// TokenTTL returns the validity of the tokens Authenticate issues.
func (s *Service) TokenTTL() time.Duration { return s.cfg.TokenTTL }

// Authenticate checks a user's password and returns a signed token and its
// TTL in seconds. source (the client's address) is counted, with the user
// name, against password guessing.
func (s *Service) Authenticate(ctx context.Context, name, password, source string) (string, int64, error) {
	if !s.store.Enabled() {
		return "", 0, fmt.Errorf("auth is not enabled: %w", domain.ErrPreconditionFailed)
	}
	if err := s.Login(ctx, name, password, source); err != nil {
		return "", 0, err
	}
	tok, err := s.store.cur.Load().issue(name, s.clock.Now(), s.cfg.TokenTTL)
	return tok, int64(s.cfg.TokenTTL / time.Second), err
}

// VerifyToken returns the user a token was issued to, or why it is void
// (domain.ErrUnauthenticated).
func (s *Service) VerifyToken(token string) (string, error) {
	return s.store.cur.Load().verify(token, s.clock.Now())
}

// Login checks a user's password (HTTP Basic on any call, and
// Authenticate). A failure is domain.ErrUnauthenticated that does not say
// whether the user exists; after repeated failures for the user or from
// the source, a *domain.RetryAfterError (domain.ErrTooManyRequests).
func (s *Service) Login(ctx context.Context, name, password, source string) error {
	keys := []string{"user " + name, "source " + source}
	if w := s.limiter.wait(keys...); w > 0 {
		return &domain.RetryAfterError{Err: domain.ErrTooManyRequests, After: ceilSeconds(w),
			Msg: fmt.Sprintf("too many failed logins for this user or from this address: retry in %v", w.Round(time.Millisecond))}
	}
	c := s.store.cur.Load()
	up := c.users[name]
	ck := s.cacheKey(name, password)
	if up != nil && s.cached(ck, up.user.PasswordRevision) {
		return nil
	}
	var hash []byte
	if up != nil {
		hash = up.user.PasswordHash
	}
	var ok bool
	err := s.withSlot(ctx, func() (err error) {
		if hash == nil {
			// An unknown user costs a hash check too, so that the time
			// of a refusal does not tell whether the user exists. The
			// hash is made at the first need: a member that never sees
			// an unknown user never pays for it.
			s.dummyOnce.Do(func() { s.dummy, _ = s.hasher.Hash(fmt.Sprintf("%x", s.salt)) })
			hash = s.dummy
		}
		ok, err = s.hasher.Match(hash, password)
		return err
	})
	if err != nil {
		return err
	}
	if up == nil || !ok || domain.ValidatePassword(password) != nil {
		s.limiter.fail(keys...)
		return fmt.Errorf("wrong user name or password: %w", domain.ErrUnauthenticated)
	}
	s.limiter.succeed(keys[0])
	s.remember(ck, up.user.PasswordRevision)
	return nil
}

func ceilSeconds(d time.Duration) int64 { return max(1, int64(math.Ceil(d.Seconds()))) }

// withSlot runs f, a password hash, once a slot is free; too many waiting
// already is a *domain.RetryAfterError.
func (s *Service) withSlot(ctx context.Context, f func() error) error {
	select {
	case s.waiters <- struct{}{}:
	default:
		return &domain.RetryAfterError{Err: domain.ErrTooManyRequests, After: 1,
			Msg: "this member is busy checking passwords: retry in a second"}
	}
	defer func() { <-s.waiters }()
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.slots }()
	return f()
}

func (s *Service) cacheKey(name, password string) [32]byte {
	h := sha256.New()
	h.Write(s.salt[:])
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (s *Service) cached(k [32]byte, passRev uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rev, ok := s.cache[k]
	return ok && rev == passRev
}

func (s *Service) remember(k [32]byte, passRev uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= maxCachedLogins {
		clear(s.cache)
	}
	s.cache[k] = passRev
}

// propose replicates an auth change and returns the store revision.
func (s *Service) propose(ctx context.Context, r domain.AuthRequest) (int64, error) {
	if err := r.Validate(); err != nil {
		return 0, err
	}
	res, err := s.proposer.Propose(ctx, domain.Command{Type: domain.CmdAuth, Auth: &r})
	if err != nil {
		return 0, err
	}
	if res.Err != nil {
		return 0, res.Err
	}
	// A follower that forwarded the change hears the leader's result before
	// it has applied the entry itself; the barrier waits until it has, so
	// that the caller's next request to this member (a login as the new
	// user, a call the change forbids) meets the new state. The change is
	// made whatever the barrier says: a barrier that fails (the leader
	// just changed) only leaves this member a moment behind, as any
	// follower is.
	_ = s.proposer.ReadBarrier(ctx)
	return res.Revision, nil
}

// hash computes a password hash in a slot.
func (s *Service) hash(ctx context.Context, password string) ([]byte, error) {
	if err := domain.ValidatePassword(password); err != nil {
		return nil, err
	}
	var h []byte
	err := s.withSlot(ctx, func() (err error) {
		h, err = s.hasher.Hash(password)
		return err
	})
	return h, err
}

// Enable turns auth on; it needs a user root with the role root.
func (s *Service) Enable(ctx context.Context) (int64, error) {
	key := make([]byte, domain.SigningKeySize)
	if _, err := rand.Read(key); err != nil {
		return 0, err
	}
	return s.propose(ctx, domain.AuthRequest{Op: domain.AuthEnable, SigningKey: key})
}

// Disable turns auth off.
func (s *Service) Disable(ctx context.Context) (int64, error) {
	return s.propose(ctx, domain.AuthRequest{Op: domain.AuthDisable})
}

// AddUser creates a user; the password is hashed here, before the change
// is proposed.
func (s *Service) AddUser(ctx context.Context, name, password string) (int64, error) {
	if err := domain.ValidateAuthName("user", name); err != nil {
		return 0, err
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return 0, err
	}
	return s.propose(ctx, domain.AuthRequest{Op: domain.AuthUserAdd, User: name, PasswordHash: h})
}

// ChangePassword sets a user's password; every token of the user is void.
func (s *Service) ChangePassword(ctx context.Context, name, password string) (int64, error) {
	if err := domain.ValidateAuthName("user", name); err != nil {
		return 0, err
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return 0, err
	}
	return s.propose(ctx, domain.AuthRequest{Op: domain.AuthUserPassword, User: name, PasswordHash: h})
}

// DeleteUser deletes a user.
func (s *Service) DeleteUser(ctx context.Context, name string) (int64, error) {
	return s.propose(ctx, domain.AuthRequest{Op: domain.AuthUserDelete, User: name})
}

// GrantRole gives a user a role.
func (s *Service) GrantRole(ctx context.Context, user, role string) (int64, error) {
	return s.propose(ctx, domain.AuthRequest{Op: domain.AuthUserGrantRole, User: user, Role: role})
}

// RevokeRole takes a role from a user.
func (s *Service) RevokeRole(ctx context.Context, user, role string) (int64, error) {
	return s.propose(ctx, domain.AuthRequest{Op: domain.AuthUserRevokeRole, User: user, Role: role})
}

// AddRole creates a role without permissions.
func (s *Service) AddRole(ctx context.Context, name string) (int64, error) {
	return s.propose(ctx, domain.AuthRequest{Op: domain.AuthRoleAdd, Role: name})
}

// DeleteRole deletes a role and takes it from every user.
func (s *Service) DeleteRole(ctx context.Context, name string) (int64, error) {
	return s.propose(ctx, domain.AuthRequest{Op: domain.AuthRoleDelete, Role: name})
}

// GrantPermission gives a role a permission (replacing the type of one on
// the same key and range end).
func (s *Service) GrantPermission(ctx context.Context, role string, p domain.Permission) (int64, error) {
	return s.propose(ctx, domain.AuthRequest{Op: domain.AuthRoleGrantPerm, Role: role, Perm: p})
}

// RevokePermission takes from a role the permission on exactly key and
// range end.
func (s *Service) RevokePermission(ctx context.Context, role string, key, end []byte) (int64, error) {
	return s.propose(ctx, domain.AuthRequest{Op: domain.AuthRoleRevokePerm, Role: role,
		Perm: domain.Permission{Key: key, RangeEnd: end}})
}

// State returns the auth state once this member has applied every change
// acknowledged before the call (a linearizable read). Callers must not
// change it.
func (s *Service) State(ctx context.Context) (domain.AuthState, error) {
	if err := s.proposer.ReadBarrier(ctx); err != nil {
		return domain.AuthState{}, err
	}
	return s.store.State(), nil
}
