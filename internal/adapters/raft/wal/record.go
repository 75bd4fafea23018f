package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	hraft "github.com/hashicorp/raft"
)

// A segment file is a header and then records, one per entry, back to
// back; the rest of the file, preallocated, is zeros.
//
//	header: magic "CAIRNWAL" | first index (u64) | CRC-32C of both (u32) | 4 zero bytes
//	record: body length (u32) | CRC-32C of the body (u32) | body
//	body:   index (u64) | term (u64) | type (u8) | appended at, Unix ns (i64)
//	        | data length (uvarint) | data | extensions length (uvarint) | extensions
//
// Integers are little-endian. A record of length 0 is where the written
// part ends. Recovery also ends the log at the first record whose length
// runs past the file, whose checksum fails or whose index is not the next
// one: that is a write the crash cut short, never acknowledged.
const (
	headerSize  = 24
	frameSize   = 8
	fixedBody   = 8 + 8 + 1 + 8
	maxBodySize = 64 << 20 // hashicorp/raft batches entries; one entry is far smaller
)

var (
	magic      = [8]byte{'C', 'A', 'I', 'R', 'N', 'W', 'A', 'L'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)

	// errCorrupt marks a record that does not decode although its checksum
	// matched, or a header that is not one.
	errCorrupt = errors.New("wal: corrupt")
)

func encodeHeader(first uint64) []byte {
	h := make([]byte, headerSize)
	copy(h, magic[:])
	binary.LittleEndian.PutUint64(h[8:], first)
	binary.LittleEndian.PutUint32(h[16:], crc32.Checksum(h[:16], castagnoli))
	return h
}

// decodeHeader returns the first index a segment header names.
func decodeHeader(h []byte) (uint64, error) {
	if len(h) < headerSize || [8]byte(h[:8]) != magic {
		return 0, fmt.Errorf("%w: not a segment header", errCorrupt)
	}
	if crc32.Checksum(h[:16], castagnoli) != binary.LittleEndian.Uint32(h[16:]) {
		return 0, fmt.Errorf("%w: segment header checksum", errCorrupt)
	}
	return binary.LittleEndian.Uint64(h[8:]), nil
}

// appendRecord appends the record of l to buf.
func appendRecord(buf []byte, l *hraft.Log) ([]byte, error) {
	size := fixedBody + binary.MaxVarintLen64*2 + len(l.Data) + len(l.Extensions)
	if size > maxBodySize {
		return buf, fmt.Errorf("wal: entry %d is %d bytes, over the %d-byte limit", l.Index, size, maxBodySize)
	}
	start := len(buf)
	buf = append(buf, make([]byte, frameSize)...)
	buf = binary.LittleEndian.AppendUint64(buf, l.Index)
	buf = binary.LittleEndian.AppendUint64(buf, l.Term)
	buf = append(buf, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	buf = binary.LittleEndian.AppendUint64(buf, uint64(at))
	buf = binary.AppendUvarint(buf, uint64(len(l.Data)))
	buf = append(buf, l.Data...)
	buf = binary.AppendUvarint(buf, uint64(len(l.Extensions)))
	buf = append(buf, l.Extensions...)
	body := buf[start+frameSize:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(body, castagnoli))
	return buf, nil
}

// frameAt reads the record frame at the start of b: its body, or ok false
// when b holds no whole record with a matching checksum there (the end of
// the written part, or a torn write).
func frameAt(b []byte) (body []byte, ok bool) {
	if len(b) < frameSize {
		return nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	if n < fixedBody || n > maxBodySize || int64(n) > int64(len(b)-frameSize) {
		return nil, false
	}
	body = b[frameSize : frameSize+int(n)]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, false
	}
	return body, true
}

// bodyIndex returns the index a record body holds.
func bodyIndex(body []byte) uint64 { return binary.LittleEndian.Uint64(body) }

// decodeBody fills l from a record body. Data and Extensions alias body.
func decodeBody(body []byte, l *hraft.Log) error {
	if len(body) < fixedBody {
		return fmt.Errorf("%w: record of %d bytes", errCorrupt, len(body))
	}
	l.Index = binary.LittleEndian.Uint64(body)
	l.Term = binary.LittleEndian.Uint64(body[8:])
	l.Type = hraft.LogType(body[16])
	l.AppendedAt = time.Time{}
	if at := int64(binary.LittleEndian.Uint64(body[17:])); at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	rest := body[fixedBody:]
	var err error
	if l.Data, rest, err = lengthPrefixed(rest); err != nil {
		return err
	}
	if l.Extensions, rest, err = lengthPrefixed(rest); err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d bytes after entry %d", errCorrupt, len(rest), l.Index)
	}
	if len(l.Data) == 0 {
		l.Data = nil
	}
	if len(l.Extensions) == 0 {
		l.Extensions = nil
	}
	return nil
}

func lengthPrefixed(b []byte) (field, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: field length", errCorrupt)
	}
	return b[k : k+int(n) : k+int(n)], b[k+int(n):], nil
}
