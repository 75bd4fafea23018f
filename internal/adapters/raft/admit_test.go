package raft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/domaintest"
	"github.com/cairnkv/cairn/internal/ports"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// issuePoison is the forwarded body of issue 11: a member record with an
// empty name, which every member crashed on (bbolt: "key required").
var issuePoison = []byte{codecVersion, byte(domain.CmdPublishMember), 1, 0, 0, 0, 0}

func encode(t *testing.T, cmd domain.Command) []byte {
	t.Helper()
	data, err := EncodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestFSM_PoisonEntriesAreRejections feeds three members' FSMs a log that
// already holds the crafted commands, as an older version let them in:
// every member computes the same rejection for each, nobody panics, and the
// stores stay equal.
func TestFSM_PoisonEntriesAreRejections(t *testing.T) {
	t.Parallel()
	crafted := domaintest.CraftedCommands()
	logs := []*hraft.Log{{Index: 1, Term: 1, Type: hraft.LogCommand, Data: issuePoison}}
	for i, c := range crafted {
		logs = append(logs, &hraft.Log{Index: uint64(i + 2), Term: 1, Type: hraft.LogCommand, Data: encode(t, c.Cmd)})
	}
	last := uint64(len(logs) + 1)
	logs = append(logs, putLog(t, last, "after", "poison"))

	var outs [3][]any
	var backends [3]ports.Backend
	for m := range outs {
		backends[m] = portstest.NewBackend()
		f := newFSM(backends[m], nil)
		// One entry per batch for the first member, one batch for the
		// others: batching must not change a result.
		if m == 0 {
			for _, l := range logs {
				outs[m] = append(outs[m], f.ApplyBatch([]*hraft.Log{l})...)
			}
		} else {
			outs[m] = f.ApplyBatch(logs)
		}
		if f.appliedIndex() != last {
			t.Fatalf("member %d applied up to %d, want %d", m, f.appliedIndex(), last)
		}
	}
	names := append([]string{"issue 11 reproduction"}, func() (s []string) {
		for _, c := range crafted {
			s = append(s, c.Name)
		}
		return s
	}()...)
	for i, name := range names {
		want := outs[0][i].(domain.Result)
		if !errors.Is(want.Err, domain.ErrInvalidArgument) || want.Revision != 1 {
			t.Errorf("%s: result %+v, want an invalid argument at revision 1", name, want)
			continue
		}
		for m := 1; m < 3; m++ {
			got := outs[m][i].(domain.Result)
			if got.Err == nil || got.Err.Error() != want.Err.Error() || got.Revision != want.Revision {
				t.Errorf("%s: member %d got %v at %d, member 0 %v at %d", name, m, got.Err, got.Revision, want.Err, want.Revision)
			}
		}
	}
	for m := range outs {
		if r := outs[m][len(logs)-1].(domain.Result); r.Err != nil || r.Revision != 2 {
			t.Errorf("member %d: put after the poison = %+v, want revision 2", m, r)
		}
	}
	h0, _, _, _ := backends[0].Hash(0)
	for m := 1; m < 3; m++ {
		if h, _, _, _ := backends[m].Hash(0); h != h0 {
			t.Errorf("member %d has hash %x, member 0 %x", m, h, h0)
		}
	}
}

// failingBackend is a store whose puts fail, as a full or broken disk
// makes them.
type failingBackend struct{ ports.Backend }

func (b failingBackend) Begin() (ports.Batch, error) {
	bt, err := b.Backend.Begin()
	return failingBatch{bt}, err
}

type failingBatch struct{ ports.Batch }

func (failingBatch) Put([]byte, []byte, int64) error { return errors.New("disk on fire") }

// TestFSM_StopsNamingTheEntry checks that what cannot be a result (an entry
// of a type this version does not know, a failing store) stops the member,
// and that its log says which entry and why first.
func TestFSM_StopsNamingTheEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		backend ports.Backend
		entry   []byte
		want    []string
	}{
		{name: "unknown type", backend: portstest.NewBackend(), entry: []byte{codecVersion, 0x33},
			want: []string{`"command":"type_51"`, "unknown command type"}},
		{name: "store failure", backend: failingBackend{portstest.NewBackend()}, entry: encode(t, domain.Command{Type: domain.CmdTxn,
			Txn: &domain.TxnRequest{Success: []domain.Op{{Put: &domain.PutRequest{Key: []byte("k")}}}}}),
			want: []string{`"command":"txn"`, "disk on fire"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logBuf bytes.Buffer
			f := newFSM(tt.backend, nil)
			f.log = zerolog.New(&logBuf)
			var recovered any
			func() {
				defer func() { recovered = recover() }()
				f.ApplyBatch([]*hraft.Log{{Index: 7, Term: 2, Type: hraft.LogCommand, Data: tt.entry}})
			}()
			if recovered == nil {
				t.Fatal("the FSM applied an entry it cannot apply")
			}
			if msg := fmt.Sprint(recovered); !strings.Contains(msg, "entry 7 (term 2") {
				t.Errorf("panic %q does not name the entry", msg)
			}
			line := logBuf.String()
			for _, want := range append([]string{`"level":"error"`, `"index":7`, `"term":2`}, tt.want...) {
				if !strings.Contains(line, want) {
					t.Errorf("log %s lacks %s", line, want)
				}
			}
		})
	}
}

