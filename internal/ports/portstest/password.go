package portstest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"

	"github.com/cairnkv/cairn/internal/ports"
)

var _ ports.PasswordHasher = (*Hasher)(nil)

// Hasher is a fast ports.PasswordHasher for tests: the "hash" is a
// bcrypt-looking prefix and the hex SHA-256 of the password (unsalted: never
// use it outside tests). It counts its calls.
type Hasher struct {
	Calls atomic.Int64
}

// Hash returns the fake hash of password.
func (h *Hasher) Hash(password string) ([]byte, error) {
	h.Calls.Add(1)
	sum := sha256.Sum256([]byte(password))
	return []byte("$2fake$" + hex.EncodeToString(sum[:])), nil
}

// Match reports whether hash is the fake hash of password.
func (h *Hasher) Match(hash []byte, password string) (bool, error) {
	want, _ := h.Hash(password)
	return bytes.Equal(hash, want), nil
}
