package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/domain"
)

// The buckets of the database.
var (
	keyBucket     = []byte("key")
	metaBucket    = []byte("meta")
	membersBucket = []byte("members")
	// leasesBucket maps a lease ID to its TTLs, leaseKeysBucket holds one
	// row per key attached to a lease (see lease.go).
	leasesBucket    = []byte("leases")
	leaseKeysBucket = []byte("lease_keys")
	// authBucket holds the auth configuration under authStateKey (see
	// DESIGN.md, "Auth").
	authBucket = []byte("auth")
)

// authStateKey is the key of the auth configuration in authBucket.
var authStateKey = []byte("state")

// The keys of the meta bucket; each value is an 8-byte big-endian integer.
var (
	metaAppliedIndex = []byte("applied_index")
	metaAppliedTerm  = []byte("applied_term")
	metaRev          = []byte("rev")
	metaCompactRev   = []byte("compact_rev")
	metaClusterID    = []byte("cluster_id")
)

// state is the committed state outside the key space: what Views capture
// and what Commit publishes.
type state struct {
	rev          int64
	compactRev   int64
	appliedIndex uint64
	appliedTerm  uint64
	clusterID    uint64
	keys         int64          // live keys at rev
	alarms       []domain.Alarm // raised alarms (alarms.go); never modified in place
}

// readMeta reads the meta bucket. A fresh store is at revision 1.
func readMeta(tx *bbolt.Tx) (state, error) {
	b := tx.Bucket(metaBucket)
	if b == nil {
		return state{}, fmt.Errorf("%w: no meta bucket", errCorrupt)
	}
	get := func(k []byte) uint64 {
		v := b.Get(k)
		if len(v) != 8 {
			return 0
		}
		return binary.BigEndian.Uint64(v)
	}
	st := state{
		rev:          int64(get(metaRev)),
		compactRev:   int64(get(metaCompactRev)),
		appliedIndex: get(metaAppliedIndex),
		appliedTerm:  get(metaAppliedTerm),
		clusterID:    get(metaClusterID),
	}
	if st.rev == 0 {
		st.rev = 1
	}
	alarms, err := readAlarms(tx)
	if err != nil {
		return state{}, err
	}
	st.alarms = alarms
	return st, nil
}

// writeMeta writes st (but keys) into the meta bucket of a write txn.
func writeMeta(tx *bbolt.Tx, st state) error {
	b := tx.Bucket(metaBucket)
	for _, f := range []struct {
		k []byte
		v uint64
	}{
		{metaRev, uint64(st.rev)},
		{metaCompactRev, uint64(st.compactRev)},
		{metaAppliedIndex, st.appliedIndex},
		{metaAppliedTerm, st.appliedTerm},
		{metaClusterID, st.clusterID},
	} {
		if err := b.Put(f.k, binary.BigEndian.AppendUint64(nil, f.v)); err != nil {
			return fmt.Errorf("bolt: write meta %s: %w", f.k, err)
		}
	}
	return nil
}

// putMember records m in the members bucket of a write txn.
func putMember(tx *bbolt.Tx, m domain.Member) error {
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("bolt: encode member %q: %w", m.Name, err)
	}
	if err := tx.Bucket(membersBucket).Put([]byte(m.Name), v); err != nil {
		return fmt.Errorf("bolt: put member %q: %w", m.Name, err)
	}
	return nil
}

// readMembers returns the members, ordered by name (the bucket's order).
func readMembers(tx *bbolt.Tx) ([]domain.Member, error) {
	var ms []domain.Member
	err := tx.Bucket(membersBucket).ForEach(func(k, v []byte) error {
		var m domain.Member
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("bolt: decode member %q: %w", k, err)
		}
		ms = append(ms, m)
		return nil
	})
	return ms, err
}

// Members returns the committed member registry, ordered by name.
func (b *Backend) Members() ([]domain.Member, error) {
	b.stateMu.RLock()
	defer b.stateMu.RUnlock()
	if b.closed {
		return nil, errClosed
	}
	var ms []domain.Member
	err := b.db.View(func(tx *bbolt.Tx) error {
		var err error
		ms, err = readMembers(tx)
		return err
	})
	return ms, err
}

// Applied returns the index and term of the last committed Raft entry, or
// (0, 0) for a fresh store.
func (b *Backend) Applied() (index, term uint64) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.cur.appliedIndex, b.cur.appliedTerm
}

// ClusterID returns the committed cluster ID, or 0.
func (b *Backend) ClusterID() uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.cur.clusterID
}

// authEncodingVersion is the version of the encoding of the auth
// configuration. A change of the encoding takes a new version; a version
// this binary does not know is refused, not guessed.
const authEncodingVersion = 1

