//go:build !failpoints

package failpoint

import (
	"errors"
	"time"
)

// Enabled reports whether the failpoints are compiled in (build tag
// failpoints).
const Enabled = false

// DiskStall waits while the disk-stall failpoint is armed; site names the
// write. Without the failpoints tag it does nothing and is inlined away.
func DiskStall(site string) {}

// ClockOffset returns how far the clock-jump failpoint has moved the
// member's clock: always 0 without the failpoints tag.
func ClockOffset() time.Duration { return 0 }

// CorruptValue returns v: without the failpoints tag nothing corrupts a
// value.
func CorruptValue(v []byte) []byte { return v }

// Server is the control API (none without the failpoints tag).
type Server struct{}

// Serve fails without the failpoints tag: there is no control API.
func Serve(addr string, report func(msg string)) (*Server, error) {
	return nil, errors.New("failpoint: not compiled in (build with -tags failpoints)")
}

// Addr returns "".
func (*Server) Addr() string { return "" }

// Close does nothing.
func (*Server) Close() error { return nil }
