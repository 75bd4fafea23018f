package wal

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync makes f's written data durable: fdatasync, which skips the
// inode's times (the size of a preallocated segment does not change).
func datasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}

// preallocate reserves size bytes for f, zero-filled, so that appends
// neither grow the file nor find the disk full midway.
func preallocate(f *os.File, size int64) error {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		switch err {
		case unix.EINTR:
			continue
		case unix.EOPNOTSUPP, unix.ENOSYS:
			return f.Truncate(size)
		}
		return err
	}
}
