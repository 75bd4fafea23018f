package auth

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cairnkv/cairn/internal/domain"
)

// Need is what a request needs: a permission on keys, the root role, or
// only an authenticated user. The zero Need is the last.
type Need struct {
	perm     domain.PermType // read, write or both; 0 with root false: authenticated
	root     bool
	key, end []byte // the API's range forms (see spanOf)
}

// Read needs read on key (end empty), the range [key, end), or every key
// from key (end "\x00").
func Read(key, end []byte) Need { return Need{perm: domain.PermRead, key: key, end: end} }

// Write needs write on the keys, in Read's forms.
func Write(key, end []byte) Need { return Need{perm: domain.PermWrite, key: key, end: end} }

// ReadWrite needs both on the keys, in Read's forms.
func ReadWrite(key, end []byte) Need { return Need{perm: domain.PermReadWrite, key: key, end: end} }

// Root needs the root role: cluster, maintenance and auth calls.
func Root() Need { return Need{root: true} }

// Authenticated needs a user, whatever its permissions.
func Authenticated() Need { return Need{} }

func (n Need) String() string {
	switch {
	case n.root:
		return "the root role"
	case n.perm == 0:
		return "a user"
	case len(n.end) == 0:
		return n.perm.String() + " permission on the key"
	}
	return n.perm.String() + " permission on the whole range"
}

// userKey is the context key of the authenticated user.
type userKey struct{}

// WithUser returns ctx carrying the authenticated user's name.
func WithUser(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, userKey{}, name)
}

// UserFrom returns the user WithUser put in ctx, or "".
func UserFrom(ctx context.Context) string {
	name, _ := ctx.Value(userKey{}).(string)
	return name
}

// compiled is the auth state as the checks use it.
type compiled struct {
	state domain.AuthState
	users map[string]*userPerms
}

type userPerms struct {
	root        bool
	read, write spanSet
	user        *domain.AuthUser
}

func compile(st domain.AuthState) *compiled {
	c := &compiled{state: st, users: make(map[string]*userPerms, len(st.Users))}
	for i := range st.Users {
		u := &st.Users[i]
		var read, write []domain.Permission
		up := &userPerms{user: u}
		for _, name := range u.Roles {
			if name == domain.RootRole {
				up.root = true
			}
			r := st.Role(name)
			if r == nil {
				continue
			}
			for _, p := range r.Permissions {
				if p.Type.Allows(domain.PermRead) {
					read = append(read, p)
				}
				if p.Type.Allows(domain.PermWrite) {
					write = append(write, p)
				}
			}
		}
		up.read, up.write = newSpanSet(read), newSpanSet(write)
		c.users[u.Name] = up
	}
	return c
}

// Store holds the compiled auth state of this member and decides.
type Store struct {
	load func() (domain.AuthState, error)
	cur  atomic.Pointer[compiled]

	mu      sync.Mutex
	changed chan struct{}
	// hooks are called after every Reload, by id.
	hooks  map[uint64]func()
	nextID uint64
}

// NewStore returns a Store that reads the replicated state with load
// (ports.Backend.AuthState); call Reload before using it and after every
// applied auth change or snapshot restore.
func NewStore(load func() (domain.AuthState, error)) *Store {
	s := &Store{load: load, changed: make(chan struct{}), hooks: map[uint64]func(){}}
	s.cur.Store(compile(domain.AuthState{}))
	return s
}

// Reload compiles the state anew and wakes the Changed waiters.
func (s *Store) Reload() error {
	st, err := s.load()
	if err != nil {
		return fmt.Errorf("auth: load state: %w", err)
	}
	s.mu.Lock()
	s.cur.Store(compile(st))
	close(s.changed)
	s.changed = make(chan struct{})
	hooks := make([]func(), 0, len(s.hooks))
	for _, f := range s.hooks {
		hooks = append(hooks, f)
	}
	s.mu.Unlock()
	for _, f := range hooks {
		f()
	}
	return nil
}

// OnChange registers f to be called after every Reload (in the goroutine
// that reloads: f must be quick and must not call OnChange's cancel of
// another hook) until cancel is called. A long-running request uses it to
// check its permission again without a goroutine of its own.
func (s *Store) OnChange(f func()) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID
	s.nextID++
	s.hooks[id] = f
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.hooks, id)
	}
}

// Changed returns a channel closed at the next Reload: a long-running
// request (a watch) checks its permission again when it is.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Enabled reports whether auth is on.
func (s *Store) Enabled() bool { return s.cur.Load().state.Enabled }

// State returns a copy of the auth state as this member last applied it.
func (s *Store) State() domain.AuthState {
	st := s.cur.Load().state
	return st
}

// Check decides whether user may do what needs describe. With auth off
// everything is allowed. It returns domain.ErrUnauthenticated for no user
// and domain.ErrPermissionDenied (saying which need failed, never what a
// key holds) for a user who may not.
func (s *Store) Check(user string, needs ...Need) error {
	c := s.cur.Load()
	if !c.state.Enabled {
		return nil
	}
	if user == "" {
		return fmt.Errorf("auth is enabled: this call needs a user (HTTP Basic, a token or a client certificate): %w", domain.ErrUnauthenticated)
	}
	up := c.users[user]
	if up == nil {
		return fmt.Errorf("user %q does not exist: %w", user, domain.ErrPermissionDenied)
	}
	if up.root {
		return nil
	}
	for _, n := range needs {
		s := spanOf(n.key, n.end)
		ok := !n.root &&
			(!n.perm.Allows(domain.PermRead) || up.read.covers(s)) &&
			(!n.perm.Allows(domain.PermWrite) || up.write.covers(s))
		if !ok {
			return fmt.Errorf("user %q does not have %s: %w", user, n, domain.ErrPermissionDenied)
		}
	}
	return nil
}

// TxnNeeds returns what a txn needs: read on every compared range, and on
// every branch (taken or not, at every depth) read for a get, write for a
// put or a delete, read too when either returns the previous kvs.
func TxnNeeds(t *domain.TxnRequest) []Need {
	var needs []Need
	for _, c := range t.Compare {
		needs = append(needs, Read(c.Key, c.RangeEnd))
	}
	for _, ops := range [][]domain.Op{t.Success, t.Failure} {
		for _, op := range ops {
			switch {
			case op.Range != nil:
				needs = append(needs, Read(op.Range.Key, op.Range.RangeEnd))
			case op.Put != nil:
				needs = append(needs, Write(op.Put.Key, nil))
				if op.Put.PrevKv {
					needs = append(needs, Read(op.Put.Key, nil))
				}
			case op.Delete != nil:
				needs = append(needs, Write(op.Delete.Key, op.Delete.RangeEnd))
				if op.Delete.PrevKv {
					needs = append(needs, Read(op.Delete.Key, op.Delete.RangeEnd))
				}
			case op.Txn != nil:
				needs = append(needs, TxnNeeds(op.Txn)...)
			}
		}
	}
	return needs
}
