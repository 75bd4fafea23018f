package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestKV_Golden(t *testing.T) {
	c := startCluster(t, 1, nil) // its own: it compacts, and deletes from a key on
	golden(t, c, newNormalizer(c), "kv", []step{
		{args: []string{"put", "kv/foo", "bar"}},
		{args: []string{"get", "kv/foo"}},
		{args: []string{"put", "kv/foo", "baz", "--prev-kv"}},
		{args: []string{"put", "kv/config/a", "1"}},
		{args: []string{"put", "kv/config/b", "2"}},
		{args: []string{"put", "kv/config/c"}, stdin: "from stdin\n"},
		{args: []string{"put", "--", "kv/dash", "-v"}},
		{args: []string{"get", "--prefix", "kv/config/"}},
		{args: []string{"get", "--prefix", "kv/config/", "--keys-only"}},
		{args: []string{"get", "--prefix", "kv/config/", "--print-value-only"}},
		{args: []string{"get", "--prefix", "kv/config/", "--count-only"}},
		{args: []string{"get", "--prefix", "kv/config/", "--sort-by=VALUE", "--order=DESCEND", "--keys-only"}},
		{args: []string{"get", "--prefix", "kv/config/", "--sort-by=create", "--keys-only"}},
		{args: []string{"get", "kv/config/a", "kv/config/c"}},
		{args: []string{"get", "--from-key", "kv/config/b", "--limit", "1"}},
		{args: []string{"get", "kv/missing"}},
		{args: []string{"get", "--consistency=s", "kv/foo"}},
		{args: []string{"-w", "table", "get", "kv/foo"}},
		{args: []string{"del", "kv/config/a"}},
		{args: []string{"del", "kv/nothing"}},
		{args: []string{"del", "--prefix", "--prev-kv", "kv/config/"}},
		{args: []string{"put", "~kv/a", "1"}}, // after every other test's keys
		{args: []string{"put", "~kv/b", "2"}},
		{args: []string{"del", "--from-key", "~kv/b"}},
		{args: []string{"del", "--prefix", "kv/"}},
		{args: []string{"compaction", "2"}},
		{args: []string{"compaction", "2"}},
		// Mistakes.
		{args: []string{"get"}},
		{args: []string{"get", "--prefix", "a", "b"}},
		{args: []string{"get", "--sort-by=SIZE", "a"}},
		{args: []string{"get", "--consistency=x", "a"}},
		{args: []string{"get", "--bogus", "a"}},
		{args: []string{"put", "a", "b", "c"}},
		{args: []string{"put", "--lease=xyz", "a", "b"}},
		{args: []string{"put", "--ignore-value", "a", "b"}},
		{args: []string{"compaction", "abc"}},
	})
}

// getJSON runs a get with -w json and decodes its answer.
func getJSON(t *testing.T, c *cluster, args ...string) (out struct {
	Header struct {
		ClusterID uint64 `json:"cluster_id"`
		MemberID  uint64 `json:"member_id"`
		Revision  int64  `json:"revision"`
		RaftTerm  uint64 `json:"raft_term"`
	} `json:"header"`
	Kvs []struct {
		Key            *string `json:"key"`
		KeyBase64      *string `json:"key_base64"`
		Value          *string `json:"value"`
		ValueBase64    *string `json:"value_base64"`
		CreateRevision int64   `json:"create_revision"`
		ModRevision    int64   `json:"mod_revision"`
		Version        int64   `json:"version"`
		Lease          int64   `json:"lease"`
	} `json:"kvs"`
	Count int64 `json:"count"`
	More  bool  `json:"more"`
}) {
	t.Helper()
	decode(t, c.mustCtl(t, append([]string{"-w", "json", "get"}, args...)...), &out)
	return out
}

// decode decodes the one JSON document of a -w json output.
func decode(t *testing.T, s string, v any) {
	t.Helper()
	if strings.Count(strings.TrimSpace(s), "\n") != 0 {
		t.Fatalf("-w json printed more than one line:\n%s", s)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("-w json printed %q: %v", s, err)
	}
}

