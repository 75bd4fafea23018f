package portstest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// RunBackendSuite runs the ports.Backend contract against the backends
// newBackend returns; each subtest gets a fresh, empty one.
func RunBackendSuite(t *testing.T, newBackend func(t *testing.T) ports.Backend) {
	s := suite{newBackend: newBackend}
	t.Run("Fresh", s.testFresh)
	t.Run("Put", s.testPut)
	t.Run("EndRevision", s.testEndRevision)
	t.Run("Range", s.testRange)
	t.Run("DeleteRange", s.testDeleteRange)
	t.Run("Keys", s.testKeys)
	t.Run("Compact", s.testCompact)
	t.Run("CompactTwice", s.testCompactTwice)
	t.Run("CompactInBatch", s.testCompactInBatch)
	t.Run("Hash", s.testHash)
	t.Run("Members", s.testMembers)
	t.Run("Applied", s.testApplied)
	t.Run("SnapshotRestore", s.testSnapshotRestore)
	t.Run("Begin", s.testBegin)
	t.Run("View", s.testView)
	t.Run("Aliasing", s.testAliasing)
	t.Run("Events", s.testEvents)
	t.Run("EventsCompact", s.testEventsCompact)
	t.Run("EventsAliasing", s.testEventsAliasing)
	t.Run("Leases", s.testLeases)
	t.Run("LeaseAttach", s.testLeaseAttach)
	t.Run("LeaseBatch", s.testLeaseBatch)
	t.Run("LeaseRevoke", s.testLeaseRevoke)
	t.Run("LeaseKeysOrder", s.testLeaseKeysOrder)
	t.Run("LeaseCompact", s.testLeaseCompact)
	t.Run("LeaseSnapshot", s.testLeaseSnapshot)
	t.Run("AuthFresh", s.testAuthFresh)
	t.Run("AuthBatch", s.testAuthBatch)
	t.Run("AuthDeepCopy", s.testAuthDeepCopy)
	t.Run("AuthSnapshot", s.testAuthSnapshot)
	t.Run("Alarms", s.testAlarms)
}

type suite struct {
	newBackend func(t *testing.T) ports.Backend
}

// op is one write of a revision: a put, or a delete when del is set.
type op struct {
	key, end, value string
	lease           int64
	del             bool
}

func put(key, value string) op { return op{key: key, value: value} }
func del(key, end string) op   { return op{key: key, end: end, del: true} }

