package portstest

import (
	"cmp"
	"slices"

	"github.com/cairnkv/cairn/internal/domain"
)

// Alarms returns the committed alarms.
func (b *Backend) Alarms() []domain.Alarm {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st.Alarms
}

// Alarms returns the alarms, including the batch's own changes.
func (bt *fakeBatch) Alarms() []domain.Alarm { return bt.st.Alarms }

// SetAlarm raises or clears alarms on the batch's copy.
func (bt *fakeBatch) SetAlarm(r domain.AlarmRequest) error {
	if bt.done {
		return errBatchDone
	}
	var next []domain.Alarm
	if r.Activate {
		if slices.Contains(bt.st.Alarms, r.Alarm) {
			return nil
		}
		next = append(slices.Clone(bt.st.Alarms), r.Alarm)
	} else {
		for _, a := range bt.st.Alarms {
			if !r.Matches(a) {
				next = append(next, a)
			}
		}
	}
	slices.SortFunc(next, func(x, y domain.Alarm) int {
		return cmp.Or(cmp.Compare(x.MemberID, y.MemberID), cmp.Compare(x.Type, y.Type))
	})
	bt.st.Alarms = next
	return nil
}
