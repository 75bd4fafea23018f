//go:build failpoints

package failpoint

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests share the process-wide state: they do not run in parallel.

func TestDiskStall(t *testing.T) {
	t.Run("Disarmed", func(t *testing.T) {
		stall.disarm()
		start := time.Now()
		DiskStall(SiteState)
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Fatalf("a disarmed stall took %v", d)
		}
	})
	t.Run("Count", func(t *testing.T) {
		defer stall.disarm()
		before := stall.state().Hits[SiteRaftLog]
		if err := stall.arm("2*30ms"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for range 4 {
			DiskStall(SiteRaftLog)
		}
		d := time.Since(start)
		if d < 60*time.Millisecond || d > time.Second {
			t.Fatalf("4 writes with 2*30ms armed took %v, want about 60ms", d)
		}
		st := stall.state()
		if st.Armed || st.Hits[SiteRaftLog]-before != 2 {
			t.Fatalf("after two counted stalls: %+v", st)
		}
	})
	t.Run("DisarmReleases", func(t *testing.T) {
		if err := stall.arm("1h"); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { DiskStall(SiteState); close(done) }()
		waitState(t, func() bool { return stall.state().Waiting == 1 })
		stall.disarm()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("a stalled write was not released by disarm")
		}
	})
	t.Run("ErrInvalidTerm", func(t *testing.T) {
		for _, term := range []string{"", "0s", "-1s", "x", "0*1s", "a*1s", "2*"} {
			if err := stall.arm(term); err == nil {
				t.Errorf("arm(%q) succeeded", term)
				stall.disarm()
			}
		}
	})
}

func TestClockJump(t *testing.T) {
	defer clock.reset()
	if _, err := clock.jump("+30s"); err != nil {
		t.Fatal(err)
	}
	if _, err := clock.jump("-45s"); err != nil {
		t.Fatal(err)
	}
	if got := ClockOffset(); got != -15*time.Second {
		t.Fatalf("offset %v, want -15s", got)
	}
	for _, term := range []string{"", "0s", "soon"} {
		if _, err := clock.jump(term); err == nil {
			t.Errorf("jump(%q) succeeded", term)
		}
	}
	clock.reset()
	if got := ClockOffset(); got != 0 {
		t.Fatalf("offset %v after reset, want 0", got)
	}
}

func TestServe(t *testing.T) {
	t.Run("ErrNotLoopback", func(t *testing.T) {
		for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:80", "127.0.0.1"} {
			if s, err := Serve(addr, nil); err == nil {
				s.Close()
				t.Errorf("Serve(%q) succeeded", addr)
			}
		}
	})
	t.Run("OK", func(t *testing.T) {
		var mu sync.Mutex
		var reports []string
		s, err := Serve("127.0.0.1:0", func(msg string) { mu.Lock(); reports = append(reports, msg); mu.Unlock() })
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		defer stall.disarm()
		defer clock.reset()
		base := "http://" + s.Addr()

		var st StallState
		call(t, http.MethodPut, base+"/disk-stall", "2s", http.StatusOK, &st)
		if !st.Armed || st.Term != "2s" || st.Remaining != -1 {
			t.Errorf("PUT /disk-stall 2s: %+v", st)
		}
		call(t, http.MethodPut, base+"/disk-stall", "forever", http.StatusBadRequest, nil)
		call(t, http.MethodDelete, base+"/disk-stall", "", http.StatusOK, &st)
		if st.Armed {
			t.Errorf("DELETE /disk-stall: %+v", st)
		}
		var cs ClockState
		call(t, http.MethodPut, base+"/clock-jump", "+30s", http.StatusOK, &cs)
		if cs.OffsetNS != int64(30*time.Second) || ClockOffset() != 30*time.Second {
			t.Errorf("PUT /clock-jump +30s: %+v", cs)
		}
		call(t, http.MethodGet, base+"/clock-jump", "", http.StatusOK, &cs)
		call(t, http.MethodDelete, base+"/clock-jump", "", http.StatusOK, &cs)
		if cs.OffsetNS != 0 {
			t.Errorf("DELETE /clock-jump: %+v", cs)
		}
		var all []json.RawMessage
		call(t, http.MethodGet, base+"/", "", http.StatusOK, &all)
		if len(all) != 2 {
			t.Errorf("GET /: %s", all)
		}
		call(t, http.MethodGet, base+"/nothing", "", http.StatusNotFound, nil)
		mu.Lock()
		defer mu.Unlock()
		if len(reports) != 4 {
			t.Errorf("reports %q, want 4", reports)
		}
	})
}

func call(t *testing.T, method, url, body string, want int, v any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s %q: %d %s, want %d", method, url, body, resp.StatusCode, data, want)
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, data)
		}
	}
}

func waitState(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
