package portstest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// SampleAuthState returns a fresh auth configuration that uses every field:
// byte strings with zero and 0xff bytes, a user without roles, a role
// without permissions, every permission type and range form. Absent slices
// are nil, as backends return them.
func SampleAuthState() domain.AuthState {
	key := make([]byte, domain.SigningKeySize)
	for i := range key {
		key[i] = byte(i * 37)
	}
	key[0], key[1] = 0x00, 0xff
	return domain.AuthState{
		Enabled:    true,
		Revision:   12,
		Epoch:      3,
		SigningKey: key,
		Users: []domain.AuthUser{
			{Name: "alice", PasswordHash: []byte("$2a$10$alicealicealicealicealiceal"), Roles: []string{"reader", "writer"}, PasswordRevision: 4},
			{Name: "bob", PasswordHash: []byte("$2a$10$bob\x00\xff"), PasswordRevision: 9},
			{Name: domain.RootUser, PasswordHash: []byte("$2a$10$rootrootrootrootrootrootroot"), Roles: []string{domain.RootRole}, PasswordRevision: 1},
		},
		Roles: []domain.AuthRole{
			{Name: "empty"},
			{Name: "reader", Permissions: []domain.Permission{
				{Type: domain.PermRead, Key: []byte("a")},
				{Type: domain.PermRead, Key: []byte("b\x00"), RangeEnd: []byte("c\xff")},
			}},
			{Name: domain.RootRole},
			{Name: "writer", Permissions: []domain.Permission{
				{Type: domain.PermWrite, Key: []byte("p/"), RangeEnd: []byte{0}},
				{Type: domain.PermReadWrite, Key: []byte("q"), RangeEnd: []byte("r")},
			}},
		},
	}
}

// fmtAuth renders an auth configuration, byte strings quoted, so that two
// states compare as strings (nil and empty render the same).
func fmtAuth(s domain.AuthState) string {
	out := fmt.Sprintf("enabled %v rev %d epoch %d key %q\n", s.Enabled, s.Revision, s.Epoch, s.SigningKey)
	for _, u := range s.Users {
		out += fmt.Sprintf("user %q hash %q roles %q pwrev %d\n", u.Name, u.PasswordHash, u.Roles, u.PasswordRevision)
	}
	for _, r := range s.Roles {
		out += fmt.Sprintf("role %q:", r.Name)
		for _, p := range r.Permissions {
			out += fmt.Sprintf(" %s[%q,%q)", p.Type, p.Key, p.RangeEnd)
		}
		out += "\n"
	}
	return out
}

// wantAuth checks the auth configuration read by get.
func wantAuth(t *testing.T, what string, get func() (domain.AuthState, error), want domain.AuthState) {
	t.Helper()
	got, err := get()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if fmtAuth(got) != fmtAuth(want) {
		t.Errorf("%s:\n got %s\nwant %s", what, fmtAuth(got), fmtAuth(want))
	}
}

// putAuth replaces the auth configuration in a batch of its own.
func putAuth(t *testing.T, be ports.Backend, s domain.AuthState) {
	t.Helper()
	batch(t, be, func(b ports.Batch) {
		if err := b.PutAuthState(s); err != nil {
			t.Fatalf("PutAuthState: %v", err)
		}
	})
}

// scribble changes every byte string, name and slice of s in place.
func scribble(s *domain.AuthState) {
	s.Enabled = !s.Enabled
	s.Revision++
	for i := range s.SigningKey {
		s.SigningKey[i] ^= 0x5a
	}
	for i := range s.Users {
		u := &s.Users[i]
		u.Name += "!"
		for j := range u.PasswordHash {
			u.PasswordHash[j] = 'X'
		}
		for j := range u.Roles {
			u.Roles[j] = "scribbled"
		}
	}
	for i := range s.Roles {
		r := &s.Roles[i]
		r.Name += "!"
		for j := range r.Permissions {
			p := &r.Permissions[j]
			p.Type = domain.PermReadWrite
			for k := range p.Key {
				p.Key[k] = 'X'
			}
			for k := range p.RangeEnd {
				p.RangeEnd[k] = 'X'
			}
		}
		r.Permissions = append(r.Permissions, domain.Permission{Type: domain.PermRead, Key: []byte("added")})
	}
	if len(s.Users) > 0 {
		s.Users = s.Users[:len(s.Users)-1]
	}
	s.Roles = append(s.Roles, domain.AuthRole{Name: "added"})
}

func (s suite) testAuthFresh(t *testing.T) {
	be := s.newBackend(t)
	wantAuth(t, "Backend.AuthState of a fresh store", be.AuthState, domain.AuthState{})
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	wantAuth(t, "Batch.AuthState of a fresh store", b.AuthState, domain.AuthState{})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	write(t, be, []op{put("a", "1")})
	batch(t, be, func(b ports.Batch) {
		if err := b.PutMember(domain.Member{ID: 1, Name: "n1"}); err != nil {
			t.Fatal(err)
		}
		b.SetApplied(3, 1)
	})
	wantAuth(t, "AuthState after other writes", be.AuthState, domain.AuthState{})
}

