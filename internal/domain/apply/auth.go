package apply

import (
	"fmt"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// applyAuth applies an auth change. A change that does not fit the state
// (a user that exists already, a missing role, ...) is a rejection every
// member computes the same way; the key space and its revision are never
// touched.
func applyAuth(b ports.Batch, r *domain.AuthRequest) domain.Result {
	st, err := b.AuthState()
	if err != nil {
		panic(fmt.Errorf("apply: read auth state: %w", err))
	}
	if err := st.Change(r); err != nil {
		return domain.Result{Revision: b.Rev(), Err: err}
	}
	if err := b.PutAuthState(st); err != nil {
		panic(fmt.Errorf("apply: write auth state: %w", err))
	}
	return domain.Result{Revision: b.Rev()}
}
