package snapfile_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/snapfile"
)

// write returns a snapshot file of body at rev.
func write(t *testing.T, rev int64, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := snapfile.NewWriter(&buf, rev, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	// In pieces, as a database is streamed.
	for chunk := range slices.Chunk(body, 7) {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != snapfile.FileSize(int64(len(body))) {
		t.Fatalf("file of %d bytes, FileSize says %d", buf.Len(), snapfile.FileSize(int64(len(body))))
	}
	return buf.Bytes()
}

func TestSnapfile_RoundTrip(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1, 4096, 100000} {
		body := bytes.Repeat([]byte("cairn"), size/5+1)[:size]
		file := write(t, 42, body)
		if string(file[:8]) != snapfile.Magic || binary.BigEndian.Uint32(file[8:]) != snapfile.Version {
			t.Fatalf("header %q", file[:snapfile.HeaderSize])
		}
		r, err := snapfile.NewReader(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if h := r.Header(); h.Revision != 42 || h.Size != int64(size) || h.Version != snapfile.Version {
			t.Fatalf("header %+v", h)
		}
		if n, err := r.Read(nil); n != 0 || (err != nil) != (size == 0) {
			t.Fatalf("an empty read = %d, %v", n, err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("size %d: body differs", size)
		}
		want := sha256.Sum256(file[:len(file)-snapfile.TrailerSize])
		if !bytes.Equal(r.Sum(), want[:]) || !bytes.Equal(file[len(file)-snapfile.TrailerSize:], want[:]) {
			t.Fatalf("sum %x, want %x", r.Sum(), want)
		}
		h, sum, err := snapfile.Verify(bytes.NewReader(file))
		if err != nil || h.Revision != 42 || !bytes.Equal(sum, want[:]) {
			t.Fatalf("Verify = %+v, %x, %v", h, sum, err)
		}
	}
}

// boltFile returns the bytes of a small bbolt database.
func boltFile(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("key"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSnapfile_Refused(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("0123456789"), 1000)
	good := write(t, 7, body)
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x01
		return b
	}
	v2 := bytes.Clone(good)
	binary.BigEndian.PutUint32(v2[8:], 2)
	tests := []struct {
		name string
		file []byte
		want error
		msg  string // in the error's text
	}{
		{name: "FlippedBodyByte", file: flip(snapfile.HeaderSize + 5000), want: snapfile.ErrChecksum, msg: "damaged"},
		{name: "FlippedRevision", file: flip(23), want: snapfile.ErrChecksum},
		{name: "FlippedTrailer", file: flip(len(good) - 1), want: snapfile.ErrChecksum},
		{name: "TrailingData", file: append(bytes.Clone(good), 0), want: snapfile.ErrChecksum, msg: "follows"},
		{name: "TruncatedBody", file: good[:snapfile.HeaderSize+100], want: snapfile.ErrTruncated, msg: "gives 10000 bytes of database, the file holds 100"},
		{name: "TruncatedTrailer", file: good[:len(good)-1], want: snapfile.ErrTruncated, msg: "trailer has 31 of its 32 bytes"},
		{name: "TruncatedHeader", file: good[:20], want: snapfile.ErrTruncated},
		{name: "TruncatedMagic", file: good[:3], want: snapfile.ErrTruncated},
		{name: "Empty", file: nil, want: snapfile.ErrNotSnapshot, msg: "empty"},
		{name: "BareBolt", file: boltFile(t), want: snapfile.ErrNotSnapshot, msg: "bare bbolt database"},
		{name: "Text", file: []byte("hello, world: not a snapshot at all"), want: snapfile.ErrNotSnapshot, msg: `"hello, w"`},
		{name: "FlippedMagic", file: flip(0), want: snapfile.ErrNotSnapshot},
		{name: "OtherVersion", file: v2, want: snapfile.ErrVersion, msg: "version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, sum, err := snapfile.Verify(bytes.NewReader(tt.file))
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not say %q", err, tt.msg)
			}
			if sum != nil {
				t.Fatalf("a sum for a refused file")
			}
		})
	}
}

func TestWriter_Length(t *testing.T) {
	t.Parallel()
	t.Run("Short", func(t *testing.T) {
		var buf bytes.Buffer
		w, err := snapfile.NewWriter(&buf, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("12345")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err == nil {
			t.Fatal("Close of a short body succeeded")
		}
		if buf.Len() != snapfile.HeaderSize+5 {
			t.Fatalf("wrote %d bytes: a trailer after a short body?", buf.Len())
		}
	})
	t.Run("Long", func(t *testing.T) {
		w, err := snapfile.NewWriter(io.Discard, 1, 4)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("12345")); err == nil {
			t.Fatal("a write past the announced length succeeded")
		}
		if err := w.Close(); err == nil {
			t.Fatal("Close after a failed write succeeded")
		}
	})
}
