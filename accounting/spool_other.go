//go:build !unix

package accounting

import (
	"errors"
	"os"
)

// The file spool maps files into memory and locks them the Unix way; elsewhere only the
// in-memory spool (no accounting.spool_dir) is available.
var errNoFileSpool = errors.New("the accounting spool needs Linux or another Unix system")

func mapFile(*os.File, int) ([]byte, error) { return nil, errNoFileSpool }
func unmapFile([]byte) error                { return nil }
func syncMapping([]byte) error              { return nil }
func lockFile(*os.File) error               { return errNoFileSpool }
func tryLock(string) (*os.File, bool)       { return nil, false }
func preallocate(*os.File, int64) error     { return errNoFileSpool }
func syncDir(string) error                  { return nil }
