package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// watchUntil runs a watch, then the writes, waits until the watch printed
// want, and interrupts it. A watch without --rev starts after the
// revision current when it opens: wait until it is open (opened tells)
// before writing.
func watchUntil(t *testing.T, c *cluster, args []string, opened func() bool, writes [][]string, want string) result {
	t.Helper()
	out, _, stop := c.inv("", args...).start()
	if opened != nil {
		waitFor(t, 10*time.Second, "the watch to open", opened)
	}
	for _, w := range writes {
		c.mustCtl(t, w...)
	}
	waitFor(t, 10*time.Second, "the watch to print "+strconv.Quote(want), func() bool { return strings.Contains(out.String(), want) })
	return stop()
}

// streams returns the number of open watch streams on the member at url,
// from its metrics.
func streams(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "cairn_watch_streams "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metrics: %q", line)
			}
			return int(n)
		}
	}
	return 0
}

// revision returns the cluster's current revision.
func revision(t *testing.T, c *cluster) int64 {
	t.Helper()
	return getJSON(t, c, "--count-only", "--prefix", "").Header.Revision
}

func TestWatch(t *testing.T) {
	c := startCluster(t, 1, nil) // its own: the watchers are counted
	writes := [][]string{{"put", "w/a", "1"}, {"put", "w/a", "2"}, {"del", "w/a"}, {"put", "other", "x"}, {"put", "w/b", "end"}}

	t.Run("Simple", func(t *testing.T) {
		opened := func() bool { return streams(t, c.members[0].URL) > 0 }
		r := watchUntil(t, c, []string{"watch", "--prefix", "w/"}, opened, writes, "w/b\nend\n")
		want := "PUT\nw/a\n1\nPUT\nw/a\n2\nDELETE\nw/a\n\nPUT\nw/b\nend\n"
		if r.code != 0 || r.out != want {
			t.Fatalf("watch: %s\nwant stdout %q", r, want)
		}
	})
	t.Run("PrevKVAndRev", func(t *testing.T) {
		// From revision 2 (the first put of Simple): the history again.
		r := watchUntil(t, c, []string{"watch", "--rev", "2", "--prev-kv", "w/a"}, nil, nil, "DELETE\n")
		want := "PUT\nw/a\n1\nPUT\nw/a\n1\nw/a\n2\nDELETE\nw/a\n2\nw/a\n\n"
		if r.code != 0 || r.out != want {
			t.Fatalf("watch --rev 2 --prev-kv: %s\nwant stdout %q", r, want)
		}
	})
	t.Run("Range", func(t *testing.T) {
		r := watchUntil(t, c, []string{"watch", "--rev", "2", "w/", "w/b"}, nil, nil, "DELETE\n")
		if r.code != 0 || strings.Contains(r.out, "w/b") || !strings.HasPrefix(r.out, "PUT\nw/a\n1\n") {
			t.Fatalf("watch of [w/, w/b): %s", r)
		}
	})
	t.Run("JSON", func(t *testing.T) {
		r := watchUntil(t, c, []string{"-w", "json", "watch", "--rev", "2", "--prefix", "w/"}, nil, nil, `"end"`)
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		if len(lines) != 4 {
			t.Fatalf("watch -w json: %d lines, want one per revision:\n%s", len(lines), r.out)
		}
		var last struct {
			Header struct {
				Revision int64 `json:"revision"`
			} `json:"header"`
			Events []struct {
				Type string `json:"type"`
				Kv   struct {
					Key         string `json:"key"`
					Value       string `json:"value"`
					ModRevision int64  `json:"mod_revision"`
				} `json:"kv"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(lines[3]), &last); err != nil {
			t.Fatal(err)
		}
		if len(last.Events) != 1 || last.Events[0].Type != "PUT" || last.Events[0].Kv.Key != "w/b" ||
			last.Events[0].Kv.Value != "end" || last.Events[0].Kv.ModRevision != last.Header.Revision {
			t.Fatalf("the last line: %+v", last)
		}
	})
	t.Run("Command", func(t *testing.T) {
		cmd := `echo "$CAIRN_WATCH_EVENT_TYPE $CAIRN_WATCH_KEY=$CAIRN_WATCH_VALUE@$CAIRN_WATCH_REVISION $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE $ETCD_WATCH_REVISION"`
		r := watchUntil(t, c, []string{"watch", "--rev", "2", "--prefix", "w/", "--", "sh", "-c", cmd}, nil, nil, "w/b=end")
		want := "PUT\nw/a\n1\n" + `PUT w/a=1@2 "PUT" "w/a" "1" 2` + "\n" +
			"PUT\nw/a\n2\n" + `PUT w/a=2@3 "PUT" "w/a" "2" 3` + "\n" +
			"DELETE\nw/a\n\n" + `DELETE w/a=@4 "DELETE" "w/a" "" 4` + "\n" +
			"PUT\nw/b\nend\n" + `PUT w/b=end@6 "PUT" "w/b" "end" 6` + "\n"
		if r.code != 0 || r.out != want {
			t.Fatalf("watch -- command: %s\nwant stdout %q", r, want)
		}
	})
	t.Run("NULBytes", func(t *testing.T) {
		from := strconv.FormatInt(revision(t, c)+1, 10)
		r := watchUntil(t, c, []string{"watch", "--rev", from, "nul/k", "--", "sh", "-c", `echo "[$CAIRN_WATCH_VALUE] [$CAIRN_WATCH_VALUE_BASE64]"`},
			nil, [][]string{{"put", "nul/k", "a\x00b"}}, "]\n")
		if !strings.HasSuffix(r.out, "[] [YQBi]\n") {
			t.Fatalf("watch of a value with a NUL byte: %s", r)
		}
	})
	t.Run("CommandFails", func(t *testing.T) {
		r := c.inv("", "watch", "--rev", "2", "w/a", "--", "false").run()
		if r.code != exitError || !strings.Contains(r.err, `the command ["false"] failed`) || r.out != "PUT\nw/a\n1\n" {
			t.Fatalf("watch with a failing command: %s", r)
		}
	})
	t.Run("Compacted", func(t *testing.T) {
		c.mustCtl(t, "compaction", "4")
		r := c.inv("", "watch", "--rev", "2", "w/a").run()
		if r.code != exitError || !strings.Contains(r.err, "compacted") {
			t.Fatalf("watch of a compacted revision: %s", r)
		}
	})
	t.Run("Mistakes", func(t *testing.T) {
		for _, args := range [][]string{{"watch"}, {"watch", "a", "--"}, {"watch", "--prefix", "a", "b"}} {
			if r := c.inv("", args...).run(); r.code != exitBadArgs {
				t.Errorf("cairnctl %q: %s, want exit status %d", args, r, exitBadArgs)
			}
		}
	})
}
