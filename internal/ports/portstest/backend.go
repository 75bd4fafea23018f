// Package portstest has in-memory fakes of the ports and RunBackendSuite,
// the contract every ports.Backend must pass.
package portstest

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

var _ ports.Backend = (*Backend)(nil)

var (
	errBatchOpen = errors.New("portstest: a batch is already open")
	errBatchDone = errors.New("portstest: batch already committed")
)

// Backend is an in-memory ports.Backend that behaves like the bolt one. The
// committed state is immutable: Views share it and a Batch works on a copy
// that Commit swaps in.
type Backend struct {
	mu   sync.Mutex
	st   *fakeState
	open bool
}

// NewBackend returns an empty Backend, at revision 1.
func NewBackend() *Backend {
	return &Backend{st: &fakeState{
		Rev:      1,
		Keys:     map[string][]version{},
		Members:  map[string]domain.Member{},
		Leases:   map[int64]domain.Lease{},
		Attached: map[string]int64{},
	}}
}

// version is one version of a key.
type version struct {
	Main, Sub int64
	Tomb      bool
	KV        domain.KeyValue
}

// fakeState is the whole store; every version of a key in revision order.
// Attached maps each live key attached to a lease to the lease's ID.
type fakeState struct {
	Rev          int64
	CompactRev   int64
	AppliedIndex uint64
	AppliedTerm  uint64
	ClusterID    uint64
	Members      map[string]domain.Member
	Keys         map[string][]version
	Leases       map[int64]domain.Lease
	Attached     map[string]int64 `json:"-"`
	// Auth is never changed in place: a Batch replaces it with a deep
	// copy, so the committed state and the batch's copy may share it.
	Auth domain.AuthState
	// Alarms is never changed in place either (alarms.go).
	Alarms []domain.Alarm
}

// clone copies s so that a Batch can change it; version slices are clipped
// so that appends do not write into s.
func (s *fakeState) clone() *fakeState {
	c := *s
	c.Members = maps.Clone(s.Members)
	c.Leases = maps.Clone(s.Leases)
	c.Attached = maps.Clone(s.Attached)
	c.Keys = make(map[string][]version, len(s.Keys))
	for k, vs := range s.Keys {
		c.Keys[k] = slices.Clip(vs)
	}
	return &c
}

// visible returns the version of vs visible at atRev.
func visible(vs []version, atRev int64) (version, bool) {
	i := sort.Search(len(vs), func(i int) bool { return vs[i].Main > atRev }) - 1
	if i < 0 || vs[i].Tomb {
		return version{}, false
	}
	return vs[i], true
}

// inRange reports whether k is in the range form (key, end).
func inRange(k, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(k, key)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(k, key) >= 0
	}
	return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
}

