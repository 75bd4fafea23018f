// Package password hashes passwords with bcrypt (ports.PasswordHasher).
package password

import (
	"errors"

	"golang.org/x/crypto/bcrypt"

	"github.com/cairnkv/cairn/internal/ports"
)

var _ ports.PasswordHasher = Bcrypt{}

// Bcrypt is a ports.PasswordHasher with bcrypt at a cost.
type Bcrypt struct {
	// Cost is bcrypt's work factor (0: bcrypt.DefaultCost, 10, as etcd).
	Cost int
}

// Hash returns the bcrypt hash of password.
func (b Bcrypt) Hash(password string) ([]byte, error) {
	cost := b.Cost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	return bcrypt.GenerateFromPassword([]byte(password), cost)
}

// Match reports whether password matches hash. A password bcrypt would
// refuse to hash (longer than 72 bytes) matches nothing.
func (Bcrypt) Match(hash []byte, password string) (bool, error) {
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword), errors.Is(err, bcrypt.ErrPasswordTooLong):
		return false, nil
	}
	return false, err
}
