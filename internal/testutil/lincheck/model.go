package lincheck

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// The register model: the state is the key's value, "" when it has none.

type input struct {
	kind       Kind
	value, old string
}

type output struct {
	unknown bool
	read    string
	swapped bool
}

// Model returns the porcupine model of one register that History's
// operations are checked against.
func Model() porcupine.Model {
	return porcupine.Model{
		Init: func() any { return "" },
		Step: func(state, in, out any) (bool, any) {
			s, i, o := state.(string), in.(input), out.(output)
			switch i.kind {
			case Read:
				return o.read == s, s
			case Write:
				return true, i.value
			default: // cas
				switch {
				case o.unknown:
					// Applied here; an unknown cas that never took effect
					// is the same as one applied last (its end is open).
					if s == i.old {
						return true, i.value
					}
					return true, s
				case o.swapped:
					return s == i.old, i.value
				default:
					return s != i.old && s == o.read, s
				}
			}
		},
		DescribeOperation: func(in, out any) string {
			i, o := in.(input), out.(output)
			var s string
			switch i.kind {
			case Read:
				s = fmt.Sprintf("read -> %q", o.read)
			case Write:
				s = fmt.Sprintf("write %q", i.value)
			default:
				s = fmt.Sprintf("cas %q->%q", i.old, i.value)
				switch {
				case o.unknown:
				case o.swapped:
					s += " ok"
				default:
					s += fmt.Sprintf(" failed (%q)", o.read)
				}
			}
			if o.unknown {
				s += " ?"
			}
			return s
		},
		DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
	}
}

// History turns one key's recorded ops into porcupine operations for
// Model; each operation's Metadata is its *Op.
//
// Failed ops are left out. An unknown op gets an open end, unless the
// value it wrote was observed: it then took effect before the first
// observer completed, and that is its end (exact, since every value is
// written once). An unknown op whose value nobody read or compared with is
// left out: a history without it is linearizable only if one with it is
// (it can take effect last), so this can hide no violation.
//
// It also reports, with a clearer message than the checker would give, a
// value observed that no op could have written, or observed before its
// write was invoked.
func History(ops []*Op) ([]porcupine.Operation, []error) {
	writers := map[string]*Op{}    // the ops that may have written a value
	notWritten := map[string]*Op{} // the ops that tried to and did not
	referenced := map[string]bool{}
	for _, o := range ops {
		if o.Kind == Read {
			continue
		}
		if o.Outcome == Failed || (o.Kind == CAS && o.Outcome == OK && !o.Swapped) {
			notWritten[o.Value] = o
		} else {
			writers[o.Value] = o
		}
		if o.Kind == CAS {
			referenced[o.Old] = true
		}
	}
	ends := map[*Op]int64{}
	var errs []error
	observe := func(by *Op, v string) {
		if v == "" {
			return
		}
		referenced[v] = true
		w := writers[v]
		switch {
		case w == nil && notWritten[v] != nil:
			errs = append(errs, fmt.Errorf("%v observed %q, from an op that did not write it: %v", by, v, notWritten[v]))
			return
		case w == nil:
			errs = append(errs, fmt.Errorf("%v observed %q, which no op wrote", by, v))
			return
		case by.Return < w.Call:
			errs = append(errs, fmt.Errorf("%v observed %q before it was written: %v", by, v, w))
			return
		}
		if w.Outcome == Unknown {
			if e, ok := ends[w]; !ok || by.Return < e {
				ends[w] = by.Return
			}
		}
	}
	for _, o := range ops {
		if o.Outcome != OK {
			continue
		}
		switch {
		case o.Kind == Read:
			observe(o, o.Read)
		case o.Kind == CAS && o.Swapped:
			observe(o, o.Old)
		case o.Kind == CAS:
			observe(o, o.Read)
		}
	}
	var out []porcupine.Operation
	for _, o := range ops {
		if o.Outcome == Failed {
			continue
		}
		ret := o.Return
		if o.Outcome == Unknown {
			if !referenced[o.Value] {
				continue
			}
			ret = OpenEnd
			if e, ok := ends[o]; ok {
				ret = e
			}
		}
		out = append(out, porcupine.Operation{
			ClientId: o.Client,
			Input:    input{kind: o.Kind, value: o.Value, old: o.Old},
			Call:     o.Call,
			Output:   output{unknown: o.Outcome == Unknown, read: o.Read, swapped: o.Swapped},
			Return:   ret,
			Metadata: o,
		})
	}
	return out, errs
}