// keysIn returns the keys of s in the range, sorted.
func (s *fakeState) keysIn(key, end []byte) []string {
	var ks []string
	if len(end) == 0 {
		if _, ok := s.Keys[string(key)]; ok {
			ks = append(ks, string(key))
		}
		return ks
	}
	for k := range s.Keys {
		if inRange([]byte(k), key, end) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

// checkRev resolves a read revision as the bolt backend does.
func checkRev(want, rev, compactRev int64) (int64, error) {
	switch {
	case want == 0:
		return rev, nil
	case want < 0:
		return 0, domain.InvalidArgument("negative revision %d", want)
	case want < compactRev:
		return 0, &domain.CompactedError{CompactRevision: compactRev}
	case want > rev:
		return 0, domain.ErrFutureRevision
	}
	return want, nil
}

// rangeAt answers a Range at atRev.
func (s *fakeState) rangeAt(key, end []byte, atRev int64, opts ports.RangeOptions) ports.RangeResult {
	res := ports.RangeResult{Rev: atRev}
	for _, k := range s.keysIn(key, end) {
		v, ok := visible(s.Keys[k], atRev)
		if !ok {
			continue
		}
		res.Count++
		if !opts.CountOnly && (opts.Limit <= 0 || int64(len(res.KVs)) < opts.Limit) {
			res.KVs = append(res.KVs, cloneKV(v.KV))
		}
	}
	return res
}

// cloneKV copies kv; Key and Value are never nil.
func cloneKV(kv domain.KeyValue) domain.KeyValue {
	kv.Key = append([]byte{}, kv.Key...)
	kv.Value = append([]byte{}, kv.Value...)
	return kv
}

// compact drops every version not visible at rev or later.
func (s *fakeState) compact(rev int64) {
	for k, vs := range s.Keys {
		i := sort.Search(len(vs), func(i int) bool { return vs[i].Main > rev }) - 1
		if i < 0 {
			continue
		}
		if vs[i].Tomb {
			i++
		}
		if rest := vs[i:]; len(rest) == 0 {
			delete(s.Keys, k)
		} else {
			s.Keys[k] = slices.Clone(rest)
		}
	}
	s.CompactRev = rev
}

// cmpVersion orders versions by revision.
func cmpVersion(a, b version) int {
	if c := cmp.Compare(a.Main, b.Main); c != 0 {
		return c
	}
	return cmp.Compare(a.Sub, b.Sub)
}

// liveKeys counts the keys live at the latest revision.
func (s *fakeState) liveKeys() int64 {
	var n int64
	for _, vs := range s.Keys {
		if !vs[len(vs)-1].Tomb {
			n++
		}
	}
	return n
}

// View opens a view of the committed state.
func (b *Backend) View() ports.View {
	b.mu.Lock()
	defer b.mu.Unlock()
	return &fakeView{st: b.st}
}

// Begin opens the write batch on a copy of the committed state.
func (b *Backend) Begin() (ports.Batch, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open {
		return nil, errBatchOpen
	}
	b.open = true
	return &fakeBatch{b: b, st: b.st.clone()}, nil
}

// Applied returns the last committed Raft entry.
func (b *Backend) Applied() (index, term uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st.AppliedIndex, b.st.AppliedTerm
}

// Members returns the committed members, ordered by name.
func (b *Backend) Members() ([]domain.Member, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ms []domain.Member
	for _, name := range slices.Sorted(maps.Keys(b.st.Members)) {
		ms = append(ms, b.st.Members[name])
	}
	return ms, nil
}

// ClusterID returns the committed cluster ID, or 0.
func (b *Backend) ClusterID() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st.ClusterID
}

// AuthState returns a deep copy of the committed auth configuration.
func (b *Backend) AuthState() (domain.AuthState, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return cloneAuth(b.st.Auth), nil
}

// cloneAuth returns a deep copy of s that shares no memory with it. Empty
// slices become nil, as in the bolt backend, which omits them.
func cloneAuth(s domain.AuthState) domain.AuthState {
	c := s
	c.SigningKey = cloneBytes(s.SigningKey)
	c.Users, c.Roles = nil, nil
	for _, u := range s.Users {
		u.PasswordHash = cloneBytes(u.PasswordHash)
		if len(u.Roles) > 0 {
			u.Roles = slices.Clone(u.Roles)
		} else {
			u.Roles = nil
		}
		c.Users = append(c.Users, u)
	}
	for _, r := range s.Roles {
		perms := r.Permissions
		r.Permissions = nil
		for _, p := range perms {
			p.Key, p.RangeEnd = cloneBytes(p.Key), cloneBytes(p.RangeEnd)
			r.Permissions = append(r.Permissions, p)
		}
		c.Roles = append(c.Roles, r)
	}
	return c
}

// cloneBytes copies b; nil when it is empty.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

// Hash returns a CRC-32C of the versions with a main revision <= rev, in
// revision order, and the compact revision. Leases and the auth state are
// not hashed, as in the bolt backend.
func (b *Backend) Hash(rev int64) (uint32, int64, int64, error) {
	b.mu.Lock()
	st := b.st
	b.mu.Unlock()
	atRev, err := checkRev(rev, st.Rev, st.CompactRev)
	if err != nil {
		return 0, 0, st.CompactRev, err
	}
	var all []version
	for _, vs := range st.Keys {
		for _, v := range vs {
			if v.Main <= atRev {
				all = append(all, v)
			}
		}
	}
	slices.SortFunc(all, cmpVersion)
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	var buf []byte
	for _, v := range all {
		buf = binary.AppendVarint(buf[:0], v.Main)
		buf = binary.AppendVarint(buf, v.Sub)
		buf = binary.AppendVarint(buf, v.KV.CreateRevision)
		buf = binary.AppendVarint(buf, v.KV.Version)
		buf = binary.AppendVarint(buf, v.KV.Lease)
		buf = binary.AppendUvarint(buf, uint64(len(v.KV.Key)))
		buf = append(buf, v.KV.Key...)
		buf = binary.AppendUvarint(buf, uint64(len(v.KV.Value)))
		buf = append(buf, v.KV.Value...)
		if v.Tomb {
			buf = append(buf, 't')
		}
		h.Write(buf)
	}
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(st.CompactRev)))
	return h.Sum32(), atRev, st.CompactRev, nil
}

// fakeSnapshot is the JSON encoding of a committed state.
type fakeSnapshot struct {
	data []byte
	rev  int64
}

func (s *fakeSnapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(s.data)
	return int64(n), err
}
func (s *fakeSnapshot) Size() int64 { return int64(len(s.data)) }
func (s *fakeSnapshot) Rev() int64  { return s.rev }
func (s *fakeSnapshot) Release()    {}

