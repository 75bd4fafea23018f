package raft

import (
	"fmt"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/rs/zerolog"
)

// A member made before the log moved to wal/ has it in raft.db: its first
// start moves the entries over and deletes them from raft.db, and a crash
// midway (entries in both) is finished at the next start.
func TestStores_MoveTheLogOutOfRaftDB(t *testing.T) {
	dir := t.TempDir()
	old, err := raftboltdb.New(stableStoreOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	var logs []*hraft.Log
	for i := uint64(5); i <= 600; i++ {
		logs = append(logs, &hraft.Log{Index: i, Term: 2, Type: hraft.LogCommand, Data: []byte(fmt.Sprint("e", i))})
	}
	if err := old.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := old.SetUint64([]byte("CurrentTerm"), 2); err != nil {
		t.Fatal(err)
	}
	old.Close()

	// The crash: a first start had moved entries 5 to 300 only.
	w, err := openWAL(dir + "/wal")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.StoreLogs(logs[:296]); err != nil {
		t.Fatal(err)
	}
	w.Close()

	st, err := openStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.moved != 600-300 {
		t.Fatalf("moved %d entries, want the 300 the WAL lacked", st.moved)
	}
	if term, err := st.stable.GetUint64([]byte("CurrentTerm")); err != nil || term != 2 {
		t.Fatalf("term after the move: %d, %v", term, err)
	}
	if last, _ := st.stable.LastIndex(); last != 0 {
		t.Fatalf("raft.db still holds entries up to %d", last)
	}
	first, _ := st.log.FirstIndex()
	last, _ := st.log.LastIndex()
	if first != 5 || last != 600 {
		t.Fatalf("the WAL holds %d..%d, want 5..600", first, last)
	}
	for i := first; i <= last; i++ {
		var e hraft.Log
		if err := st.log.GetLog(i, &e); err != nil || e.Term != 2 || string(e.Data) != fmt.Sprint("e", i) {
			t.Fatalf("entry %d after the move: %+v, %v", i, e, err)
		}
	}
}

// hashicorp/raft asks the outermost log store whether it is monotonic, to
// delete the whole log after it installs a snapshot rather than leave a
// gap the WAL refuses: the cache and the writers must say what it says.
func TestStores_LogChainIsMonotonic(t *testing.T) {
	st, err := openStores(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := newLogWriter(timedLogStore{st.log, newHealthMetrics(zerolog.Nop(), time.Second)}, func(err error) { t.Error(err) })
	defer w.Close()
	cached, err := hraft.NewLogCache(16, w)
	if err != nil {
		t.Fatal(err)
	}
	if !cached.IsMonotonic() {
		t.Fatal("the log store hashicorp/raft gets does not say it is monotonic")
	}
}
