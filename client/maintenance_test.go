package client_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/cairnkv/cairn/internal/snapfile"
)

func TestClient_Snapshot(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	t.Run("OK", func(t *testing.T) {
		c := newClient(t, endpoints)
		put, err := c.Put(ctx, "snapshot/k", "v")
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		rev, err := c.Snapshot(ctx, &buf)
		if err != nil {
			t.Fatal(err)
		}
		if rev < put.Header.Revision {
			t.Fatalf("snapshot at %d, before the put at %d", rev, put.Header.Revision)
		}
		h, _, err := snapfile.Verify(&buf)
		if err != nil || h.Revision != rev {
			t.Fatalf("the file written: %+v, %v", h, err)
		}
	})
	t.Run("Truncated", func(t *testing.T) {
		// A member (or a proxy) that sends part of a snapshot: the client
		// says so, and does not return a revision.
		var file bytes.Buffer
		w, err := snapfile.NewWriter(&file, 9, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("X-Cairn-Revision", strconv.Itoa(9))
			_, _ = w.Write(file.Bytes()[:500])
		}))
		defer srv.Close()
		c := newClient(t, []string{srv.URL})
		var got bytes.Buffer
		rev, err := c.Snapshot(ctx, &got)
		if !errors.Is(err, snapfile.ErrTruncated) || rev != 0 {
			t.Fatalf("Snapshot = %d, %v; want ErrTruncated", rev, err)
		}
	})
}
