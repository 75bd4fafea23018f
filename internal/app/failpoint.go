package app

import (
	"os"
	"time"

	"github.com/cairnkv/cairn/internal/failpoint"
	"github.com/cairnkv/cairn/internal/ports"
)

// newClock returns the clock of the member's own deadlines (the lessor's):
// the system clock, or, in a build with the failpoints tag, the system
// clock moved by the clock-jump failpoint. Without the tag the branch is
// compiled out.
func newClock() ports.Clock {
	if failpoint.Enabled {
		return jumpClock{}
	}
	return ports.SystemClock{}
}

// jumpClock is the system clock plus the clock-jump failpoint's offset:
// a jump moves the wall and monotonic readings of Now together, as a
// process pause seen from inside would. Timers run on the real clock; the
// lessor re-reads Now whenever one fires (at most every 500 ms).
type jumpClock struct{}

func (jumpClock) Now() time.Time { return time.Now().Add(failpoint.ClockOffset()) }

func (jumpClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// startFailpoints serves the failpoint control API on the address in
// CAIRN_FAILPOINT_ADDR, in a build with the failpoints tag only (see package
// failpoint); it returns nil when there is none to serve. The variable is
// read here rather than by LoadConfig: it is test machinery, not
// configuration, and a normal build ignores it.
func (a *App) startFailpoints() (*failpoint.Server, error) {
	if !failpoint.Enabled {
		return nil, nil
	}
	addr := os.Getenv(failpoint.EnvAddr)
	if addr == "" {
		return nil, nil
	}
	log := a.log.With().Str("component", "failpoint").Logger()
	srv, err := failpoint.Serve(addr, func(msg string) { log.Warn().Msg(msg) })
	if err != nil {
		return nil, err
	}
	log.Warn().Str("addr", srv.Addr()).Msg("failpoints enabled: a test build, never for production")
	return srv, nil
}
