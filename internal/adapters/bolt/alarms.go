package bolt

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/domain"
)

// The alarms are rows of alarmsBucket, created with the first alarm: the
// key is the member ID (8 bytes, big-endian) and the alarm type (1 byte),
// the value empty. They are few: the committed state holds a copy
// (state.alarms), which apply reads for every command and a write's
// pre-check reads without a transaction.
var alarmsBucket = []byte("alarms")

func alarmKey(a domain.Alarm) []byte {
	return append(binary.BigEndian.AppendUint64(nil, a.MemberID), byte(a.Type))
}

// readAlarms reads the alarms of a transaction, in key order (member ID,
// then type).
func readAlarms(tx *bbolt.Tx) ([]domain.Alarm, error) {
	b := tx.Bucket(alarmsBucket)
	if b == nil {
		return nil, nil
	}
	var out []domain.Alarm
	err := b.ForEach(func(k, _ []byte) error {
		if len(k) != 9 {
			return fmt.Errorf("%w: alarm key of %d bytes", errCorrupt, len(k))
		}
		out = append(out, domain.Alarm{MemberID: binary.BigEndian.Uint64(k), Type: domain.AlarmType(k[8])})
		return nil
	})
	return out, err
}

// Alarms returns the raised alarms, including the batch's own changes.
func (bt *batch) Alarms() []domain.Alarm { return bt.st.alarms }

// SetAlarm raises or clears alarms in the batch.
func (bt *batch) SetAlarm(r domain.AlarmRequest) error {
	b, err := bt.tx.CreateBucketIfNotExists(alarmsBucket)
	if err != nil {
		return fmt.Errorf("bolt: alarms bucket: %w", err)
	}
	next := slices.Clone(bt.st.alarms)
	if r.Activate {
		if slices.Contains(next, r.Alarm) {
			return nil
		}
		if err := b.Put(alarmKey(r.Alarm), nil); err != nil {
			return fmt.Errorf("bolt: raise alarm: %w", err)
		}
		next = append(next, r.Alarm)
	} else {
		kept := next[:0]
		for _, a := range next {
			if !r.Matches(a) {
				kept = append(kept, a)
				continue
			}
			if err := b.Delete(alarmKey(a)); err != nil {
				return fmt.Errorf("bolt: clear alarm: %w", err)
			}
		}
		if len(kept) == len(bt.st.alarms) {
			return nil
		}
		next = kept
	}
	slices.SortFunc(next, func(x, y domain.Alarm) int {
		return cmp.Or(cmp.Compare(x.MemberID, y.MemberID), cmp.Compare(x.Type, y.Type))
	})
	bt.st.alarms = next
	bt.dirty = true
	return nil
}

// Alarms returns the committed alarms.
func (b *Backend) Alarms() []domain.Alarm {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.cur.alarms
}
