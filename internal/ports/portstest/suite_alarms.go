package portstest

import (
	"bytes"
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// testAlarms: alarms are raised and cleared in a batch, seen by the batch at
// once and by the backend after the commit, kept in order, raised once, and
// cleared by member, by type or all together; a snapshot carries them.
func (s suite) testAlarms(t *testing.T) {
	be := s.newBackend(t)
	if got := be.Alarms(); len(got) != 0 {
		t.Fatalf("fresh store: alarms %v", got)
	}
	noSpace2 := domain.Alarm{MemberID: 2, Type: domain.AlarmNoSpace}
	corrupt1 := domain.Alarm{MemberID: 1, Type: domain.AlarmCorrupt}
	noSpace1 := domain.Alarm{MemberID: 1, Type: domain.AlarmNoSpace}
	set := func(bt ports.Batch, r domain.AlarmRequest) {
		t.Helper()
		if err := bt.SetAlarm(r); err != nil {
			t.Fatalf("SetAlarm(%+v): %v", r, err)
		}
	}
	want := func(what string, got, want []domain.Alarm) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: alarms %v, want %v", what, got, want)
		}
	}
	batch(t, be, func(bt ports.Batch) {
		for _, a := range []domain.Alarm{noSpace2, corrupt1, noSpace1, noSpace2} {
			set(bt, domain.AlarmRequest{Activate: true, Alarm: a})
		}
		want("in the batch", bt.Alarms(), []domain.Alarm{noSpace1, corrupt1, noSpace2})
		want("committed, before the commit", be.Alarms(), nil)
	})
	want("after the commit", be.Alarms(), []domain.Alarm{noSpace1, corrupt1, noSpace2})

	snap, err := be.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	batch(t, be, func(bt ports.Batch) {
		set(bt, domain.AlarmRequest{Alarm: domain.Alarm{Type: domain.AlarmNoSpace}})
	})
	want("NOSPACE cleared", be.Alarms(), []domain.Alarm{corrupt1})
	batch(t, be, func(bt ports.Batch) {
		set(bt, domain.AlarmRequest{Alarm: domain.Alarm{MemberID: 7}}) // none of member 7
		set(bt, domain.AlarmRequest{})
	})
	want("all cleared", be.Alarms(), nil)

	if err := be.Restore(&buf); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	want("restored", be.Alarms(), []domain.Alarm{noSpace1, corrupt1, noSpace2})
}
