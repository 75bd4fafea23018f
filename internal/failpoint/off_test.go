//go:build !failpoints

package failpoint

import "testing"

// TestOff checks that a build without the failpoints tag has no failpoint:
// no control API, no stall, no clock offset.
func TestOff(t *testing.T) {
	if Enabled {
		t.Fatal("Enabled without the failpoints tag")
	}
	if s, err := Serve("127.0.0.1:0", nil); err == nil {
		s.Close()
		t.Fatal("Serve succeeded without the failpoints tag")
	}
	DiskStall(SiteState)
	if ClockOffset() != 0 {
		t.Fatal("a clock offset without the failpoints tag")
	}
}
