package bolt

// SetBootIDFile points the boot id at path for a test, and returns a
// function that restores it.
func SetBootIDFile(path string) (restore func()) {
	old := bootIDFile
	bootIDFile = path
	return func() { bootIDFile = old }
}

// SetDefragHook makes Defragment call hook at each of its phases ("copy"
// after each chunk, "caught-up" after each pass, "before-rename" and
// "after-rename" while applies wait), and copy chunks of chunkBytes
// (0: the default). Call it before Defragment.
func (b *Backend) SetDefragHook(chunkBytes int, hook func(phase string)) {
	b.defrag.chunkBytes, b.defrag.hook = chunkBytes, hook
}

// Path returns the path of b's file.
func Path(b *Backend) string { return b.path }
