package client_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/client"
)

func TestClient_HashKV(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newClient(t, endpoints)
	put, err := c.Put(ctx, "hashkv/k", "v")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		h, err := c.HashKV(ctx, put.Header.Revision)
		if err != nil {
			t.Fatal(err)
		}
		if h.Revision != put.Header.Revision || h.Hash == 0 {
			t.Fatalf("HashKV = %+v", h)
		}
		again, err := c.HashKV(ctx, put.Header.Revision)
		if err != nil || again.Hash != h.Hash {
			t.Fatalf("HashKV at the same revision: %+v, %v; first %d", again, err, h.Hash)
		}
		now, err := c.HashKV(ctx, 0)
		if err != nil || now.Revision < put.Header.Revision {
			t.Fatalf("HashKV now: %+v, %v", now, err)
		}
	})
	t.Run("ErrInvalidArgument", func(t *testing.T) {
		if _, err := c.HashKV(ctx, 1<<40); !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("HashKV of a future revision: %v", err)
		}
	})
}

func TestClient_Alarms(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newClient(t, endpoints)
	list, err := c.AlarmList(ctx)
	if err != nil || len(list.Alarms) != 0 || list.Header.MemberID == 0 {
		t.Fatalf("AlarmList = %+v, %v", list, err)
	}
	// Disarming what is not raised changes nothing, whatever the filter.
	for _, m := range []client.AlarmMember{{}, {Alarm: client.AlarmNoSpace}, {MemberID: list.Header.MemberID, Alarm: client.AlarmCorrupt}} {
		left, err := c.AlarmDisarm(ctx, m)
		if err != nil || len(left.Alarms) != 0 {
			t.Fatalf("AlarmDisarm(%+v) = %+v, %v", m, left, err)
		}
	}
	st, err := c.Status(ctx)
	if err != nil || len(st.Alarms) != 0 {
		t.Fatalf("Status alarms: %+v, %v", st, err)
	}
}

func TestClient_Defragment(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	ms := startCluster(t, 1)
	c := newClient(t, urls(ms))
	for i := 0; i < 50; i++ {
		if _, err := c.Put(ctx, "defrag/k", strings.Repeat("v", 4096)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := c.Defragment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.DBSizeAfter <= 0 || d.DBSizeAfter > d.DBSizeBefore || d.Header.MemberID == 0 {
		t.Fatalf("Defragment = %+v", d)
	}
}
