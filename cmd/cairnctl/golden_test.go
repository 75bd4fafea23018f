package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// Golden files: testdata/NAME.golden holds, for each step of a test, the
// command line and what cairnctl printed, with what changes from run to
// run (ports, cluster and lease IDs, revisions, times, sizes) normalised.
// go test -run TestX -update rewrites them.

// step is one command of a golden test.
type step struct {
	args  []string
	stdin string
	// mask names the columns whose values change from run to run: by their
	// header in a table, by cols in -w simple's comma-separated rows.
	mask []string
	// cols names the columns of -w simple's comma-separated rows.
	cols []string
	// before, when set, runs first: to change the cluster, or wait for
	// it to settle.
	before func(t *testing.T)
}

// normalizer replaces what changes from run to run in an output.
type normalizer struct {
	exact []string // old, new, old, new, ...
	res   []rewrite
}

type rewrite struct {
	re   *regexp.Regexp
	repl string
}

// newNormalizer returns the normalizer of outputs of c: the members'
// URLs become <n1>, <n1-peer>, ... (see addMember); lease IDs and IDs in
// decimal <id>; SHA-256 sums <sha256>; health check times <took>.
func newNormalizer(c *cluster) *normalizer {
	n := &normalizer{}
	for _, m := range c.members {
		n.addMember(m)
	}
	n.rewrite(`\b[0-9a-f]{64}\b`, "<sha256>")
	// A lease ID (16 hex digits, as etcdctl prints them), or a lease or
	// member ID in decimal.
	n.rewrite(`\b([0-9a-f]{16}|[0-9]{12,17})\b`, "<id>")
	n.rewrite(`took = [0-9.]+(µs|ms|s)`, "took = <took>")
	n.rewrite(`^[0-9.]+(µs|ms|s)$`, "<took>")
	return n
}

// addMember replaces the URLs of m: <name>, <name-peer>, and their
// host:port alone <name-addr>, <name-peer-addr>.
func (n *normalizer) addMember(m *member) *normalizer {
	n.exact = append(n.exact, m.URL, "<"+m.name+">", m.PeerURL, "<"+m.name+"-peer>",
		strings.TrimPrefix(m.URL, "http://"), "<"+m.name+"-addr>", strings.TrimPrefix(m.PeerURL, "http://"), "<"+m.name+"-peer-addr>")
	return n
}

// replace adds an exact replacement.
func (n *normalizer) replace(old, new string) *normalizer {
	n.exact = append(n.exact, old, new)
	return n
}

// rewrite adds a regular expression replacement.
func (n *normalizer) rewrite(re, repl string) *normalizer {
	n.res = append(n.res, rewrite{regexp.MustCompile(re), repl})
	return n
}

// text normalises one line, or one cell of a table.
func (n *normalizer) text(s string) string {
	s = strings.NewReplacer(n.exact...).Replace(s)
	for _, r := range n.res {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

// output normalises an output: its lines, its tables cell by cell (then
// drawn again as tablewriter draws them), and the masked columns.
func (n *normalizer) output(s string, st step) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for i := 0; i < len(lines); {
		if strings.HasPrefix(lines[i], "+-") {
			j := i
			for j < len(lines) && (strings.HasPrefix(lines[j], "+") || strings.HasPrefix(lines[j], "|")) {
				j++
			}
			header, rows := parseTable(lines[i:j])
			for _, r := range rows {
				for c := range r {
					r[c] = n.text(r[c])
					if c < len(header) && slices.Contains(st.mask, header[c]) {
						r[c] = "*"
					}
				}
			}
			b.WriteString(renderTable(header, rows))
			i = j
			continue
		}
		line := lines[i]
		if len(st.cols) > 0 && strings.Count(line, ", ") == len(st.cols)-1 {
			cells := strings.Split(strings.TrimSuffix(line, "\n"), ", ")
			for c := range cells {
				cells[c] = n.text(cells[c])
				if slices.Contains(st.mask, st.cols[c]) {
					cells[c] = "*"
				}
			}
			line = strings.Join(cells, ", ") + "\n"
		} else {
			line = n.text(strings.TrimSuffix(line, "\n"))
			if strings.HasSuffix(lines[i], "\n") {
				line += "\n"
			}
		}
		b.WriteString(line)
		i++
	}
	return b.String()
}

// parseTable reads a table drawn by drawTable: its header and rows, the
// cells trimmed.
func parseTable(lines []string) (header []string, rows [][]string) {
	for _, l := range lines {
		l = strings.TrimSuffix(l, "\n")
		if !strings.HasPrefix(l, "|") {
			continue
		}
		parts := strings.Split(l, "|")
		cells := make([]string, 0, len(parts)-2)
		for _, p := range parts[1 : len(parts)-1] {
			cells = append(cells, strings.TrimSpace(p))
		}
		if header == nil {
			header = cells
			continue
		}
		rows = append(rows, cells)
	}
	return header, rows
}

// renderTable draws a table as drawTable's library does: borders of '-'
// and '+', the header centered (the odd space on the right), the cells on
// the left, a space of padding on each side.
func renderTable(header []string, rows [][]string) string {
	widths := make([]int, len(header))
	for c, h := range header {
		widths[c] = utf8.RuneCountInString(h)
		for _, r := range rows {
			widths[c] = max(widths[c], utf8.RuneCountInString(r[c]))
		}
	}
	var b strings.Builder
	border := func() {
		for _, w := range widths {
			b.WriteString("+" + strings.Repeat("-", w+2))
		}
		b.WriteString("+\n")
	}
	border()
	for c, h := range header {
		pad := widths[c] - utf8.RuneCountInString(h)
		b.WriteString("| " + strings.Repeat(" ", pad/2) + h + strings.Repeat(" ", pad-pad/2) + " ")
	}
	b.WriteString("|\n")
	border()
	for _, r := range rows {
		for c, cell := range r {
			b.WriteString("| " + cell + strings.Repeat(" ", widths[c]-utf8.RuneCountInString(cell)) + " ")
		}
		b.WriteString("|\n")
	}
	if len(rows) > 0 {
		border()
	}
	return b.String()
}

// golden runs the steps against c in order, normalises their outputs
// with n, and compares them with testdata/name.golden (or writes it with
// -update).
func golden(t *testing.T, c *cluster, n *normalizer, name string, steps []step) {
	t.Helper()
	var b strings.Builder
	for _, st := range steps {
		if st.before != nil {
			st.before(t)
		}
		r := c.inv(st.stdin, st.args...).run()
		fmt.Fprintf(&b, "$ cairnctl %s\n", n.text(quoteArgs(st.args)))
		if st.stdin != "" {
			fmt.Fprintf(&b, "(stdin: %q)\n", st.stdin)
		}
		b.WriteString(n.output(r.out, st))
		if r.err != "" {
			b.WriteString("[stderr]\n" + n.output(r.err, st))
		}
		if r.code != 0 {
			fmt.Fprintf(&b, "[exit status %d]\n", r.code)
		}
		b.WriteString("\n")
	}
	compareGolden(t, name, b.String())
}

// compareGolden compares got with testdata/name.golden, or writes it with
// -update.
func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n%s", path, diffLines(string(want), got))
	}
}

// diffLines shows the first lines where want and got differ.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// quoteArgs writes args as a shell would take them back.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
