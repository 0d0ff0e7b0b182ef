package accounting

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

var errNoFallocate = errors.New("fallocate not supported")

func fallocate(f *os.File, size int64) error { return unix.Fallocate(int(f.Fd()), 0, 0, size) }