// authRecord is the stored form of domain.AuthState: JSON with explicit
// field names, so that renaming a domain field does not change the file
// format. Byte strings are base64 (JSON's []byte). Empty slices are
// omitted and read back as nil.
type authRecord struct {
	Version    int           `json:"version"`
	Enabled    bool          `json:"enabled"`
	Revision   uint64        `json:"revision"`
	Epoch      uint64        `json:"epoch"`
	SigningKey []byte        `json:"signing_key,omitempty"`
	Users      []authUserRec `json:"users,omitempty"`
	Roles      []authRoleRec `json:"roles,omitempty"`
}

type authUserRec struct {
	Name             string   `json:"name"`
	PasswordHash     []byte   `json:"password_hash,omitempty"`
	Roles            []string `json:"roles,omitempty"`
	PasswordRevision uint64   `json:"password_revision"`
}

type authRoleRec struct {
	Name        string    `json:"name"`
	Permissions []permRec `json:"permissions,omitempty"`
}

type permRec struct {
	Type     uint8  `json:"type"`
	Key      []byte `json:"key,omitempty"`
	RangeEnd []byte `json:"range_end,omitempty"`
}

// encodeAuth returns the stored form of s.
func encodeAuth(s domain.AuthState) ([]byte, error) {
	r := authRecord{Version: authEncodingVersion, Enabled: s.Enabled, Revision: s.Revision, Epoch: s.Epoch, SigningKey: s.SigningKey}
	if len(s.Users) > 0 {
		r.Users = make([]authUserRec, len(s.Users))
		for i, u := range s.Users {
			r.Users[i] = authUserRec{Name: u.Name, PasswordHash: u.PasswordHash, Roles: u.Roles, PasswordRevision: u.PasswordRevision}
		}
	}
	if len(s.Roles) > 0 {
		r.Roles = make([]authRoleRec, len(s.Roles))
		for i, role := range s.Roles {
			r.Roles[i].Name = role.Name
			if len(role.Permissions) > 0 {
				r.Roles[i].Permissions = make([]permRec, len(role.Permissions))
				for j, p := range role.Permissions {
					r.Roles[i].Permissions[j] = permRec{Type: uint8(p.Type), Key: p.Key, RangeEnd: p.RangeEnd}
				}
			}
		}
	}
	v, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("bolt: encode auth state: %w", err)
	}
	return v, nil
}

// decodeAuth decodes a stored auth configuration into fresh memory (it
// shares nothing with v). Unknown fields and versions are refused.
func decodeAuth(v []byte) (domain.AuthState, error) {
	var r authRecord
	d := json.NewDecoder(bytes.NewReader(v))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return domain.AuthState{}, fmt.Errorf("%w: auth state: %v", errCorrupt, err)
	}
	if d.More() {
		return domain.AuthState{}, fmt.Errorf("%w: auth state: trailing data", errCorrupt)
	}
	if r.Version != authEncodingVersion {
		return domain.AuthState{}, fmt.Errorf("%w: auth state: unknown encoding version %d", errCorrupt, r.Version)
	}
	s := domain.AuthState{Enabled: r.Enabled, Revision: r.Revision, Epoch: r.Epoch, SigningKey: r.SigningKey}
	if len(r.Users) > 0 {
		s.Users = make([]domain.AuthUser, len(r.Users))
		for i, u := range r.Users {
			s.Users[i] = domain.AuthUser{Name: u.Name, PasswordHash: u.PasswordHash, Roles: u.Roles, PasswordRevision: u.PasswordRevision}
		}
	}
	if len(r.Roles) > 0 {
		s.Roles = make([]domain.AuthRole, len(r.Roles))
		for i, role := range r.Roles {
			s.Roles[i].Name = role.Name
			if len(role.Permissions) > 0 {
				s.Roles[i].Permissions = make([]domain.Permission, len(role.Permissions))
				for j, p := range role.Permissions {
					s.Roles[i].Permissions[j] = domain.Permission{Type: domain.PermType(p.Type), Key: p.Key, RangeEnd: p.RangeEnd}
				}
			}
		}
	}
	return s, nil
}

// readAuth reads the auth configuration of tx: the zero AuthState when none
// was ever written (or the file predates auth and was opened read-only).
func readAuth(tx *bbolt.Tx) (domain.AuthState, error) {
	b := tx.Bucket(authBucket)
	if b == nil {
		return domain.AuthState{}, nil
	}
	v := b.Get(authStateKey)
	if v == nil {
		return domain.AuthState{}, nil
	}
	return decodeAuth(v)
}

// AuthState returns the committed auth configuration, decoded from a read
// txn into memory the caller owns.
func (b *Backend) AuthState() (domain.AuthState, error) {
	b.stateMu.RLock()
	defer b.stateMu.RUnlock()
	if b.closed {
		return domain.AuthState{}, errClosed
	}
	var s domain.AuthState
	err := b.db.View(func(tx *bbolt.Tx) error {
		var err error
		s, err = readAuth(tx)
		return err
	})
	return s, err
}