func TestKV_JSON(t *testing.T) {
	c := sharedCluster(t)
	c.mustCtl(t, "del", "--prefix", "json/") // left by an earlier run (-count)
	var put struct {
		Header struct {
			Revision int64 `json:"revision"`
			MemberID uint64
		} `json:"header"`
		PrevKv *struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"prev_kv"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "put", "json/k", "v1"), &put)
	first := put.Header.Revision
	if first == 0 || put.PrevKv != nil {
		t.Fatalf("put: %+v", put)
	}
	decode(t, c.mustCtl(t, "-w", "json", "put", "--prev-kv", "json/k", "v2"), &put)
	if put.PrevKv == nil || put.PrevKv.Key != "json/k" || put.PrevKv.Value != "v1" || put.Header.Revision != first+1 {
		t.Fatalf("put --prev-kv: %+v", put)
	}

	t.Run("Get", func(t *testing.T) {
		g := getJSON(t, c, "json/k")
		if g.Count != 1 || len(g.Kvs) != 1 || *g.Kvs[0].Key != "json/k" || *g.Kvs[0].Value != "v2" ||
			g.Kvs[0].CreateRevision != first || g.Kvs[0].ModRevision != first+1 || g.Kvs[0].Version != 2 ||
			g.Header.ClusterID == 0 || g.Header.MemberID == 0 || g.Header.Revision < first+1 {
			t.Fatalf("get: %+v", g)
		}
		old := getJSON(t, c, "json/k", "--rev", strconv.FormatInt(first, 10))
		if len(old.Kvs) != 1 || *old.Kvs[0].Value != "v1" {
			t.Fatalf("get --rev %d: %+v", first, old)
		}
		keys := getJSON(t, c, "--prefix", "json/", "--keys-only")
		if len(keys.Kvs) != 1 || keys.Kvs[0].Value != nil {
			t.Fatalf("get --keys-only: %+v", keys)
		}
		count := getJSON(t, c, "--prefix", "json/", "--count-only")
		if count.Count != 1 || len(count.Kvs) != 0 {
			t.Fatalf("get --count-only: %+v", count)
		}
		missing := getJSON(t, c, "json/missing")
		if missing.Count != 0 || len(missing.Kvs) != 0 || missing.Header.Revision == 0 {
			t.Fatalf("get of a missing key: %+v", missing)
		}
	})
	t.Run("Binary", func(t *testing.T) {
		// Bytes that are not UTF-8 come as key_base64 and value_base64,
		// as the API writes them, and as they are with -w simple.
		c.mustCtl(t, "put", "json/bin\xff", "\x00\xfe")
		g := getJSON(t, c, "json/bin\xff")
		if len(g.Kvs) != 1 || g.Kvs[0].Key != nil || *g.Kvs[0].KeyBase64 != "anNvbi9iaW7/" || *g.Kvs[0].ValueBase64 != "AP4=" {
			t.Fatalf("get of a binary key: %+v", g)
		}
		if out := c.mustCtl(t, "get", "json/bin\xff"); out != "json/bin\xff\n\x00\xfe\n" {
			t.Fatalf("get -w simple of a binary key: %q", out)
		}
	})
	t.Run("Del", func(t *testing.T) {
		var del struct {
			Deleted int64 `json:"deleted"`
			PrevKvs []struct {
				Key   string `json:"key"`
				Value string `json:"value"`
			} `json:"prev_kvs"`
		}
		decode(t, c.mustCtl(t, "-w", "json", "del", "--prev-kv", "json/k"), &del)
		if del.Deleted != 1 || len(del.PrevKvs) != 1 || del.PrevKvs[0].Value != "v2" {
			t.Fatalf("del: %+v", del)
		}
	})
	t.Run("Compaction", func(t *testing.T) {
		var comp struct {
			Header   struct{ Revision int64 } `json:"header"`
			Revision int64                    `json:"revision"`
		}
		decode(t, c.mustCtl(t, "-w", "json", "compaction", strconv.FormatInt(first, 10)), &comp)
		if comp.Revision != first || comp.Header.Revision < first {
			t.Fatalf("compaction: %+v", comp)
		}
		r := c.ctl("get", "json/k", "--rev", strconv.FormatInt(first-1, 10))
		if r.code != exitError || !strings.Contains(r.err, "compacted") {
			t.Fatalf("get of a compacted revision: %s", r)
		}
	})
}

