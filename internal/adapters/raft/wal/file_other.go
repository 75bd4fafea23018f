//go:build !linux

package wal

import "os"

// datasync makes f's written data durable.
func datasync(f *os.File) error { return f.Sync() }

// preallocate extends f to size bytes, zero-filled.
func preallocate(f *os.File, size int64) error {
	if fi, err := f.Stat(); err != nil || fi.Size() >= size {
		return err
	}
	return f.Truncate(size)
}
