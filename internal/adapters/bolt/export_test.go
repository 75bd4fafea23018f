package bolt

// SetBootIDFile points the boot id at path for a test, and returns a
// function that restores it.
func SetBootIDFile(path string) (restore func()) {
	old := bootIDFile
	bootIDFile = path
	return func() { bootIDFile = old }
}
