package main

import (
	"bytes"
	"testing"
)

// TestRenderTable_AsDrawTable: the golden files' tables, normalised cell
// by cell and drawn again by renderTable, look exactly like drawTable's,
// so that the golden files show cairnctl's real tables.
func TestRenderTable_AsDrawTable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		header []string
		rows   [][]string
	}{
		{name: "Members", header: []string{"ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"}, rows: [][]string{
			{"8e9e05c52164694d", "started", "n1", "http://127.0.0.1:2380", "http://127.0.0.1:2379", "false"},
			{"91bc3c398fb3c146", "unstarted", "n22", "http://127.0.0.1:22380", "", "true"},
		}},
		{name: "OddPadding", header: []string{"HASH", "REVISION"}, rows: [][]string{{"1", "12345"}, {"123456", "1"}}},
		{name: "NoRows", header: []string{"ID", "TTL"}},
		{name: "Unicode", header: []string{"TOOK"}, rows: [][]string{{"830µs"}, {"12.3ms"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := drawTable(&b, tc.header, tc.rows); err != nil {
				t.Fatal(err)
			}
			header, rows := parseTable(bytesLines(b.String()))
			if got := renderTable(header, rows); got != b.String() {
				t.Fatalf("drawTable:\n%s\nrenderTable of what it drew:\n%s", b.String(), got)
			}
		})
	}
}

func bytesLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := bytes.IndexByte([]byte(s), '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

func TestHumanBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {999, "999 B"}, {1000, "1.0 kB"}, {25300, "25 kB"}, {2_100_000, "2.1 MB"},
		{2 << 30, "2.1 GB"}, {987_654_321_000, "988 GB"},
	} {
		if got := humanBytes(tc.n); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ prefix, want string }{
		{"app/", "app0"}, {"a\xff", "b"}, {"\xff\xff", "\x00"}, {"", "\x00"},
	} {
		if got := prefixEnd(tc.prefix); got != tc.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}