func (s suite) testAuthBatch(t *testing.T) {
	be := s.newBackend(t)
	write(t, be, []op{put("a", "1")})
	h0, _, _, err := be.Hash(0)
	if err != nil {
		t.Fatal(err)
	}
	want := SampleAuthState()
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutAuthState(SampleAuthState()); err != nil {
		t.Fatalf("PutAuthState: %v", err)
	}
	wantAuth(t, "Batch.AuthState after its own PutAuthState", b.AuthState, want)
	wantAuth(t, "Backend.AuthState before Commit", be.AuthState, domain.AuthState{})
	if rev, evs := b.EndRevision(); rev != 2 || len(evs) != 0 {
		t.Errorf("EndRevision after PutAuthState = %d, %v, want 2 and no event", rev, evs)
	}
	b.SetApplied(7, 2)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AuthState(); err == nil {
		t.Error("AuthState of a committed batch: no error")
	}
	if err := b.PutAuthState(domain.AuthState{}); err == nil {
		t.Error("PutAuthState on a committed batch: no error")
	}
	wantAuth(t, "Backend.AuthState after Commit", be.AuthState, want)
	if st := be.Stats(); st.Rev != 2 {
		t.Errorf("Stats.Rev = %d, want 2: an auth write is no revision", st.Rev)
	}
	if h, _, _, err := be.Hash(0); err != nil || h != h0 {
		t.Errorf("Hash = %x, %v, want %x: the auth state is not in the hash", h, err, h0)
	}
	if idx, term := be.Applied(); idx != 7 || term != 2 {
		t.Errorf("Applied = %d/%d, want 7/2", idx, term)
	}

	// A later batch starts from the committed state and replaces it whole.
	smaller := domain.AuthState{Revision: 13, Epoch: 3, Users: []domain.AuthUser{{Name: "carol", PasswordHash: []byte("$2b$04$c")}}}
	batch(t, be, func(b ports.Batch) {
		wantAuth(t, "Batch.AuthState of the next batch", b.AuthState, want)
		if err := b.PutAuthState(SampleAuthState()); err != nil {
			t.Fatal(err)
		}
		if err := b.PutAuthState(smaller); err != nil {
			t.Fatal(err)
		}
		wantAuth(t, "Batch.AuthState after two puts", b.AuthState, smaller)
		wantAuth(t, "Backend.AuthState during the batch", be.AuthState, want)
	})
	wantAuth(t, "Backend.AuthState after the replace", be.AuthState, smaller)
	putAuth(t, be, domain.AuthState{})
	wantAuth(t, "Backend.AuthState after putting the zero state", be.AuthState, domain.AuthState{})
}

func (s suite) testAuthDeepCopy(t *testing.T) {
	be := s.newBackend(t)
	want := SampleAuthState()
	in := SampleAuthState()
	batch(t, be, func(b ports.Batch) {
		if err := b.PutAuthState(in); err != nil {
			t.Fatal(err)
		}
		scribble(&in) // the caller's memory, after the put
		wantAuth(t, "Batch.AuthState after the caller changed what it put", b.AuthState, want)
		got, err := b.AuthState()
		if err != nil {
			t.Fatal(err)
		}
		scribble(&got)
		wantAuth(t, "Batch.AuthState after the caller changed a result", b.AuthState, want)
	})
	wantAuth(t, "Backend.AuthState after the caller changed what it put", be.AuthState, want)
	got, err := be.AuthState()
	if err != nil {
		t.Fatal(err)
	}
	scribble(&got)
	wantAuth(t, "Backend.AuthState after the caller changed a result", be.AuthState, want)
	// A batch's result shares nothing with the committed state either.
	batch(t, be, func(b ports.Batch) {
		got, err := b.AuthState()
		if err != nil {
			t.Fatal(err)
		}
		scribble(&got)
		wantAuth(t, "Backend.AuthState after a batch's result was changed", be.AuthState, want)
	})
	wantAuth(t, "Backend.AuthState after a batch that did not put", be.AuthState, want)
	// Two results share nothing with each other.
	a, _ := be.AuthState()
	b, _ := be.AuthState()
	a.SigningKey[0] ^= 1
	if bytes.Equal(a.SigningKey, b.SigningKey) {
		t.Error("two AuthState results share their signing key")
	}
}

func (s suite) testAuthSnapshot(t *testing.T) {
	a := s.newBackend(t)
	write(t, a, []op{put("a", "1")})
	putAuth(t, a, SampleAuthState())
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	putAuth(t, a, domain.AuthState{Revision: 99}) // not in the snapshot
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	b := s.newBackend(t)
	putAuth(t, b, domain.AuthState{Enabled: true, Revision: 5, Users: []domain.AuthUser{{Name: "junk", PasswordHash: []byte("$2a$x")}}})
	if err := b.Restore(&buf); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	wantAuth(t, "restored AuthState", b.AuthState, SampleAuthState())
	batch(t, b, func(bt ports.Batch) {
		wantAuth(t, "restored Batch.AuthState", bt.AuthState, SampleAuthState())
	})

	// A snapshot of a store that never wrote an auth state restores the
	// zero state over one that has some.
	fresh := s.newBackend(t)
	snap, err = fresh.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if err := b.Restore(&buf); err != nil {
		t.Fatalf("Restore of a fresh store: %v", err)
	}
	wantAuth(t, "AuthState restored from a fresh store", b.AuthState, domain.AuthState{})
}
