package main

import (
	"testing"
	"time"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/internal/app"
)

// TestAlarm_Golden: a member with a quota of 1 byte raises NOSPACE at
// once; alarm list shows it, endpoint health and status report it, a put
// is refused, and alarm disarm clears it (until the member raises it
// again).
func TestAlarm_Golden(t *testing.T) {
	c := startCluster(t, 1, func(cfg *app.Config) { cfg.QuotaBackendBytes = 1 })
	cl := newClient(t, c)
	raised := func(t *testing.T) {
		waitFor(t, 10*time.Second, "NOSPACE", func() bool {
			resp, err := cl.AlarmList(t.Context())
			return err == nil && len(resp.Alarms) == 1 && resp.Alarms[0].Alarm == client.AlarmNoSpace
		})
	}
	golden(t, c, newNormalizer(c), "alarm", []step{
		{args: []string{"alarm", "list"}, before: raised},
		{args: []string{"-w", "table", "alarm", "list"}},
		{args: []string{"endpoint", "health"}},
		{args: []string{"endpoint", "status"}, cols: statusCols, mask: statusMask},
		{args: []string{"put", "k", "v"}},
		{args: []string{"get", "k"}},
		{args: []string{"alarm", "disarm"}},
		{args: []string{"-w", "table", "alarm", "disarm"}, before: raised},
		{args: []string{"alarm", "list", "extra"}},
	})
	var list struct {
		Alarms []struct {
			MemberID uint64 `json:"member_id"`
			Alarm    string `json:"alarm"`
		} `json:"alarms"`
	}
	raised(t)
	decode(t, c.mustCtl(t, "-w", "json", "alarm", "list"), &list)
	if len(list.Alarms) != 1 || list.Alarms[0].Alarm != "NOSPACE" || list.Alarms[0].MemberID == 0 {
		t.Fatalf("alarm list -w json: %+v", list)
	}
	decode(t, c.mustCtl(t, "-w", "json", "alarm", "disarm"), &list)
	if len(list.Alarms) != 1 || list.Alarms[0].Alarm != "NOSPACE" {
		t.Fatalf("alarm disarm -w json (the alarms cleared): %+v", list)
	}
}
