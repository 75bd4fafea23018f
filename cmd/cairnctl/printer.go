package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/cairnkv/cairn/client"
)

// The output formats of -w.
const (
	// formatSimple prints as etcdctl does: a get prints each key, then
	// its value, a put prints OK, a member list comma-separated lines.
	formatSimple = "simple"
	// formatJSON prints one JSON document per answer (one line each, so
	// that a watch prints JSON lines), with the API's field names.
	formatJSON = "json"
	// formatTable draws a table where etcdctl does (member list,
	// endpoint status, health and hashkv, snapshot status) and for lease
	// list and alarm list; other commands print as simple.
	formatTable = "table"
)

// output is what a command prints: etcdctl's lines, and the document
// of -w json.
type output interface {
	// simple writes the lines of -w simple.
	simple(w io.Writer)
	// json returns the document of -w json, with the API's field names.
	json() any
}

// tabular is an output that -w table draws as a table.
type tabular interface {
	output
	// table returns the columns' names and the rows.
	table() (header []string, rows [][]string)
}

// printer prints outputs in the format of -w.
type printer struct {
	out    io.Writer
	errOut io.Writer
	format string
}

func newPrinter(out, errOut io.Writer, format string) *printer {
	return &printer{out: out, errOut: errOut, format: format}
}

// print writes o in the printer's format; it returns the first error of
// the writes (a closed pipe, a full disk).
func (p *printer) print(o output) error {
	w := &errWriter{w: p.out}
	switch p.format {
	case formatJSON:
		b, err := json.Marshal(o.json())
		if err != nil {
			return err
		}
		w.Write(append(b, '\n'))
	case formatTable:
		if t, ok := o.(tabular); ok {
			header, rows := t.table()
			if err := drawTable(w, header, rows); err != nil {
				return err
			}
			break
		}
		o.simple(w)
	default:
		o.simple(w)
	}
	return w.err
}

// errWriter keeps the first error of its writes and drops the rest.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	_, e.err = e.w.Write(p)
	return len(p), nil
}

// drawTable draws an ASCII table, as etcdctl's: a header row, then rows.
func drawTable(w io.Writer, header []string, rows [][]string) error {
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	h := make([]any, len(header))
	for i, s := range header {
		h[i] = s
	}
	t.Header(h...)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	return t.Render()
}

// writeRows writes rows as -w simple does for tables: one line per row,
// its cells separated by ", ".
func writeRows(w io.Writer, rows [][]string) {
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, ", "))
	}
}

// kvMode says what of a key-value -w simple prints.
type kvMode int

const (
	kvBoth      kvMode = iota // the key's line, then the value's
	kvKeysOnly                // the key's line
	kvValueOnly               // the value's line
)

// writeKV writes a key-value as etcdctl does: the key on a line, the value
// on the next, as they are (bytes that are not text included).
func writeKV(w io.Writer, kv *client.KeyValue, mode kvMode) {
	if mode != kvValueOnly {
		w.Write(kv.Key)
		io.WriteString(w, "\n")
	}
	if mode != kvKeysOnly {
		w.Write(kv.Value)
		io.WriteString(w, "\n")
	}
}

// The JSON of -w json: the API's shapes and field names (api/openapi.yaml).

type headerJSON struct {
	ClusterID uint64 `json:"cluster_id"`
	MemberID  uint64 `json:"member_id"`
	Revision  int64  `json:"revision"`
	RaftTerm  uint64 `json:"raft_term"`
}

func toHeaderJSON(h client.ResponseHeader) headerJSON {
	return headerJSON{ClusterID: h.ClusterID, MemberID: h.MemberID, Revision: h.Revision, RaftTerm: h.RaftTerm}
}

// kvJSON is a key-value as the API writes it: the key and the value as
// text when they are UTF-8, else in key_base64 and value_base64.
type kvJSON struct {
	Key            *string `json:"key,omitempty"`
	KeyBase64      *string `json:"key_base64,omitempty"`
	CreateRevision int64   `json:"create_revision"`
	ModRevision    int64   `json:"mod_revision"`
	Version        int64   `json:"version"`
	Value          *string `json:"value,omitempty"`
	ValueBase64    *string `json:"value_base64,omitempty"`
	Lease          int64   `json:"lease"`
}

func toKVJSON(kv *client.KeyValue) *kvJSON {
	if kv == nil {
		return nil
	}
	out := &kvJSON{CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Version: kv.Version, Lease: int64(kv.Lease)}
	out.Key, out.KeyBase64 = textOrBase64(kv.Key)
	if kv.Value != nil {
		out.Value, out.ValueBase64 = textOrBase64(kv.Value)
	}
	return out
}

// toKVsJSON returns the kvs as a list, empty rather than null.
func toKVsJSON(kvs []*client.KeyValue) []*kvJSON {
	out := make([]*kvJSON, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, toKVJSON(kv))
	}
	return out
}

// textOrBase64 returns b as text when it is UTF-8, else as base64 in the
// second result.
func textOrBase64(b []byte) (text, b64 *string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

// emptyIfNil returns ss, or an empty list for nil, so that JSON has [].
func emptyIfNil[T any](ss []T) []T {
	if ss == nil {
		return []T{}
	}
	return ss
}

// humanBytes writes a size as etcdctl does (go-humanize's SI units):
// "25 kB", "2.1 MB".
func humanBytes(n int64) string {
	const units = "kMGTPE"
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	i := -1
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %cB", v, units[i])
	}
	return fmt.Sprintf("%.0f %cB", v, units[i])
}
