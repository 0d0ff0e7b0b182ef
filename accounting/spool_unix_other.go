//go:build unix && !linux

package accounting

import (
	"errors"
	"os"
)

var errNoFallocate = errors.New("fallocate not supported")

func fallocate(*os.File, int64) error { return errNoFallocate }
