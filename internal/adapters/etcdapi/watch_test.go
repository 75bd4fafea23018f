package etcdapi

import (
	"bytes"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestFragments(t *testing.T) {
	t.Parallel()
	resp := &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 9}, WatchId: 3}
	for i := range 10 {
		resp.Events = append(resp.Events, &mvccpb.Event{Kv: &mvccpb.KeyValue{Key: []byte{byte('a' + i)}, Value: bytes.Repeat([]byte("v"), 1000)}})
	}
	tests := []struct {
		name  string
		limit int
		parts int
	}{
		{name: "Fits", limit: 1 << 20, parts: 1},
		{name: "ThreePerPart", limit: 3100, parts: 4},
		{name: "OnePerPart", limit: 10, parts: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := fragments(resp, tt.limit)
			if len(parts) != tt.parts {
				t.Fatalf("%d parts, want %d", len(parts), tt.parts)
			}
			var n int
			for i, p := range parts {
				if p.Fragment != (i < len(parts)-1) || p.WatchId != 3 || p.Header.Revision != 9 {
					t.Fatalf("part %d: fragment %v, watch %d, header %v", i, p.Fragment, p.WatchId, p.Header)
				}
				if len(p.Events) > 1 && p.Size() > tt.limit {
					t.Fatalf("part %d: %d bytes, limit %d", i, p.Size(), tt.limit)
				}
				for _, ev := range p.Events {
					if ev.Kv.Key[0] != byte('a'+n) {
						t.Fatalf("event %d out of order", n)
					}
					n++
				}
			}
			if n != 10 {
				t.Fatalf("%d events, want 10", n)
			}
		})
	}
}