func TestTxn_Golden(t *testing.T) {
	c := sharedCluster(t)
	c.mustCtl(t, "del", "--prefix", "txn/") // left by an earlier run (-count)
	c.mustCtl(t, "put", "txn/counter", "1")
	c.mustCtl(t, "put", "txn/old", "x")
	golden(t, c, newNormalizer(c), "txn", []step{
		{args: []string{"txn"}, stdin: "val(\"txn/counter\") = \"1\"\n\nput txn/counter 2\nget txn/counter\n\nget txn/counter\n"},
		{args: []string{"txn", "--interactive=false"}, stdin: "val(\"txn/counter\") = \"1\"\n\nput txn/counter 3\n\nget txn/counter\ndel txn/none\n"},
		{args: []string{"txn", "-i"}, stdin: "ver(\"txn/counter\") > \"0\"\nmod(txn/counter) > 0\nc(\"txn/counter\") != \"0\"\nlease(\"txn/counter\") = \"0\"\n\nput txn/other 'single quoted'\nput --prev-kv txn/counter \"4\\n\"\ndel --prev-kv txn/old\n\n"},
		{args: []string{"txn"}, stdin: "\nget --prefix txn/\n"},
		{args: []string{"-w", "table", "txn"}, stdin: "\n\n"},
		{args: []string{"txn"}, stdin: "bad(\"a\") = \"1\"\n\n\n"},
		{args: []string{"txn"}, stdin: "val(\"a\") ~ \"1\"\n\n\n"},
		{args: []string{"txn"}, stdin: "\nfrobnicate a\n\n"},
		{args: []string{"txn"}, stdin: "\nput a\n\n"},
		{args: []string{"txn"}, stdin: "\nput \"unclosed\n\n"},
		{args: []string{"txn", "extra"}},
	})
}

func TestTxn_JSON(t *testing.T) {
	c := sharedCluster(t)
	c.mustCtl(t, "put", "txnjson/k", "1")
	var out struct {
		Header    struct{ Revision int64 } `json:"header"`
		Succeeded bool                     `json:"succeeded"`
		Responses []map[string]json.RawMessage
	}
	decode(t, c.inv("mod(\"txnjson/k\") > \"0\"\n\nput txnjson/k 2\nget txnjson/k\ndel txnjson/x\n\n", "-w", "json", "txn").run().out, &out)
	if !out.Succeeded || len(out.Responses) != 3 || out.Responses[0]["put"] == nil ||
		out.Responses[1]["get"] == nil || out.Responses[2]["delete"] == nil {
		t.Fatalf("txn: %+v", out)
	}
	var get struct {
		Kvs []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"kvs"`
		Count int64 `json:"count"`
	}
	if err := json.Unmarshal(out.Responses[1]["get"], &get); err != nil || get.Count != 1 || get.Kvs[0].Value != "2" {
		t.Fatalf("txn's get: %s, %v", out.Responses[1]["get"], err)
	}
}

func TestArgify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{in: `put a b`, want: []string{"put", "a", "b"}},
		{in: `put "a b" 'c "d'`, want: []string{"put", "a b", `c "d`}},
		{in: `put k "\x00\n\"q\""`, want: []string{"put", "k", "\x00\n\"q\""}},
		{in: `"key") > "0"`, want: []string{"key", ")", ">", "0"}},
		{in: "  put\ta  ", want: []string{"put", "a"}},
		{in: `put "open`, err: true},
		{in: `put 'open`, err: true},
		{in: `   `, err: true},
	} {
		got, err := argify(tc.in)
		if (err != nil) != tc.err || strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("argify(%q) = %q, %v; want %q (error: %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}
