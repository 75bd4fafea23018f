package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The failpoints of a member (package internal/failpoint): goBuild builds
// the server with the failpoints tag, and start gives every member the
// address of its control API, a port of its own from freePort. The e2e
// tests do not import the server's packages, so the variable's name and
// the JSON shapes are written here again.

// failpointEnv names the address of a member's failpoint control API.
const failpointEnv = "CAIRN_FAILPOINT_ADDR"

// stallStateJSON is the state of the disk-stall failpoint.
type stallStateJSON struct {
	Armed     bool             `json:"armed"`
	Term      string           `json:"term"`
	Remaining int              `json:"remaining"`
	Waiting   int              `json:"waiting"`
	Hits      map[string]int64 `json:"hits"` // stalled writes per site: raft-log, raft-stable, state
}

// clockStateJSON is the state of the clock-jump failpoint.
type clockStateJSON struct {
	Offset   string `json:"offset"`
	OffsetNS int64  `json:"offset_ns"`
	Jumps    int64  `json:"jumps"`
}

// failpoint sends method (PUT arms with term, DELETE disarms, GET reads)
// to the member's failpoint name ("disk-stall", "clock-jump") and decodes
// the state it answers into v (when not nil).
func (m *member) failpoint(method, name, term string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+m.failpointAddr+"/"+name, strings.NewReader(term))
	if err != nil {
		return err
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: failpoint %s /%s %q: %w", m.name, method, name, term, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: failpoint %s /%s %q: %w", m.name, method, name, term, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: failpoint %s /%s %q: %s %s", m.name, method, name, term, resp.Status, bytes.TrimSpace(body))
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: failpoint %s /%s: %w in %s", m.name, method, name, err, body)
	}
	return nil
}

// mustFailpoint is failpoint that fails the test on an error, with a line
// in the member's log, so that its log shows when the fault began and
// ended.
func (m *member) mustFailpoint(method, name, term string, v any) {
	m.t.Helper()
	if err := m.failpoint(method, name, term, v); err != nil {
		m.t.Fatal(err)
	}
	m.logf("=== e2e: failpoint %s /%s %q at %s", method, name, term, time.Now().Format(time.RFC3339Nano))
}

// stallDisk makes every durable write of the member wait (until
// unstallDisk, which releases the writes waiting then).
func (m *member) stallDisk(d time.Duration) {
	m.t.Helper()
	m.mustFailpoint(http.MethodPut, "disk-stall", d.String(), nil)
}

// unstallDisk disarms the disk stall and returns how many writes it
// stalled since the member started, per site.
func (m *member) unstallDisk() map[string]int64 {
	m.t.Helper()
	var st stallStateJSON
	m.mustFailpoint(http.MethodDelete, "disk-stall", "", &st)
	return st.Hits
}

// jumpClock moves the member's clock (the one its lessor keeps deadlines
// with) by d, forward or backward, and returns its new offset from the
// system clock.
func (m *member) jumpClock(d time.Duration) time.Duration {
	m.t.Helper()
	term := d.String()
	if d > 0 {
		term = "+" + term
	}
	var st clockStateJSON
	m.mustFailpoint(http.MethodPut, "clock-jump", term, &st)
	return time.Duration(st.OffsetNS)
}
