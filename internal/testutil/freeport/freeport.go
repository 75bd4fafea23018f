// Package freeport hands out TCP ports of 127.0.0.1 to tests that must know a
// member's address before the member starts (peer URLs of a static cluster,
// a member that restarts on the same port).
//
// A port taken from the kernel with "127.0.0.1:0" and closed again is a race:
// it is drawn from the ephemeral range, which the client side of every
// outgoing connection on the machine draws from too, so it can be gone by the
// time the member binds it. This package avoids both kinds of collision:
//
//   - ports are drawn below the ephemeral range, where the kernel never picks
//     a port by itself;
//   - each port is reserved across processes with an exclusive, non-blocking
//     flock on a file in the system's temporary directory, held until the
//     process exits, so test binaries of different packages running at the
//     same time (go test ./... runs them in parallel) never share one.
package freeport

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// lowest is the lowest port handed out: above the well-known and most
// registered service ports.
const lowest = 15000

var state = struct {
	sync.Mutex
	locks map[int]*os.File // reserved ports; the files stay open until exit
}{locks: map[int]*os.File{}}

// Get returns a port of 127.0.0.1 that was free a moment ago and that no other
// caller in any process using this package will be given while this process
// lives.
func Get() (int, error) {
	lo, hi := lowest, ephemeralLow()-1
	if hi-lo < 1000 {
		lo, hi = 20000, 32000
	}
	// Without a usable lock directory (another user's, read-only) the
	// ports are still below the ephemeral range, only not fenced from other
	// test binaries.
	dir := filepath.Join(os.TempDir(), "cairn-test-ports")
	shared := os.MkdirAll(dir, 0o777) == nil && writable(dir)
	state.Lock()
	defer state.Unlock()
	for range 2000 {
		p := lo + rand.IntN(hi-lo+1)
		if _, mine := state.locks[p]; mine {
			continue
		}
		var f *os.File
		if shared {
			var ok bool
			if f, ok = reserve(dir, p); !ok {
				continue
			}
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			if f != nil {
				_ = f.Close() // something outside the scheme has it
			}
			continue
		}
		_ = ln.Close()
		state.locks[p] = f
		return p, nil
	}
	return 0, errors.New("freeport: no free port found on 127.0.0.1")
}

// MustGet is Get for test helpers that have no *testing.T at hand.
func MustGet() int {
	p, err := Get()
	if err != nil {
		panic(err)
	}
	return p
}

// writable reports whether files can be created in dir.
func writable(dir string) bool {
	f, err := os.CreateTemp(dir, "probe-")
	if err != nil {
		return false
	}
	_ = f.Close()
	_ = os.Remove(f.Name())
	return true
}

// reserve takes the cross-process lock of port p. The kernel drops the lock
// when the process exits, however it exits.
func reserve(dir string, p int) (*os.File, bool) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)+".lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, false
	}
	return f, true
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n <= lowest {
		return 32768
	}
	return n
}
