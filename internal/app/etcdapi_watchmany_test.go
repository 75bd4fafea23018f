package app

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestEtcdAPI_WatchManyOnOneStream: many watches on one gRPC stream cost
// the member no goroutine each; a change reaches its watch only, a cancel
// is answered and stops the events, and RequestProgress is answered for
// the whole stream.
func TestEtcdAPI_WatchManyOnOneStream(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	conn, err := grpc.NewClient(strings.TrimPrefix(ms[0].URL, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := etcdCtx(t)
	kv := pb.NewKVClient(conn)
	if _, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("warmup"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	ws, err := pb.NewWatchClient(conn).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recv := func() *pb.WatchResponse {
		t.Helper()
		resp, err := ws.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	const n = 300
	create := func(i int) {
		if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{
			CreateRequest: &pb.WatchCreateRequest{Key: fmt.Appendf(nil, "many/%03d", i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	create(0)
	if resp := recv(); !resp.Created || resp.WatchId != 0 {
		t.Fatalf("first create answered %v", resp)
	}
	base := runtime.NumGoroutine()
	for i := 1; i < n; i++ {
		create(i)
	}
	for i := 1; i < n; i++ {
		if resp := recv(); !resp.Created || resp.WatchId != int64(i) {
			t.Fatalf("create #%d answered %v", i, resp)
		}
	}
	if extra := runtime.NumGoroutine() - base; extra > n/10 {
		t.Fatalf("%d more goroutines for %d more watches on one stream", extra, n-1)
	}

	put := func(key string) int64 {
		t.Helper()
		r, err := kv.Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte("v")})
		if err != nil {
			t.Fatal(err)
		}
		return r.Header.Revision
	}
	expectEvent := func(id int64, key string, rev int64) {
		t.Helper()
		resp := recv()
		if resp.WatchId != id || len(resp.Events) != 1 || string(resp.Events[0].Kv.Key) != key ||
			resp.Events[0].Kv.ModRevision != rev || resp.Header.Revision < rev {
			t.Fatalf("got %v, want the put of %s at %d for watch %d", resp, key, rev, id)
		}
	}
	expectEvent(7, "many/007", put("many/007"))
	if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{
		CancelRequest: &pb.WatchCancelRequest{WatchId: 7}}}); err != nil {
		t.Fatal(err)
	}
	if resp := recv(); resp.WatchId != 7 || !resp.Canceled {
		t.Fatalf("cancel answered %v", resp)
	}
	put("many/007") // canceled: no event
	last := put("many/008")
	expectEvent(8, "many/008", last)
	if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{
		ProgressRequest: &pb.WatchProgressRequest{}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := recv()
		if resp.WatchId == -1 && len(resp.Events) == 0 {
			if resp.Header.Revision < last {
				t.Fatalf("progress at %d, before the last put at %d", resp.Header.Revision, last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress answer, got %v", resp)
		}
	}
}
