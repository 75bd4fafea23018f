package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// grant grants a lease with cairnctl and returns its ID as cairnctl
// prints it (hexadecimal).
func grant(t *testing.T, c *cluster, ttl int) string {
	t.Helper()
	var out struct {
		ID  int64 `json:"id"`
		TTL int64 `json:"ttl"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "lease", "grant", strconv.Itoa(ttl)), &out)
	if out.ID <= 0 || out.TTL < int64(ttl) {
		t.Fatalf("lease grant %d: %+v", ttl, out)
	}
	return fmt.Sprintf("%016x", out.ID)
}

func TestLease_Golden(t *testing.T) {
	c := startCluster(t, 1, nil) // its own: lease list shows every lease
	n := newNormalizer(c).rewrite(`remaining\(\d+s\)`, "remaining(<n>s)")
	id := grant(t, c, 60)
	c.mustCtl(t, "put", "--lease", id, "svc/a", "10.0.0.1")
	c.mustCtl(t, "put", "--lease", id, "svc/b", "10.0.0.2")
	golden(t, c, n, "lease", []step{
		{args: []string{"lease", "list"}},
		{args: []string{"-w", "table", "lease", "list"}},
		{args: []string{"lease", "grant", "100"}},
		{args: []string{"lease", "timetolive", id}},
		{args: []string{"lease", "timetolive", id, "--keys"}},
		{args: []string{"lease", "keep-alive", "--once", id}},
		{args: []string{"put", "svc/a", "new", "--ignore-lease"}},
		{args: []string{"get", "--prefix", "svc/"}},
		{args: []string{"lease", "revoke", id}},
		{args: []string{"get", "--prefix", "svc/"}},
		{args: []string{"lease", "timetolive", id}},
		{args: []string{"lease", "revoke", id}},
		{args: []string{"lease", "keep-alive", "--once", id}},
		{args: []string{"put", "--lease", id, "svc/c", "x"}},
		{args: []string{"lease", "grant", "-5"}},
		{args: []string{"lease", "revoke", "not-hex"}},
		{args: []string{"lease"}},
		{args: []string{"lease", "frobnicate"}},
	})
}

func TestLease_JSON(t *testing.T) {
	c := sharedCluster(t)
	id := grant(t, c, 60)
	c.mustCtl(t, "put", "--lease", id, "leasejson/k", "v")
	dec, _ := strconv.ParseInt(id, 16, 64)
	var ttl struct {
		ID         int64    `json:"id"`
		TTL        int64    `json:"ttl"`
		GrantedTTL int64    `json:"granted_ttl"`
		Keys       []string `json:"keys"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "lease", "timetolive", "--keys", id), &ttl)
	if ttl.ID != dec || ttl.GrantedTTL != 60 || ttl.TTL <= 0 || ttl.TTL > 60 || len(ttl.Keys) != 1 || ttl.Keys[0] != "leasejson/k" {
		t.Fatalf("timetolive: %+v", ttl)
	}
	var list struct {
		Leases []struct {
			ID  int64 `json:"id"`
			TTL int64 `json:"ttl"`
		} `json:"leases"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "lease", "list"), &list)
	found := false
	for _, l := range list.Leases {
		found = found || (l.ID == dec && l.TTL == 60)
	}
	if !found {
		t.Fatalf("lease list does not have %d: %+v", dec, list)
	}
	var ka struct {
		ID  int64 `json:"id"`
		TTL int64 `json:"ttl"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "lease", "keep-alive", "--once", id), &ka)
	if ka.ID != dec || ka.TTL != 60 {
		t.Fatalf("keep-alive --once: %+v", ka)
	}
	var get struct {
		Kvs []struct {
			Lease int64 `json:"lease"`
		} `json:"kvs"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "get", "leasejson/k"), &get)
	if len(get.Kvs) != 1 || get.Kvs[0].Lease != dec {
		t.Fatalf("the key's lease: %+v, want %d", get, dec)
	}
	c.mustCtl(t, "lease", "revoke", id)
}

// TestLease_KeepAlive: keep-alive renews the lease until interrupted, and
// ends by itself, saying so, when the lease is revoked.
func TestLease_KeepAlive(t *testing.T) {
	c := sharedCluster(t)
	t.Run("Interrupted", func(t *testing.T) {
		id := grant(t, c, 3)
		out, _, stop := c.inv("", "lease", "keep-alive", id).start()
		waitFor(t, 10*time.Second, "two renewals", func() bool {
			return strings.Count(out.String(), "keepalived with TTL(3)") >= 2
		})
		r := stop()
		if r.code != 0 || !strings.HasPrefix(r.out, "lease "+id+" keepalived with TTL(3)\n") || r.err != "" {
			t.Fatalf("keep-alive, interrupted: %s", r)
		}
		c.mustCtl(t, "lease", "revoke", id)
	})
	t.Run("Revoked", func(t *testing.T) {
		id := grant(t, c, 3)
		out, _, stop := c.inv("", "lease", "keep-alive", id).start()
		waitFor(t, 10*time.Second, "a renewal", func() bool { return strings.Contains(out.String(), "keepalived") })
		c.mustCtl(t, "lease", "revoke", id)
		waitFor(t, 10*time.Second, "keep-alive to see the lease gone", func() bool {
			return strings.Contains(out.String(), "lease "+id+" expired or revoked.\n")
		})
		if r := stop(); r.code != 0 {
			t.Fatalf("keep-alive of a revoked lease: %s", r)
		}
	})
	t.Run("JSONLines", func(t *testing.T) {
		id := grant(t, c, 3)
		out, _, stop := c.inv("", "-w", "json", "lease", "keep-alive", id).start()
		waitFor(t, 10*time.Second, "two renewals", func() bool { return strings.Count(out.String(), "\n") >= 2 })
		r := stop()
		for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
			var ka struct {
				TTL int64 `json:"ttl"`
			}
			decode(t, line, &ka)
			if ka.TTL != 3 {
				t.Fatalf("keep-alive -w json line %q", line)
			}
		}
		c.mustCtl(t, "lease", "revoke", id)
	})
}
