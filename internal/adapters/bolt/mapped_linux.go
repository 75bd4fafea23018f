package bolt

import "syscall"

// madviseDontNeed advises MADV_DONTNEED for n bytes of the map at addr. It
// is an optimization: an error changes nothing.
func madviseDontNeed(addr uintptr, n int64) {
	if addr == 0 || n <= 0 {
		return
	}
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(n), syscall.MADV_DONTNEED)
}
