package domain

import (
	"errors"
	"fmt"
	"strings"
)

// AlarmType is what an alarm says of a member. Values are part of the Raft
// log and of the store: never reuse or renumber one.
type AlarmType uint8

const (
	// AlarmNoSpace: the member's store passed its quota. While it is
	// raised, writes that can grow a store are refused (ErrNoSpace); reads,
	// deletes, compaction, defragmentation and lease revokes go on.
	AlarmNoSpace AlarmType = 1
	// AlarmCorrupt: the member's store differs from the others' at the same
	// revision. While it is raised, writes are refused (ErrCorrupt).
	AlarmCorrupt AlarmType = 2
)

// String returns the alarm's name as the API shows it.
func (t AlarmType) String() string {
	switch t {
	case AlarmNoSpace:
		return "NOSPACE"
	case AlarmCorrupt:
		return "CORRUPT"
	}
	return fmt.Sprintf("ALARM_%d", uint8(t))
}

// ParseAlarmType reads an alarm's name (NOSPACE, CORRUPT; any case).
func ParseAlarmType(s string) (AlarmType, error) {
	switch strings.ToUpper(s) {
	case "NOSPACE":
		return AlarmNoSpace, nil
	case "CORRUPT":
		return AlarmCorrupt, nil
	}
	return 0, InvalidArgument("alarm %q: not NOSPACE or CORRUPT", s)
}

// Alarm is raised for one member. Alarms are replicated: every member
// holds the same set, in its store, so that they survive restarts.
type Alarm struct {
	MemberID uint64
	Type     AlarmType
}

// AlarmRequest raises (Activate) or clears alarms. Clearing with a zero
// MemberID clears the alarms of Type of every member; with a zero Type too,
// every alarm.
type AlarmRequest struct {
	Activate bool
	Alarm    Alarm
}

// Validate checks an alarm request before it is proposed and when it is
// applied.
func (r *AlarmRequest) Validate() error {
	if r.Activate && (r.Alarm.MemberID == 0 || (r.Alarm.Type != AlarmNoSpace && r.Alarm.Type != AlarmCorrupt)) {
		return InvalidArgument("an alarm is raised for a member, as NOSPACE or CORRUPT")
	}
	return nil
}

// Matches reports whether a clearing request r covers the alarm a.
func (r *AlarmRequest) Matches(a Alarm) bool {
	return (r.Alarm.MemberID == 0 || r.Alarm.MemberID == a.MemberID) && (r.Alarm.Type == 0 || r.Alarm.Type == a.Type)
}

// ErrNoSpace: a NOSPACE alarm is raised and the write could grow the
// store. A *NoSpaceError says what to do.
var ErrNoSpace = errors.New("space exceeded")

// ErrCorrupt: a CORRUPT alarm is raised: writes are refused until an
// operator acts. A *CorruptError names the members.
var ErrCorrupt = errors.New("corrupt")

// AlarmError is the refusal of a write while an alarm is raised: it names
// the members the alarm is raised for, and says what to do.
type AlarmError struct {
	Type    AlarmType
	Members []uint64
}

func (e *AlarmError) Error() string {
	ids := make([]string, len(e.Members))
	for i, id := range e.Members {
		ids[i] = fmt.Sprint(id)
	}
	who, differ, them := "the store of member "+ids[0], "differs", "it"
	if len(ids) > 1 {
		who, differ, them = "the stores of members "+strings.Join(ids, ", "), "differ", "them"
	}
	switch e.Type {
	case AlarmNoSpace:
		return who + " passed the quota (--quota-backend-bytes): writes that add data are refused until space is freed " +
			"(delete keys, compact, defragment: POST /v1/compact, POST /v1/maintenance/defragment on each member) and the alarm is cleared (DELETE /v1/maintenance/alarms)"
	default:
		return who + " " + differ + " from the other members' (CORRUPT alarm): writes are refused until an operator replaces " + them + " " +
			"(remove the member, add a fresh one) and clears the alarm (DELETE /v1/maintenance/alarms)"
	}
}

// Unwrap makes errors.Is see ErrNoSpace or ErrCorrupt.
func (e *AlarmError) Unwrap() error {
	if e.Type == AlarmNoSpace {
		return ErrNoSpace
	}
	return ErrCorrupt
}

// AlarmGate returns the error that refuses cmd under the raised alarms, or
// nil. It is part of the state machine (the alarms are replicated state):
// apply refuses the same commands on every member, and services check it
// before they propose, to fail fast.
//   - CORRUPT refuses what changes keys or grants leases: txns with a put
//     or a delete, lease grants.
//   - NOSPACE refuses what can grow the store: txns with a put, lease
//     grants. Deletes, compaction, revokes and the rest go on.
func AlarmGate(alarms []Alarm, cmd *Command) error {
	if len(alarms) == 0 {
		return nil
	}
	var puts, writes bool
	switch cmd.Type {
	case CmdTxn:
		if cmd.Txn != nil {
			puts, writes = cmd.Txn.HasPut(), !cmd.Txn.IsReadOnly()
		}
	case CmdLeaseGrant:
		puts, writes = true, true
	default:
		return nil
	}
	if e := alarmOf(alarms, AlarmCorrupt); e != nil && writes {
		return e
	}
	if e := alarmOf(alarms, AlarmNoSpace); e != nil && puts {
		return e
	}
	return nil
}

func alarmOf(alarms []Alarm, t AlarmType) *AlarmError {
	var e *AlarmError
	for _, a := range alarms {
		if a.Type == t {
			if e == nil {
				e = &AlarmError{Type: t}
			}
			e.Members = append(e.Members, a.MemberID)
		}
	}
	return e
}

// HasPut reports whether a branch of t (nested txns included) puts a key.
func (t *TxnRequest) HasPut() bool {
	return t.any(func(op Op) bool { return op.Put != nil })
}

// IsReadOnly reports whether no branch of t (nested txns included) puts or
// deletes a key.
func (t *TxnRequest) IsReadOnly() bool {
	return !t.any(func(op Op) bool { return op.Put != nil || op.Delete != nil })
}

func (t *TxnRequest) any(pred func(Op) bool) bool {
	for _, ops := range [][]Op{t.Success, t.Failure} {
		for _, op := range ops {
			if pred(op) || (op.Txn != nil && op.Txn.any(pred)) {
				return true
			}
		}
	}
	return false
}
