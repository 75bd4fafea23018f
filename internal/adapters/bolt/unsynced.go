package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Unsynced commits (Config.Unsynced) write the pages of a commit to the
// file without waiting for the disk: the Raft log already holds every
// applied entry durably, and the applied index stored with the data makes
// replaying them idempotent, so the store need not be durable on its own.
//
// What makes that safe is telling, at the next start, whether the file can
// be trusted:
//   - After a crash of the process (kill -9, a panic, an OOM kill) the
//     kernel still holds every page written: the file is whole and as of
//     its last commit. Trusted.
//   - After a crash of the machine (power cut, kernel panic, a VM reset)
//     pages not yet on disk are lost, in any order: the file may be torn.
//     Not trusted: it is moved aside and the member rebuilds its store from
//     the Raft snapshot and log.
//
// The marker file <path>.unsynced holds the boot id of the kernel that
// wrote without syncing; it is made (durably) before the first such commit
// and removed after the sync of a clean Close. A marker of another boot
// means the machine restarted before the file was synced.

// bootIDFile is where Linux says which boot this is (a variable: tests
// play a reboot with a file of their own).
var bootIDFile = "/proc/sys/kernel/random/boot_id"

// bootID returns this boot's id, or nil when the system does not tell
// (then commits are synced).
func bootID() []byte {
	b, err := os.ReadFile(bootIDFile)
	if err != nil {
		return nil
	}
	return bytes.TrimSpace(b)
}

func markerPath(path string) string { return path + ".unsynced" }

// trustFile reports whether the file at path holds every commit made to
// it: true unless a marker of unsynced commits names another boot.
func trustFile(path string, boot []byte) (bool, error) {
	b, err := os.ReadFile(markerPath(path))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("bolt: read %s: %w", markerPath(path), err)
	}
	return bytes.Equal(bytes.TrimSpace(b), boot), nil
}

// writeMarker durably records that the file at path gets unsynced commits
// in this boot.
func writeMarker(path string, boot []byte) error {
	mp := markerPath(path)
	f, err := os.OpenFile(mp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("bolt: write %s: %w", mp, err)
	}
	_, err = f.Write(append(bytes.Clone(boot), '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(mp))
	}
	if err != nil {
		return fmt.Errorf("bolt: write %s: %w", mp, err)
	}
	return nil
}

// removeMarker says that every commit to the file at path is on disk.
func removeMarker(path string) error {
	if err := os.Remove(markerPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bolt: remove %s: %w", markerPath(path), err)
	}
	return syncDir(filepath.Dir(path))
}

// setAside moves an untrusted file (and its marker) out of the way, to
// path.untrusted, replacing an older one: it is kept for inspection, never
// read again.
func setAside(path string) error {
	if err := os.Rename(path, path+".untrusted"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bolt: set %s aside: %w", path, err)
	}
	if err := os.Remove(markerPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bolt: remove %s: %w", markerPath(path), err)
	}
	return syncDir(filepath.Dir(path))
}
