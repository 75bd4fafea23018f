package lincheck

import (
	"fmt"
	"math"
)

// Kind is what an op does to its register.
type Kind uint8

// The kinds of op.
const (
	Read  Kind = iota // GET /v1/kv/K?raw
	Write             // PUT /v1/kv/K
	CAS               // POST /v1/txn: put if the value equals Old, else get
)

func (k Kind) String() string { return [...]string{"read", "write", "cas"}[k] }

// Outcome is what a client knows of an op once it has returned.
type Outcome uint8

// The outcomes of an op.
const (
	OK      Outcome = iota // completed; the output is known
	Unknown                // a write or cas that may or may not have taken effect
	Failed                 // not carried out (503, never sent), or a failed read
)

// OpenEnd is the Return of an op whose outcome is unknown: it may take
// effect at any time after its call.
const OpenEnd int64 = math.MaxInt64

// Op is one client operation as recorded.
type Op struct {
	Client       int
	Member       int    // the index of the URL it was sent to
	Key          string // the register
	Kind         Kind
	Value        string // write, cas: the value written
	Old          string // cas: the value compared with
	Call, Return int64  // nanoseconds since the start, monotonic; Return is OpenEnd when unknown
	Outcome      Outcome
	Read         string // read: the value read ("" for none); failed cas: the value found
	Swapped      bool   // cas: the compare held
	Note         string // why it failed or is unknown

	// Revision is, for a write that completed or a cas that swapped, the
	// revision in the answer's header: the mod_revision of the value
	// written (0 when the answer had none).
	Revision int64
}

func (o *Op) String() string {
	var s string
	switch o.Kind {
	case Read:
		s = fmt.Sprintf("read %s -> %q", o.Key, o.Read)
	case Write:
		s = fmt.Sprintf("write %s %q", o.Key, o.Value)
	case CAS:
		s = fmt.Sprintf("cas %s %q->%q", o.Key, o.Old, o.Value)
		if o.Outcome == OK {
			if o.Swapped {
				s += " swapped"
			} else {
				s += fmt.Sprintf(" failed, found %q", o.Read)
			}
		}
	}
	ret := "∞"
	if o.Return != OpenEnd {
		ret = fmt.Sprintf("%.3fs", float64(o.Return)/1e9)
	}
	s = fmt.Sprintf("[%.3fs, %s] c%d@n%d %s", float64(o.Call)/1e9, ret, o.Client, o.Member+1, s)
	switch o.Outcome {
	case Unknown:
		s += " UNKNOWN (" + o.Note + ")"
	case Failed:
		s += " FAILED (" + o.Note + ")"
	}
	return s
}

// Wrote reports whether the op is known to have written its value: a
// completed write, or a completed cas whose compare held.
func (o *Op) Wrote() bool {
	return o.Outcome == OK && (o.Kind == Write || (o.Kind == CAS && o.Swapped))
}