// snapshotState is the JSON form of a fakeState; keys are []byte (base64),
// since JSON strings cannot hold arbitrary bytes.
type snapshotState struct {
	State       fakeState
	Versions    []version
	Attachments []attachment
}

// attachment is one entry of fakeState.Attached.
type attachment struct {
	Key   []byte
	Lease int64
}

// Snapshot encodes the committed state.
func (b *Backend) Snapshot() (ports.Snapshot, error) {
	b.mu.Lock()
	st := b.st
	b.mu.Unlock()
	ss := snapshotState{State: *st}
	ss.State.Keys = nil
	for _, vs := range st.Keys {
		ss.Versions = append(ss.Versions, vs...)
	}
	for k, id := range st.Attached {
		ss.Attachments = append(ss.Attachments, attachment{Key: []byte(k), Lease: id})
	}
	data, err := json.Marshal(ss)
	if err != nil {
		return nil, err
	}
	return &fakeSnapshot{data: data, rev: st.Rev}, nil
}

// Restore replaces the committed state with a snapshot. It fails while a
// Batch is open.
func (b *Backend) Restore(r io.Reader) error {
	var ss snapshotState
	if err := json.NewDecoder(r).Decode(&ss); err != nil {
		return err
	}
	st := ss.State
	st.Keys = map[string][]version{}
	if st.Members == nil {
		st.Members = map[string]domain.Member{}
	}
	if st.Leases == nil {
		st.Leases = map[int64]domain.Lease{}
	}
	st.Attached = map[string]int64{}
	for _, a := range ss.Attachments {
		st.Attached[string(a.Key)] = a.Lease
	}
	slices.SortFunc(ss.Versions, cmpVersion)
	for _, v := range ss.Versions {
		v.KV = cloneKV(v.KV)
		if v.Tomb {
			v.KV.Value = nil
		}
		st.Keys[string(v.KV.Key)] = append(st.Keys[string(v.KV.Key)], v)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open {
		return errors.New("portstest: restore: a batch is open")
	}
	b.st = &st
	return nil
}

// Stats returns the revisions and the live key count; sizes are 0.
func (b *Backend) Stats() ports.Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return ports.Stats{Rev: b.st.Rev, CompactRev: b.st.CompactRev, Keys: b.st.liveKeys()}
}

// Close does nothing.
func (b *Backend) Close() error { return nil }

// fakeView reads an immutable committed state.
type fakeView struct{ st *fakeState }

func (v *fakeView) Range(key, end []byte, opts ports.RangeOptions) (ports.RangeResult, error) {
	atRev, err := checkRev(opts.Rev, v.st.Rev, v.st.CompactRev)
	if err != nil {
		return ports.RangeResult{}, err
	}
	return v.st.rangeAt(key, end, atRev, opts), nil
}

// Events collects every version in [from, to] in revision order and keeps
// those of keys in the range, up to the end of the revision that reaches
// limit or maxBytes.
func (v *fakeView) Events(from, to int64, key, end []byte, limit, maxBytes int) ([]domain.Event, int64, error) {
	if from < v.st.CompactRev {
		return nil, 0, &domain.CompactedError{CompactRevision: v.st.CompactRev}
	}
	to = min(to, v.st.Rev)
	if from > to {
		return nil, from, nil
	}
	var all []version
	for k, vs := range v.st.Keys {
		if !inRange([]byte(k), key, end) {
			continue
		}
		for _, ver := range vs {
			if ver.Main >= from && ver.Main <= to {
				all = append(all, ver)
			}
		}
	}
	slices.SortFunc(all, cmpVersion)
	var evs []domain.Event
	size := 0
	full := func() bool { return limit > 0 && len(evs) >= limit || maxBytes > 0 && size >= maxBytes }
	for i, ver := range all {
		if full() && ver.Main > all[i-1].Main {
			return evs, all[i-1].Main + 1, nil
		}
		ev := domain.Event{Type: domain.EventPut, Kv: cloneKV(ver.KV)}
		if ver.Tomb {
			ev = domain.Event{Type: domain.EventDelete, Kv: domain.KeyValue{Key: bytes.Clone(ver.KV.Key), ModRevision: ver.Main}}
		}
		evs = append(evs, ev)
		size += len(ev.Kv.Key) + len(ev.Kv.Value)
	}
	if full() {
		return evs, all[len(all)-1].Main + 1, nil
	}
	return evs, to + 1, nil
}

func (v *fakeView) Rev() int64        { return v.st.Rev }
func (v *fakeView) CompactRev() int64 { return v.st.CompactRev }
func (v *fakeView) End()              {}

// fakeBatch writes to a copy of the committed state.
type fakeBatch struct {
	b      *Backend
	st     *fakeState // st.Rev is the last completed revision
	sub    int64      // next sub-revision of st.Rev+1; 0: nothing written
	events []domain.Event
	done   bool
}