// TestNode_RefusesCraftedCommands proposes the crafted commands through
// every way into the log of a member (Propose, ProposeAsLeader and the
// leader's side of forwarding) and sees each refused before it reaches the
// log; then an entry that reached the log anyway (an older version's) is
// a rejection when it is applied, and again when a restarted member
// replays its whole log.
func TestNode_RefusesCraftedCommands(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, addr := t.TempDir(), freeAddr(t)
	b := portstest.NewBackend()
	n := startNode(t, dir, addr, b)
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := n.Propose(ctx, putCmd("before", "v")); err != nil || res.Err != nil {
		t.Fatalf("put: %v %v", err, res.Err)
	}
	lastIndex, rev := n.raft.LastIndex(), n.Revision()

	wantInvalid := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("%s: %v, want invalid argument", what, err)
		}
	}
	for _, c := range domaintest.CraftedCommands() {
		_, err := n.Propose(ctx, c.Cmd)
		wantInvalid("Propose "+c.Name, err)
		_, err = n.ProposeAsLeader(ctx, c.Cmd)
		wantInvalid("ProposeAsLeader "+c.Name, err)
		_, err = n.ProposeEncoded(ctx, "n2", encode(t, c.Cmd))
		wantInvalid("ProposeEncoded "+c.Name, err)
	}
	_, err := n.ProposeEncoded(ctx, "n2", issuePoison)
	wantInvalid("the issue's bytes", err)

	// A member record through forwarding: the sender's own only, never
	// the leader's, and only for a member of the configuration at its
	// peer address.
	record := func(name, peer, client string) []byte {
		return encode(t, domain.Command{Type: domain.CmdPublishMember, Member: &domain.PublishMember{Member: domain.Member{
			ID: MemberID(name), Name: name, PeerURL: peer, ClientURLs: []string{client},
		}}})
	}
	forwarded := []struct {
		name, from string
		data       []byte
	}{
		{name: "from nobody", from: "", data: record("n2", "http://127.0.0.1:2", "http://127.0.0.1:3")},
		{name: "another member's record", from: "n2", data: record("n3", "http://127.0.0.1:2", "http://127.0.0.1:3")},
		{name: "the leader's record", from: "n2", data: record("n1", "http://"+addr, "http://127.0.0.1:9")},
		{name: "the leader's record in its name", from: "n1", data: record("n1", "http://"+addr, "http://127.0.0.1:9")},
		{name: "not a member", from: "n2", data: record("n2", "http://127.0.0.1:2", "http://127.0.0.1:3")},
		{name: "wrong ID", from: "n2", data: encode(t, domain.Command{Type: domain.CmdPublishMember, Member: &domain.PublishMember{
			Member: domain.Member{ID: 42, Name: "n2", PeerURL: "http://127.0.0.1:2"}}})},
	}
	for _, tt := range forwarded {
		_, err := n.ProposeEncoded(ctx, tt.from, tt.data)
		wantInvalid("forwarded record, "+tt.name, err)
	}
	if li, r := n.raft.LastIndex(), n.Revision(); li != lastIndex || r != rev {
		t.Fatalf("refused commands reached the log: last index %d (was %d), revision %d (was %d)", li, lastIndex, r, rev)
	}
	ms, err := n.Members()
	if err != nil || len(ms) != 1 || ms[0].ClientURLs[0] != "http://127.0.0.1:1" {
		t.Fatalf("members after the refusals = %+v %v", ms, err)
	}

	// An entry that an older version let into the log.
	f := n.raft.Apply(issuePoison, 5*time.Second)
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	if res, ok := f.Response().(domain.Result); !ok || !errors.Is(res.Err, domain.ErrInvalidArgument) {
		t.Fatalf("poison entry applied as %#v, want an invalid argument result", f.Response())
	}
	if res, err := n.Propose(ctx, putCmd("after", "v")); err != nil || res.Err != nil || res.Revision != rev+1 {
		t.Fatalf("put after the poison entry: %+v %v", res, err)
	}
	hash, hashRev, _, _ := b.Hash(0)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart on an empty store replays the whole log, poison included.
	b2 := portstest.NewBackend()
	n = startNode(t, dir, addr, b2)
	defer n.Close()
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	if h, r, _, _ := b2.Hash(0); h != hash || r != hashRev {
		t.Fatalf("store replayed from the log: hash %x at %d, want %x at %d", h, r, hash, hashRev)
	}
	if res, err := n.Propose(ctx, putCmd("after/restart", "v")); err != nil || res.Err != nil {
		t.Fatalf("put after the restart: %+v %v", res, err)
	}
}
