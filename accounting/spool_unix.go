//go:build unix

package accounting

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func mapFile(f *os.File, size int) ([]byte, error) {
	return unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

func unmapFile(b []byte) error { return unix.Munmap(b) }

// syncMapping writes b's dirty pages to disk; b must start on a page boundary.
func syncMapping(b []byte) error { return unix.Msync(b, unix.MS_SYNC) }

// lockFile takes an exclusive lock on f that the kernel drops when the process ends.
func lockFile(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) }

// tryLock opens and locks path; false when it is missing or another process holds it.
func tryLock(path string) (*os.File, bool) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, false
		}
		// A directory without its lock file lost it to a crash mid-cleanup: take it anyway.
		if f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			return nil, false
		}
	}
	if lockFile(f) != nil {
		f.Close()
		return nil, false
	}
	return f, true
}

// preallocate gives f size bytes of disk blocks, zero-filled.
func preallocate(f *os.File, size int64) error {
	err := fallocate(f, size)
	if err == nil {
		return nil
	}
	if !errors.Is(err, errNoFallocate) && !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	// The file system cannot reserve blocks: write zeros, which reserves them the slow way.
	zeros := make([]byte, 1<<16)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
