package raft

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/ports"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// storeWith returns the snapshot bytes of a store holding n revisions.
func storeWith(t *testing.T, n int) []byte {
	t.Helper()
	b := portstest.NewBackend()
	bt, err := b.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := bt.Put([]byte{'k', byte('a' + i)}, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		bt.EndRevision()
	}
	if err := bt.Commit(); err != nil {
		t.Fatal(err)
	}
	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBootstrapWithState(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	state := storeWith(t, 5) // revision 6
	dir, addr := t.TempDir(), freeAddr(t)
	peers := []Peer{{Name: "n1", PeerURL: "http://" + addr}}
	if err := BootstrapWithState(dir, "n1", peers, bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	if err := BootstrapWithState(dir, "n1", peers, bytes.NewReader(state)); err == nil {
		t.Fatal("a second bootstrap of the same directory succeeded")
	}
	if err := BootstrapWithState(t.TempDir(), "n9", peers, bytes.NewReader(state)); err == nil {
		t.Fatal("a bootstrap of a member outside the peers succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); err != nil {
		t.Fatal(err)
	}

	// The store restored as the restore writes it, and a store that is
	// rebuilt from the snapshot (RestoreOnStart): both start where the
	// snapshot is and go on.
	restored := portstest.NewBackend()
	if err := restored.Restore(bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		b       ports.Backend
		rebuild bool
		wantRev int64
	}{
		{name: "Restored", b: restored, wantRev: 7},
		{name: "Rebuilt", b: portstest.NewBackend(), rebuild: true, wantRev: 8},
	} {
		n, err := New(Config{
			Name: "n1", DataDir: dir, BindAddr: addr, AdvertisePeerURL: "http://" + addr,
			ClientURLs: []string{"http://127.0.0.1:1"}, InitialCluster: peers,
			HeartbeatInterval: 20 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
			RestoreOnStart: tc.rebuild,
			Logger:         zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		}, tc.b)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !n.HasState() {
			t.Fatalf("%s: a bootstrapped member reports no state", tc.name)
		}
		if err := n.ReadBarrier(ctx); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		res, err := n.Propose(ctx, putCmd("after", tc.name))
		if err != nil || res.Revision != tc.wantRev {
			t.Fatalf("%s: put after the restore: revision %d, %v; want %d", tc.name, res.Revision, err, tc.wantRev)
		}
		v := tc.b.View()
		got, err := v.Range([]byte("ka"), []byte("kz"), ports.RangeOptions{})
		v.End()
		if err != nil || got.Count != 5 {
			t.Fatalf("%s: the snapshot's keys: %+v, %v", tc.name, got, err)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