func (bt *fakeBatch) Range(key, end []byte, opts ports.RangeOptions) (ports.RangeResult, error) {
	if bt.done {
		return ports.RangeResult{}, errBatchDone
	}
	atRev, err := checkRev(opts.Rev, bt.st.Rev, bt.st.CompactRev)
	if err != nil {
		return ports.RangeResult{}, err
	}
	if opts.Rev == 0 && bt.sub > 0 {
		atRev = bt.st.Rev + 1
	}
	return bt.st.rangeAt(key, end, atRev, opts), nil
}

func (bt *fakeBatch) Rev() int64        { return bt.st.Rev }
func (bt *fakeBatch) CompactRev() int64 { return bt.st.CompactRev }

func (bt *fakeBatch) Put(key, value []byte, lease int64) error {
	if bt.done {
		return errBatchDone
	}
	main := bt.st.Rev + 1
	kv := domain.KeyValue{Key: key, Value: value, CreateRevision: main, ModRevision: main, Version: 1, Lease: lease}
	vs := bt.st.Keys[string(key)]
	if n := len(vs); n > 0 && !vs[n-1].Tomb {
		kv.CreateRevision, kv.Version = vs[n-1].KV.CreateRevision, vs[n-1].KV.Version+1
	}
	kv = cloneKV(kv)
	bt.st.Keys[string(key)] = append(vs, version{Main: main, Sub: bt.sub, KV: kv})
	if lease == 0 {
		delete(bt.st.Attached, string(key))
	} else {
		bt.st.Attached[string(key)] = lease
	}
	bt.events = append(bt.events, domain.Event{Type: domain.EventPut, Kv: cloneKV(kv)})
	bt.sub++
	return nil
}

func (bt *fakeBatch) DeleteRange(key, end []byte) (int64, error) {
	if bt.done {
		return 0, errBatchDone
	}
	main := bt.st.Rev + 1
	var n int64
	for _, k := range bt.st.keysIn(key, end) {
		vs := bt.st.Keys[k]
		if vs[len(vs)-1].Tomb {
			continue
		}
		kv := domain.KeyValue{Key: []byte(k), ModRevision: main}
		bt.st.Keys[k] = append(vs, version{Main: main, Sub: bt.sub, Tomb: true, KV: kv})
		delete(bt.st.Attached, k)
		bt.events = append(bt.events, domain.Event{Type: domain.EventDelete, Kv: domain.KeyValue{Key: []byte(k), ModRevision: main}})
		bt.sub++
		n++
	}
	return n, nil
}

func (bt *fakeBatch) EndRevision() (int64, []domain.Event) {
	if bt.sub == 0 {
		return bt.st.Rev, nil
	}
	bt.st.Rev++
	bt.sub = 0
	evs := bt.events
	bt.events = nil
	return bt.st.Rev, evs
}

func (bt *fakeBatch) Compact(rev int64) error {
	if bt.done {
		return errBatchDone
	}
	if rev <= bt.st.CompactRev {
		return &domain.CompactedError{CompactRevision: bt.st.CompactRev}
	}
	if rev > bt.st.Rev {
		return domain.ErrFutureRevision
	}
	bt.st.compact(rev)
	return nil
}

func (bt *fakeBatch) PutMember(m domain.Member) error {
	if bt.done {
		return errBatchDone
	}
	m.ClientURLs = slices.Clone(m.ClientURLs)
	bt.st.Members[m.Name] = m
	return nil
}

func (bt *fakeBatch) SetClusterID(id uint64) error {
	if bt.done {
		return errBatchDone
	}
	if bt.st.ClusterID == 0 {
		bt.st.ClusterID = id
	}
	return nil
}

// AuthState returns a deep copy of the auth configuration, including the
// batch's own writes.
func (bt *fakeBatch) AuthState() (domain.AuthState, error) {
	if bt.done {
		return domain.AuthState{}, errBatchDone
	}
	return cloneAuth(bt.st.Auth), nil
}

// PutAuthState replaces the auth configuration with a deep copy of s.
func (bt *fakeBatch) PutAuthState(s domain.AuthState) error {
	if bt.done {
		return errBatchDone
	}
	bt.st.Auth = cloneAuth(s)
	return nil
}

func (bt *fakeBatch) SetApplied(index, term uint64) {
	bt.st.AppliedIndex, bt.st.AppliedTerm = index, term
}

// Commit ends a revision left open and swaps the batch's state in.
func (bt *fakeBatch) Commit() error {
	if bt.done {
		return errBatchDone
	}
	bt.EndRevision()
	bt.done = true
	bt.b.mu.Lock()
	defer bt.b.mu.Unlock()
	bt.b.st = bt.st
	bt.b.open = false
	return nil
}
