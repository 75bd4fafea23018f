package domaintest

import (
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/apply"
	"github.com/cairnkv/cairn/internal/ports"
)

// ApplyOne applies cmd to be in a batch of its own, commits it and returns
// the result, as a member applying one log entry would.
func ApplyOne(t testing.TB, be ports.Backend, cmd domain.Command) domain.Result {
	t.Helper()
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	res := apply.Apply(b, cmd)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	return res
}
