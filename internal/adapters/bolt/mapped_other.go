//go:build !linux

package bolt

// madviseDontNeed does nothing here: releaseMapped is for Linux.
func madviseDontNeed(addr uintptr, n int64) {}