// write applies each list of ops as one revision, all in one batch, and
// returns the revision and events of the last one.
func write(t *testing.T, be ports.Backend, revs ...[]op) (int64, []domain.Event) {
	t.Helper()
	b, err := be.Begin()
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	var rev int64
	var evs []domain.Event
	for _, ops := range revs {
		for _, o := range ops {
			if o.del {
				if _, err := b.DeleteRange([]byte(o.key), []byte(o.end)); err != nil {
					t.Fatalf("DeleteRange(%q, %q): %v", o.key, o.end, err)
				}
			} else if err := b.Put([]byte(o.key), []byte(o.value), o.lease); err != nil {
				t.Fatalf("Put(%q): %v", o.key, err)
			}
		}
		rev, evs = b.EndRevision()
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return rev, evs
}

// batch runs fn in a batch and commits it.
func batch(t *testing.T, be ports.Backend, fn func(b ports.Batch)) {
	t.Helper()
	b, err := be.Begin()
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	fn(b)
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// rangeOf reads through r and fails the test on error.
func rangeOf(t *testing.T, r ports.Reader, key, end string, opts ports.RangeOptions) ports.RangeResult {
	t.Helper()
	res, err := r.Range([]byte(key), []byte(end), opts)
	if err != nil {
		t.Fatalf("Range(%q, %q, %+v): %v", key, end, opts, err)
	}
	return res
}

// viewRange reads through a fresh View.
func viewRange(t *testing.T, be ports.Backend, key, end string, opts ports.RangeOptions) ports.RangeResult {
	t.Helper()
	v := be.View()
	defer v.End()
	return rangeOf(t, v, key, end, opts)
}

// kv builds an expected KeyValue.
func kv(key, value string, create, mod, ver, lease int64) domain.KeyValue {
	return domain.KeyValue{Key: []byte(key), Value: []byte(value), CreateRevision: create, ModRevision: mod, Version: ver, Lease: lease}
}

func fmtKV(kv domain.KeyValue) string {
	return fmt.Sprintf("{%q=%q c%d m%d v%d l%d}", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
}

func fmtKVs(kvs []domain.KeyValue) string {
	s := "["
	for i, kv := range kvs {
		if i > 0 {
			s += " "
		}
		s += fmtKV(kv)
	}
	return s + "]"
}

// wantKVs compares key-values field by field (nil and empty bytes match).
func wantKVs(t *testing.T, what string, got, want []domain.KeyValue) {
	t.Helper()
	if fmtKVs(got) != fmtKVs(want) {
		t.Errorf("%s:\n got %s\nwant %s", what, fmtKVs(got), fmtKVs(want))
	}
}

// wantCompacted checks that err is a *domain.CompactedError at rev.
func wantCompacted(t *testing.T, what string, err error, rev int64) {
	t.Helper()
	var ce *domain.CompactedError
	if !errors.As(err, &ce) || ce.CompactRevision != rev || !errors.Is(err, domain.ErrCompacted) {
		t.Errorf("%s: err = %v, want CompactedError at %d", what, err, rev)
	}
}

// wantFuture checks that err is domain.ErrFutureRevision.
func wantFuture(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, domain.ErrFutureRevision) {
		t.Errorf("%s: err = %v, want ErrFutureRevision", what, err)
	}
}

func (s suite) testFresh(t *testing.T) {
	be := s.newBackend(t)
	if idx, term := be.Applied(); idx != 0 || term != 0 {
		t.Errorf("Applied = %d, %d, want 0, 0", idx, term)
	}
	if id := be.ClusterID(); id != 0 {
		t.Errorf("ClusterID = %d, want 0", id)
	}
	if ms, err := be.Members(); err != nil || len(ms) != 0 {
		t.Errorf("Members = %v, %v, want none", ms, err)
	}
	if st := be.Stats(); st.Rev != 1 || st.CompactRev != 0 || st.Keys != 0 {
		t.Errorf("Stats = %+v, want Rev 1, CompactRev 0, Keys 0", st)
	}
	v := be.View()
	defer v.End()
	if v.Rev() != 1 || v.CompactRev() != 0 {
		t.Errorf("View Rev, CompactRev = %d, %d, want 1, 0", v.Rev(), v.CompactRev())
	}
	res := rangeOf(t, v, "", "\x00", ports.RangeOptions{Rev: 1})
	if res.Count != 0 || len(res.KVs) != 0 || res.Rev != 1 {
		t.Errorf("Range all = %+v, want empty at 1", res)
	}
	_, err := v.Range([]byte("a"), nil, ports.RangeOptions{Rev: 2})
	wantFuture(t, "Range at 2", err)
	if _, at, crev, err := be.Hash(0); err != nil || at != 1 || crev != 0 {
		t.Errorf("Hash(0) = _, %d, %d, %v, want 1, 0, nil", at, crev, err)
	}
}

func (s suite) testPut(t *testing.T) {
	be := s.newBackend(t)
	write(t, be, []op{{key: "a", value: "1", lease: 7}})
	write(t, be, []op{put("a", "2")})
	write(t, be, []op{del("a", "")})
	rev, evs := write(t, be, []op{put("a", "3")})
	if rev != 5 {
		t.Fatalf("rev = %d, want 5", rev)
	}
	wantKVs(t, "event", []domain.KeyValue{evs[0].Kv}, []domain.KeyValue{kv("a", "3", 5, 5, 1, 0)})
	tests := []struct {
		name string
		rev  int64
		want []domain.KeyValue
	}{
		{name: "Created", rev: 2, want: []domain.KeyValue{kv("a", "1", 2, 2, 1, 7)}},
		{name: "SecondVersion", rev: 3, want: []domain.KeyValue{kv("a", "2", 2, 3, 2, 0)}},
		{name: "Deleted", rev: 4},
		{name: "NewGeneration", rev: 5, want: []domain.KeyValue{kv("a", "3", 5, 5, 1, 0)}},
		{name: "Latest", rev: 0, want: []domain.KeyValue{kv("a", "3", 5, 5, 1, 0)}},
		{name: "BeforeFirstWrite", rev: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := viewRange(t, be, "a", "", ports.RangeOptions{Rev: tt.rev})
			wantKVs(t, "kvs", res.KVs, tt.want)
			if res.Count != int64(len(tt.want)) {
				t.Errorf("Count = %d, want %d", res.Count, len(tt.want))
			}
			wantRev := tt.rev
			if wantRev == 0 {
				wantRev = 5
			}
			if res.Rev != wantRev {
				t.Errorf("Rev = %d, want %d", res.Rev, wantRev)
			}
		})
	}
	if st := be.Stats(); st.Rev != 5 || st.Keys != 1 {
		t.Errorf("Stats = %+v, want Rev 5, Keys 1", st)
	}
	t.Run("ErrFutureRevision", func(t *testing.T) {
		v := be.View()
		defer v.End()
		_, err := v.Range([]byte("a"), nil, ports.RangeOptions{Rev: 6})
		wantFuture(t, "Range at 6", err)
	})
}

func (s suite) testEndRevision(t *testing.T) {
	be := s.newBackend(t)
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if rev, evs := b.EndRevision(); rev != 1 || evs != nil {
		t.Errorf("EndRevision with no writes = %d, %v, want 1, nil", rev, evs)
	}
	if n, err := b.DeleteRange([]byte("x"), nil); n != 0 || err != nil {
		t.Errorf("DeleteRange of a missing key = %d, %v", n, err)
	}
	if rev, evs := b.EndRevision(); rev != 1 || evs != nil {
		t.Errorf("EndRevision after a no-op delete = %d, %v, want 1, nil", rev, evs)
	}
	for _, o := range []op{put("a", "1"), put("b", "1"), put("a", "2")} {
		if err := b.Put([]byte(o.key), []byte(o.value), 0); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.DeleteRange([]byte("b"), nil); n != 1 || err != nil {
		t.Fatalf("DeleteRange(b) = %d, %v", n, err)
	}
	if b.Rev() != 1 {
		t.Errorf("Batch.Rev() with a revision pending = %d, want 1", b.Rev())
	}
	res := rangeOf(t, b, "a", "c", ports.RangeOptions{})
	wantKVs(t, "batch reads its pending writes", res.KVs, []domain.KeyValue{kv("a", "2", 2, 2, 2, 0)})
	if res.Rev != 2 {
		t.Errorf("pending Range Rev = %d, want 2", res.Rev)
	}
	_, err = b.Range([]byte("a"), nil, ports.RangeOptions{Rev: 2})
	wantFuture(t, "Range at the pending revision", err)
	if res := viewRange(t, be, "a", "c", ports.RangeOptions{}); res.Count != 0 || res.Rev != 1 {
		t.Errorf("a View sees uncommitted writes: %+v", res)
	}
	rev, evs := b.EndRevision()
	if rev != 2 || b.Rev() != 2 {
		t.Errorf("EndRevision rev = %d, Batch.Rev() = %d, want 2", rev, b.Rev())
	}
	wantEvents(t, evs, []domain.Event{
		{Type: domain.EventPut, Kv: kv("a", "1", 2, 2, 1, 0)},
		{Type: domain.EventPut, Kv: kv("b", "1", 2, 2, 1, 0)},
		{Type: domain.EventPut, Kv: kv("a", "2", 2, 2, 2, 0)},
		{Type: domain.EventDelete, Kv: domain.KeyValue{Key: []byte("b"), ModRevision: 2}},
	})
	// Put, delete, put again in one revision: the last put starts a new
	// generation at that revision.
	if err := b.Put([]byte("c"), []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.DeleteRange([]byte("c"), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Put([]byte("c"), []byte("2"), 0); err != nil {
		t.Fatal(err)
	}
	rev, evs = b.EndRevision()
	if rev != 3 {
		t.Errorf("rev = %d, want 3", rev)
	}
	wantEvents(t, evs, []domain.Event{
		{Type: domain.EventPut, Kv: kv("c", "1", 3, 3, 1, 0)},
		{Type: domain.EventDelete, Kv: domain.KeyValue{Key: []byte("c"), ModRevision: 3}},
		{Type: domain.EventPut, Kv: kv("c", "2", 3, 3, 1, 0)},
	})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	res = viewRange(t, be, "", "\x00", ports.RangeOptions{})
	wantKVs(t, "after commit", res.KVs, []domain.KeyValue{kv("a", "2", 2, 2, 2, 0), kv("c", "2", 3, 3, 1, 0)})
	if res.Rev != 3 {
		t.Errorf("Rev = %d, want 3", res.Rev)
	}
	// Commit closes a revision left open.
	batch(t, be, func(b ports.Batch) {
		if err := b.Put([]byte("d"), []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
	})
	res = viewRange(t, be, "d", "", ports.RangeOptions{})
	wantKVs(t, "implicit EndRevision", res.KVs, []domain.KeyValue{kv("d", "1", 4, 4, 1, 0)})
	if st := be.Stats(); st.Rev != 4 || st.Keys != 3 {
		t.Errorf("Stats = %+v, want Rev 4, Keys 3", st)
	}
}

func wantEvents(t *testing.T, got, want []domain.Event) {
	t.Helper()
	f := func(evs []domain.Event) string {
		s := ""
		for _, ev := range evs {
			s += ev.Type.String() + fmtKV(ev.Kv)
			if ev.PrevKv != nil {
				s += "prev" + fmtKV(*ev.PrevKv)
			}
			s += " "
		}
		return s
	}
	if f(got) != f(want) {
		t.Errorf("events:\n got %s\nwant %s", f(got), f(want))
	}
	for _, ev := range got {
		if ev.Type == domain.EventDelete && len(ev.Kv.Value) != 0 {
			t.Errorf("delete event has a value %q", ev.Kv.Value)
		}
	}
}

func (s suite) testRange(t *testing.T) {
	be := s.newBackend(t)
	keys := []string{"a", "ab", "abc", "b", "c/1", "c/2", "d"}
	var ops []op
	for _, k := range keys {
		ops = append(ops, put(k, "v-"+k))
	}
	write(t, be, ops)
	write(t, be, []op{put("e", "v-e")}, []op{del("e", "")}) // a deleted key is not counted
	kvs := func(ks ...string) []domain.KeyValue {
		var out []domain.KeyValue
		for _, k := range ks {
			out = append(out, kv(k, "v-"+k, 2, 2, 1, 0))
		}
		return out
	}
	tests := []struct {
		name      string
		key, end  string
		opts      ports.RangeOptions
		want      []domain.KeyValue
		wantCount int64
	}{
		{name: "Single", key: "ab", want: kvs("ab"), wantCount: 1},
		{name: "SingleMissing", key: "zz"},
		{name: "SingleDeleted", key: "e"},
		{name: "RangeEnd", key: "a", end: "b", want: kvs("a", "ab", "abc"), wantCount: 3},
		{name: "Prefix", key: "c/", end: "c0", want: kvs("c/1", "c/2"), wantCount: 2},
		{name: "FromKey", key: "b", end: "\x00", want: kvs("b", "c/1", "c/2", "d"), wantCount: 4},
		{name: "All", key: "\x00", end: "\x00", want: kvs(keys...), wantCount: 7},
		{name: "AllFromEmpty", key: "", end: "\x00", want: kvs(keys...), wantCount: 7},
		{name: "Limit", key: "", end: "\x00", opts: ports.RangeOptions{Limit: 2}, want: kvs("a", "ab"), wantCount: 7},
		{name: "LimitAboveCount", key: "a", end: "b", opts: ports.RangeOptions{Limit: 10}, want: kvs("a", "ab", "abc"), wantCount: 3},
		{name: "CountOnly", key: "", end: "\x00", opts: ports.RangeOptions{CountOnly: true}, wantCount: 7},
		{name: "EndBeforeKey", key: "d", end: "a"},
		{name: "PastRevision", key: "", end: "\x00", opts: ports.RangeOptions{Rev: 1}},
		{name: "DeletedKeyAtItsRevision", key: "e", opts: ports.RangeOptions{Rev: 3}, want: []domain.KeyValue{kv("e", "v-e", 3, 3, 1, 0)}, wantCount: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := viewRange(t, be, tt.key, tt.end, tt.opts)
			wantKVs(t, "kvs", res.KVs, tt.want)
			if res.Count != tt.wantCount {
				t.Errorf("Count = %d, want %d", res.Count, tt.wantCount)
			}
			wantRev := tt.opts.Rev
			if wantRev == 0 {
				wantRev = 4
			}
			if res.Rev != wantRev {
				t.Errorf("Rev = %d, want %d", res.Rev, wantRev)
			}
		})
	}
}

func (s suite) testDeleteRange(t *testing.T) {
	tests := []struct {
		name     string
		key, end string
		want     []string // deleted, in order
	}{
		{name: "Single", key: "b", want: []string{"b"}},
		{name: "SingleMissing", key: "bb"},
		{name: "RangeEnd", key: "b", end: "d", want: []string{"b", "c"}},
		{name: "FromKey", key: "c", end: "\x00", want: []string{"c", "d"}},
		{name: "All", key: "", end: "\x00", want: []string{"a", "b", "c", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := s.newBackend(t)
			write(t, be, []op{put("a", "1"), put("b", "1"), put("c", "1"), put("d", "1")})
			b, err := be.Begin()
			if err != nil {
				t.Fatal(err)
			}
			n, err := b.DeleteRange([]byte(tt.key), []byte(tt.end))
			if err != nil || n != int64(len(tt.want)) {
				t.Fatalf("DeleteRange = %d, %v, want %d", n, err, len(tt.want))
			}
			rev, evs := b.EndRevision()
			var want []domain.Event
			for _, k := range tt.want {
				want = append(want, domain.Event{Type: domain.EventDelete, Kv: domain.KeyValue{Key: []byte(k), ModRevision: 3}})
			}
			wantEvents(t, evs, want)
			if n, _ := b.DeleteRange([]byte(tt.key), []byte(tt.end)); n != 0 {
				t.Errorf("second DeleteRange deleted %d", n)
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			if wantRev := int64(2 + min(len(tt.want), 1)); rev != wantRev {
				t.Errorf("rev = %d, want %d", rev, wantRev)
			}
			res := viewRange(t, be, "", "\x00", ports.RangeOptions{})
			if res.Count != int64(4-len(tt.want)) {
				t.Errorf("Count after delete = %d, want %d", res.Count, 4-len(tt.want))
			}
			for _, k := range tt.want {
				if res := viewRange(t, be, k, "", ports.RangeOptions{}); res.Count != 0 {
					t.Errorf("%q still there", k)
				}
				if res := viewRange(t, be, k, "", ports.RangeOptions{Rev: 2}); res.Count != 1 {
					t.Errorf("%q gone at revision 2", k)
				}
			}
			if st := be.Stats(); st.Keys != int64(4-len(tt.want)) {
				t.Errorf("Stats.Keys = %d, want %d", st.Keys, 4-len(tt.want))
			}
		})
	}
}

func (s suite) testKeys(t *testing.T) {
	be := s.newBackend(t)
	keys := []string{"\x00", "\x00\x00", "a\x00b", "a/b/c", "a/b/c/", "\xff\xfe", "\xc3\x28", "ключ", "日本/語", "a\x01"}
	var ops []op
	for _, k := range keys {
		ops = append(ops, put(k, "\x00"+k+"\xff"))
	}
	write(t, be, ops)
	for _, k := range keys {
		res := viewRange(t, be, k, "", ports.RangeOptions{})
		wantKVs(t, fmt.Sprintf("key %q", k), res.KVs, []domain.KeyValue{kv(k, "\x00"+k+"\xff", 2, 2, 1, 0)})
	}
	res := viewRange(t, be, "\x00", "\x00", ports.RangeOptions{})
	var got []string
	for _, kv := range res.KVs {
		got = append(got, string(kv.Key))
	}
	want := []string{"\x00", "\x00\x00", "a\x00b", "a\x01", "a/b/c", "a/b/c/", "\xc3\x28", "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", "\xe6\x97\xa5\xe6\x9c\xac/\xe8\xaa\x9e", "\xff\xfe"}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("all keys in order:\n got %q\nwant %q", got, want)
	}
	if res := viewRange(t, be, "a\x00", "a\x02", ports.RangeOptions{}); res.Count != 2 {
		t.Errorf("Range [a\\x00, a\\x02) Count = %d, want 2", res.Count)
	}
	if res := viewRange(t, be, "a/", "a0", ports.RangeOptions{}); res.Count != 2 {
		t.Errorf("prefix a/ Count = %d, want 2", res.Count)
	}
}
