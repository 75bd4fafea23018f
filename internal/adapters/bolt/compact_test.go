package bolt_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/internal/ports"
)

// TestBackend_CompactFreesPages overwrites the same keys round after round
// and compacts each time: bbolt reuses the freed pages, so the file stops
// growing after the first rounds.
func TestBackend_CompactFreesPages(t *testing.T) {
	be := open(t)
	value := bytes.Repeat([]byte("v"), 4096)
	var early int64
	for round := range 30 {
		commit(t, be, func(b ports.Batch) error {
			for k := range 200 {
				if err := b.Put(fmt.Appendf(nil, "key/%03d", k), value, 0); err != nil {
					return err
				}
				b.EndRevision()
			}
			return nil
		})
		commit(t, be, func(b ports.Batch) error { return b.Compact(b.Rev()) })
		if round == 3 {
			early = be.Stats().DBSize
		}
	}
	st := be.Stats()
	t.Logf("file after 4 rounds %d bytes, after 30 rounds %d (in use %d)", early, st.DBSize, st.DBSizeInUse)
	if st.DBSize > early*3/2 {
		t.Errorf("file grew from %d to %d bytes though every round was compacted", early, st.DBSize)
	}
	if st.DBSizeInUse > st.DBSize || st.DBSizeInUse < 200*4096 {
		t.Errorf("DBSizeInUse = %d of %d", st.DBSizeInUse, st.DBSize)
	}
}
