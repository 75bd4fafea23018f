//go:build failpoints

package failpoint

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// corrupt is the state of the corrupt-store failpoint.
var corrupt corruptStore

type corruptStore struct {
	armed atomic.Bool
	mu    sync.Mutex
	left  int   // values still to corrupt
	hits  int64 // values corrupted since the start
}

// CorruptValue returns v, or, while the corrupt-store failpoint is armed, a
// copy of v with its bits flipped: the value this member's store keeps for
// a put then differs from the other members', as a disk that lies or a bug
// in apply would make it. A disarmed failpoint costs one atomic load.
func CorruptValue(v []byte) []byte {
	if !corrupt.armed.Load() {
		return v
	}
	corrupt.mu.Lock()
	defer corrupt.mu.Unlock()
	if corrupt.left == 0 {
		return v
	}
	if corrupt.left--; corrupt.left == 0 {
		corrupt.armed.Store(false)
	}
	corrupt.hits++
	out := make([]byte, len(v)+1)
	for i, b := range v {
		out[i] = ^b
	}
	out[len(v)] = '!' // an empty value differs too
	return out
}

func (c *corruptStore) arm(term string) error {
	n, err := strconv.Atoi(strings.TrimSpace(term))
	if err != nil || n <= 0 {
		return fmt.Errorf("corrupt-store: %q: want the number of values to corrupt (\"1\")", term)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.left = n
	c.armed.Store(true)
	return nil
}

func (c *corruptStore) disarm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.left = 0
	c.armed.Store(false)
}

// CorruptState is the state of the corrupt-store failpoint, as GET
// answers it.
type CorruptState struct {
	Name  string `json:"name"`
	Armed bool   `json:"armed"`
	Left  int    `json:"left"` // values still to corrupt
	Hits  int64  `json:"hits"` // values corrupted since the start
}

func (c *corruptStore) state() CorruptState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CorruptState{Name: "corrupt-store", Armed: c.armed.Load(), Left: c.left, Hits: c.hits}
}
