package ports

// PasswordHasher hashes passwords for storage and checks them. It is slow
// on purpose (bcrypt): callers bound how many run at once.
type PasswordHasher interface {
	// Hash returns a salted hash of password.
	Hash(password string) ([]byte, error)
	// Match reports whether password is the one hash was computed from.
	// It fails only when hash is not a hash it can read.
	Match(hash []byte, password string) (bool, error)
}
