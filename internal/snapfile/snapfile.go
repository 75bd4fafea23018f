package snapfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Version is the format version this package writes and reads.
const Version = 1

// Magic opens every snapshot file.
const Magic = "CAIRNSNP"

// HeaderSize and TrailerSize are the bytes before and after the body.
const (
	HeaderSize  = 32
	TrailerSize = sha256.Size
)

// The errors a Reader returns; each is wrapped with what was found.
var (
	// ErrNotSnapshot: the file is not a Cairn snapshot (another format, or
	// empty).
	ErrNotSnapshot = errors.New("snapfile: not a Cairn snapshot")
	// ErrVersion: a Cairn snapshot of a format version this binary does
	// not read.
	ErrVersion = errors.New("snapfile: unsupported snapshot format version")
	// ErrTruncated: the file ends before the length its header gives.
	ErrTruncated = errors.New("snapfile: snapshot is truncated")
	// ErrChecksum: the SHA-256 trailer does not match the content, or
	// bytes follow the trailer: the file is damaged.
	ErrChecksum = errors.New("snapfile: snapshot is damaged (checksum mismatch)")
)

// Header is what a snapshot file says of itself.
type Header struct {
	// Version is the format version.
	Version uint32
	// Revision is the store revision of the database.
	Revision int64
	// Size is the length of the body (the database), in bytes.
	Size int64
}

// FileSize is the length of a snapshot file whose body is size bytes.
func FileSize(size int64) int64 { return HeaderSize + size + TrailerSize }

func (h Header) marshal() []byte {
	b := make([]byte, 0, HeaderSize)
	b = append(b, Magic...)
	b = binary.BigEndian.AppendUint32(b, h.Version)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Revision))
	b = binary.BigEndian.AppendUint64(b, uint64(h.Size))
	return b
}

// parseHeader reads a header from the first n bytes of a file (n <
// HeaderSize when the file is shorter).
func parseHeader(b []byte) (Header, error) {
	if len(b) == 0 {
		return Header{}, fmt.Errorf("%w: the file is empty", ErrNotSnapshot)
	}
	if len(b) < len(Magic) || string(b[:len(Magic)]) != Magic {
		if len(b) < len(Magic) && bytes.HasPrefix([]byte(Magic), b) {
			return Header{}, fmt.Errorf("%w: %d bytes, a header takes %d", ErrTruncated, len(b), HeaderSize)
		}
		return Header{}, fmt.Errorf("%w: %s", ErrNotSnapshot, describe(b))
	}
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, a header takes %d", ErrTruncated, len(b), HeaderSize)
	}
	h := Header{
		Version:  binary.BigEndian.Uint32(b[8:]),
		Revision: int64(binary.BigEndian.Uint64(b[16:])),
		Size:     int64(binary.BigEndian.Uint64(b[24:])),
	}
	if h.Version != Version {
		return Header{}, fmt.Errorf("%w: the file is of version %d, this binary reads version %d", ErrVersion, h.Version, Version)
	}
	if h.Size < 0 || h.Revision < 0 {
		return Header{}, fmt.Errorf("%w: the header gives a length of %d bytes at revision %d", ErrChecksum, h.Size, h.Revision)
	}
	return h, nil
}

// boltMagic is bbolt's magic number, stored at byte 16 of a database file
// (after the 16-byte page header of page 0), in the byte order of the
// machine that wrote it.
const boltMagic = 0xED0CDAED

// describe says what a file of another format looks like, from its first
// bytes.
func describe(b []byte) string {
	if len(b) >= 20 {
		m := b[16:20]
		if binary.LittleEndian.Uint32(m) == boltMagic || binary.BigEndian.Uint32(m) == boltMagic {
			return "it is a bare bbolt database (an etcd snapshot, or a Cairn state.db copied by hand?), " +
				"not a file from GET /v1/maintenance/snapshot"
		}
	}
	return fmt.Sprintf("it does not start with %q (its first bytes are %q)", Magic, b[:min(len(b), 8)])
}

// Writer writes a snapshot file: NewWriter writes the header, Write the
// body, and Close the trailer.
type Writer struct {
	w       io.Writer
	h       hash.Hash
	size, n int64
	err     error
}

