package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestElect: a candidate leads and prints the leader; a listener prints
// it; a second candidate waits, and leads when the first is interrupted
// (and resigns); the listener prints the new leader.
func TestElect(t *testing.T) {
	c := sharedCluster(t)
	leader := regexp.MustCompile(`^elect/e1/[0-9a-f]+\n`)

	first, _, stopFirst := c.inv("", "elect", "elect/e1", "p1").start()
	waitFor(t, 10*time.Second, "the first candidate to lead", func() bool { return strings.Contains(first.String(), "\np1\n") })
	if !leader.MatchString(first.String()) {
		t.Fatalf("elect printed %q, want the leader key, then p1", first.String())
	}

	listen, _, stopListen := c.inv("", "elect", "--listen", "elect/e1").start()
	waitFor(t, 10*time.Second, "the listener to print p1", func() bool { return strings.Contains(listen.String(), "\np1\n") })

	second, _, stopSecond := c.inv("", "-w", "json", "elect", "elect/e1", "p2").start()
	if r := stopFirst(); r.code != 0 || r.err != "" {
		t.Fatalf("the first candidate, interrupted: %s", r)
	}
	waitFor(t, 10*time.Second, "the second candidate to lead", func() bool { return strings.Contains(second.String(), "\n") })
	var lj struct {
		Kv struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"kv"`
	}
	decode(t, second.String(), &lj)
	if !strings.HasPrefix(lj.Kv.Key, "elect/e1/") || lj.Kv.Value != "p2" {
		t.Fatalf("elect -w json: %+v", lj)
	}
	waitFor(t, 10*time.Second, "the listener to print p2", func() bool { return strings.Contains(listen.String(), "\np2\n") })
	if r := stopSecond(); r.code != 0 {
		t.Fatalf("the second candidate: %s", r)
	}
	r := stopListen()
	if r.code != 0 || !regexp.MustCompile(`^elect/e1/[0-9a-f]+\np1\nelect/e1/[0-9a-f]+\np2\n$`).MatchString(r.out) {
		t.Fatalf("elect --listen: %s", r)
	}
}

func TestElect_Golden(t *testing.T) {
	c := sharedCluster(t)
	golden(t, c, newNormalizer(c), "elect", []step{
		{args: []string{"elect", "only-name"}},
		{args: []string{"elect", "--listen", "name", "proposal"}},
		{args: []string{"elect", "--ttl", "-1", "name", "p"}},
	})
}
