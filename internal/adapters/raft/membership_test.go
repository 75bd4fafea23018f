package raft

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
)

// TestLearnerCaughtUp: a learner is promoted within promoteMaxLag
// committed entries of the leader, and the refusal says how far behind it
// is.
func TestLearnerCaughtUp(t *testing.T) {
	for _, c := range []struct {
		applied, commit uint64
		ok              bool
	}{
		{0, 0, true},
		{10, 10, true},
		{12, 10, true}, // the leader's commit index is a moment old
		{5000, 5000 + promoteMaxLag, true},
		{5000, 5001 + promoteMaxLag, false},
		{0, 52311, false},
	} {
		err := learnerCaughtUp("n4", c.applied, c.commit)
		if c.ok != (err == nil) {
			t.Errorf("applied %d of %d: %v, want ok=%v", c.applied, c.commit, err, c.ok)
			continue
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, domain.ErrPreconditionFailed) {
			t.Errorf("applied %d of %d: %v is not a precondition failure", c.applied, c.commit, err)
		}
		for _, want := range []string{`"n4"`, "entries behind", fmt.Sprintf("of %d committed", c.commit)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("applied %d of %d: %q does not say %q", c.applied, c.commit, err, want)
			}
		}
	}
}

// TestMinority: the members that differ from a strict majority, or every
// member when there is none.
func TestMinority(t *testing.T) {
	for _, c := range []struct {
		hashes map[string]uint32
		want   []string
	}{
		{map[string]uint32{"n1": 1}, nil},
		{map[string]uint32{"n1": 1, "n2": 1, "n3": 1}, nil},
		{map[string]uint32{"n1": 1, "n2": 2, "n3": 1}, []string{"n2"}},
		{map[string]uint32{"n1": 2, "n2": 1, "n3": 1, "n4": 1, "n5": 3}, []string{"n1", "n5"}},
		{map[string]uint32{"n1": 1, "n2": 2}, []string{"n1", "n2"}},
		{map[string]uint32{"n1": 1, "n2": 2, "n3": 3}, []string{"n1", "n2", "n3"}},
		{map[string]uint32{"n1": 1, "n2": 1, "n3": 2, "n4": 2}, []string{"n1", "n2", "n3", "n4"}},
	} {
		if got := minority(c.hashes); !slices.Equal(got, c.want) {
			t.Errorf("minority(%v) = %v, want %v", c.hashes, got, c.want)
		}
	}
}
