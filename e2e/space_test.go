package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

type alarmsJSON struct {
	Alarms []struct {
		MemberID uint64 `json:"member_id"`
		Alarm    string `json:"alarm"`
	} `json:"alarms"`
}

// alarms returns the alarms m has applied, as "ID:TYPE" strings.
func alarms(m *member) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out alarmsJSON
	if err := m.getJSON(ctx, "/v1/maintenance/alarms?serializable=true", &out); err != nil {
		return nil, err
	}
	var as []string
	for _, a := range out.Alarms {
		as = append(as, fmt.Sprintf("%d:%s", a.MemberID, a.Alarm))
	}
	return as, nil
}

type sizeJSON struct {
	DBSize      int64 `json:"db_size"`
	DBSizeInUse int64 `json:"db_size_in_use"`
}

func dbSize(t *testing.T, m *member) sizeJSON {
	t.Helper()
	var st sizeJSON
	if err := m.getJSON(context.Background(), "/v1/status", &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestCluster_NoSpace is the "running out of space" recipe of the README on
// 3 processes with a 16 MiB quota: fill the store until writes answer 507;
// every member lists NOSPACE; reads and deletes still work; after delete,
// compact, defragment (every member) and disarm, writes work again and
// the store is smaller.
func TestCluster_NoSpace(t *testing.T) {
	t.Parallel()
	const quota = 16 << 20
	c := newCluster(t, 3, "--quota-backend-bytes", strconv.Itoa(quota))
	leader := c.leader()
	value := bytes.Repeat([]byte("x"), 8<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	n := 0
	var refused reply
	for ; ; n++ {
		if ctx.Err() != nil {
			t.Fatalf("no 507 after %d writes of %d bytes", n, len(value))
		}
		r, err := leader.put(ctx, []byte(fmt.Sprintf("space/%05d", n)), value, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.status == http.StatusInsufficientStorage {
			refused = r
			break
		}
		if r.status != http.StatusOK {
			t.Fatalf("put %d: %v", n, r)
		}
	}
	full := dbSize(t, leader)
	t.Logf("507 after %d writes of 8 KiB: db_size %d (quota %d): %s", n, full.DBSize, quota, refused.body)
	if refused.errorCode() != "space_exceeded" || !strings.Contains(string(refused.body), "DELETE /v1/maintenance/alarms") {
		t.Errorf("the refusal does not say space_exceeded and what to do: %v", refused)
	}
	for _, m := range c.members {
		waitFor(t, 10*time.Second, m.name+" to list NOSPACE", func() error {
			as, err := alarms(m)
			if err != nil {
				return err
			}
			if !strings.Contains(strings.Join(as, " "), "NOSPACE") {
				return fmt.Errorf("alarms %v", as)
			}
			return nil
		})
		// A write through any member is refused; a read is served.
		if r, err := m.put(ctx, []byte("space/more"), value, ""); err != nil || r.status != http.StatusInsufficientStorage {
			t.Errorf("put through %s under NOSPACE: %v %v, want 507", m.name, r, err)
		}
		if kv, err := m.getKV(ctx, []byte("space/00001"), ""); err != nil || kv.ModRevision == 0 {
			t.Errorf("read through %s under NOSPACE: %+v %v", m.name, kv, err)
		}
	}

	// The cure: delete, compact, defragment every member, disarm.
	r, err := leader.call(http.MethodDelete, "/v1/kv/space/?prefix=true", nil)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("delete under NOSPACE: %v %v", r, err)
	}
	var del struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
	}
	if err := json.Unmarshal(r.body, &del); err != nil {
		t.Fatal(err)
	}
	if r, err := leader.call(http.MethodPost, "/v1/compact", []byte(fmt.Sprintf(`{"revision":%d}`, del.Header.Revision))); err != nil || r.status != http.StatusOK {
		t.Fatalf("compact under NOSPACE: %v %v", r, err)
	}
	c.waitConverged(10 * time.Second)
	for _, m := range c.members {
		r, err := m.call(http.MethodPost, "/v1/maintenance/defragment", nil)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("defragment %s: %v %v", m.name, r, err)
		}
		t.Logf("defragment %s: %s", m.name, bytes.TrimSpace(r.body))
	}
	if r, err := leader.call(http.MethodDelete, "/v1/maintenance/alarms", nil); err != nil || r.status != http.StatusOK {
		t.Fatalf("disarm: %v %v", r, err)
	}
	putEventually(t, leader, "space/again", "v")
	after := dbSize(t, leader)
	t.Logf("db_size %d before the cure, %d after", full.DBSize, after.DBSize)
	if after.DBSize >= full.DBSize/2 {
		t.Errorf("db_size after delete, compact and defragment: %d, want well under %d", after.DBSize, full.DBSize)
	}
	// Each member lists what it has applied: a follower hears of the
	// disarm a heartbeat after the leader.
	for _, m := range c.members {
		waitFor(t, 5*time.Second, m.name+" to list no alarm", func() error {
			if as, err := alarms(m); err != nil || len(as) != 0 {
				return fmt.Errorf("alarms after the cure: %v %v", as, err)
			}
			return nil
		})
	}
}

// TestCluster_CorruptionDetected makes one follower store a value that is
// not what the leader wrote (the corrupt-store failpoint), and checks that
// the leader's corruption check finds it within one check interval and
// raises CORRUPT for it: every member lists the alarm, writes answer 503
// naming it, and the leader's log says which member differs.
func TestCluster_CorruptionDetected(t *testing.T) {
	t.Parallel()
	const interval = 2 * time.Second
	c := newCluster(t, 3, "--corrupt-check-interval", interval.String())
	leader := c.leader()
	bad := c.others(leader)[0]
	leader.mustPut([]byte("before"), []byte("v"))
	bad.mustFailpoint(http.MethodPut, "corrupt-store", "1", nil)
	corruptedAt := time.Now()
	leader.mustPut([]byte("victim"), []byte("what the leader wrote"))

	ms, err := members(leader)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d:CORRUPT", ms[bad.name].ID)
	took := waitFor(t, 3*interval, "the CORRUPT alarm for "+bad.name, func() error {
		as, err := alarms(leader)
		if err != nil {
			return err
		}
		if strings.Join(as, " ") != want {
			return fmt.Errorf("alarms %v", as)
		}
		return nil
	})
	t.Logf("CORRUPT raised for %s %v after its store diverged (check interval %v)", bad.name, time.Since(corruptedAt).Round(time.Millisecond), interval)
	if limit := interval + time.Second; took > limit {
		t.Errorf("detected after %v, want within one check interval (%v, and a second for the check itself)", took, interval)
	}
	for _, m := range c.members {
		waitFor(t, 5*time.Second, m.name+" to list the alarm", func() error {
			as, err := alarms(m)
			if err != nil || strings.Join(as, " ") != want {
				return fmt.Errorf("alarms %v %v", as, err)
			}
			return nil
		})
		r, err := m.put(context.Background(), []byte("refused"), []byte("v"), "")
		if err != nil || r.status != http.StatusServiceUnavailable || r.errorCode() != "corrupt" || !strings.Contains(string(r.body), strconv.FormatUint(ms[bad.name].ID, 10)) {
			t.Errorf("write through %s under CORRUPT: %v %v, want 503 corrupt naming %s", m.name, r, err, bad.name)
		}
	}
	log, err := os.ReadFile(leader.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte(`"member":"`+bad.name+`"`)) || !bytes.Contains(log, []byte("CORRUPT")) {
		t.Errorf("the leader's log does not name %s as the member that differs", bad.name)
	}
}