// NewWriter writes the header of a snapshot of the store at revision rev
// whose database is size bytes long to w, and returns a Writer for the
// body.
func NewWriter(w io.Writer, rev, size int64) (*Writer, error) {
	sw := &Writer{w: w, h: sha256.New(), size: size}
	hdr := Header{Version: Version, Revision: rev, Size: size}.marshal()
	sw.h.Write(hdr)
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("snapfile: write header: %w", err)
	}
	return sw, nil
}

// Write writes body bytes. Writing more than the size given to NewWriter
// is an error.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if int64(len(p)) > w.size-w.n {
		w.err = fmt.Errorf("snapfile: body longer than the %d bytes announced", w.size)
		return 0, w.err
	}
	n, err := w.w.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Close writes the trailer. It fails, writing nothing, when the body is
// shorter than announced.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.n != w.size {
		w.err = fmt.Errorf("snapfile: body of %d bytes, %d announced", w.n, w.size)
		return w.err
	}
	if _, err := w.w.Write(w.h.Sum(nil)); err != nil {
		w.err = fmt.Errorf("snapfile: write trailer: %w", err)
		return w.err
	}
	w.err = errors.New("snapfile: writer closed")
	return nil
}

// Reader reads the body of a snapshot file and checks it: Read returns
// io.EOF only after the whole body was read and the trailer matched, and
// an error wrapping ErrTruncated or ErrChecksum otherwise.
type Reader struct {
	r   io.Reader
	hdr Header
	h   hash.Hash
	n   int64 // body bytes read
	sum []byte
	err error
}

// NewReader reads and checks the header of the snapshot file r. Its errors
// wrap ErrNotSnapshot, ErrVersion or ErrTruncated.
func NewReader(r io.Reader) (*Reader, error) {
	b := make([]byte, HeaderSize)
	n, err := io.ReadFull(r, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("snapfile: read header: %w", err)
	}
	hdr, err := parseHeader(b[:n])
	if err != nil {
		return nil, err
	}
	rd := &Reader{r: r, hdr: hdr, h: sha256.New()}
	rd.h.Write(b)
	return rd, nil
}

// Header returns the file's header.
func (r *Reader) Header() Header { return r.hdr }

// Sum returns the SHA-256 of the file (its trailer) once Read returned
// io.EOF, else nil.
func (r *Reader) Sum() []byte { return r.sum }

// Read reads body bytes.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	left := r.hdr.Size - r.n
	if left == 0 {
		r.err = r.finish()
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	switch {
	case errors.Is(err, io.EOF) && r.n < r.hdr.Size:
		r.err = fmt.Errorf("%w: the header gives %d bytes of database, the file holds %d", ErrTruncated, r.hdr.Size, r.n)
		return n, r.err
	case errors.Is(err, io.EOF):
		err = nil // the trailer is still to come
	case err != nil:
		r.err = err
	}
	return n, err
}

// finish reads and checks the trailer, then makes sure nothing follows.
func (r *Reader) finish() error {
	want := make([]byte, TrailerSize)
	if n, err := io.ReadFull(r.r, want); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: the checksum trailer has %d of its %d bytes", ErrTruncated, n, TrailerSize)
		}
		return fmt.Errorf("snapfile: read trailer: %w", err)
	}
	got := r.h.Sum(nil)
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: SHA-256 %x, the trailer says %x", ErrChecksum, got, want)
	}
	var one [1]byte
	if n, _ := io.ReadFull(r.r, one[:]); n > 0 {
		return fmt.Errorf("%w: data follows the checksum trailer", ErrChecksum)
	}
	r.sum = got
	return io.EOF
}

// Verify reads the whole snapshot file r and returns its header and
// SHA-256 when it is intact.
func Verify(r io.Reader) (Header, []byte, error) {
	rd, err := NewReader(r)
	if err != nil {
		return Header{}, nil, err
	}
	if _, err := io.Copy(io.Discard, rd); err != nil {
		return rd.Header(), nil, err
	}
	return rd.Header(), rd.Sum(), nil
}
