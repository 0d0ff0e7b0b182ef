package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Per-process figures come from /proc, so that each target is measured on its own: CPU time
// (all threads, user and system) and resident memory with its peak.

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It is 100 on every
// Linux architecture Go supports (the kernel fixes it for user space).
const clockTicks = 100

// CPUTime is the CPU a process has used so far.
type CPUTime struct {
	// User and System come from /proc/<pid>/stat (utime, stime), in nanoseconds, with a
	// resolution of 10 ms. They include threads that have exited.
	User, System int64
	// Sched is the sum of the first field of /proc/<pid>/task/*/schedstat: nanoseconds on a
	// CPU, exact, but only for live threads; 0 when the kernel does not provide it.
	Sched int64
}

// Total is the best figure available: the exact scheduler time when there is one, else
// user plus system time.
func (c CPUTime) Total() int64 {
	if c.Sched > 0 {
		return c.Sched
	}
	return c.User + c.System
}

// Sub is the CPU used between two readings.
func (c CPUTime) Sub(o CPUTime) CPUTime {
	d := CPUTime{User: c.User - o.User, System: c.System - o.System, Sched: c.Sched - o.Sched}
	if c.Sched == 0 || o.Sched == 0 {
		d.Sched = 0
	}
	return d
}

// sumCPU adds up the readings of the processes that make up one target (nginx's master and
// workers). The exact scheduler time is kept only if every reading has it.
func sumCPU(rs ...CPUTime) CPUTime {
	var d CPUTime
	exact := len(rs) > 0
	for _, r := range rs {
		d.User += r.User
		d.System += r.System
		d.Sched += r.Sched
		exact = exact && r.Sched > 0
	}
	if !exact {
		d.Sched = 0
	}
	return d
}

// parseStat reads utime and stime (fields 14 and 15) and the parent pid (field 4) from the
// content of /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses, so
// fields are counted from the last ')'.
func parseStat(b []byte) (ppid int, utime, stime uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, errors.New("stat: no command name")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, 0, 0, fmt.Errorf("stat: %d fields after the command name, want at least 13", len(f))
	}
	pp, err1 := strconv.Atoi(string(f[1]))
	ut, err2 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err3 := strconv.ParseUint(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, 0, 0, fmt.Errorf("stat: %w", err)
	}
	return pp, ut, st, nil
}

// parseSchedstat reads the time on CPU (first field, ns) from /proc/<pid>/task/<tid>/schedstat.
func parseSchedstat(b []byte) (int64, error) {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, errors.New("schedstat: empty")
	}
	return strconv.ParseInt(string(f[0]), 10, 64)
}

// parseStatusKB reads a "Key:   123 kB" line of /proc/<pid>/status.
func parseStatusKB(b []byte, key string) (int64, error) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte(key+":"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			break
		}
		v, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status %s: %w", key, err)
		}
		if len(f) > 1 && !bytes.EqualFold(f[1], []byte("kB")) {
			return 0, fmt.Errorf("status %s: unit %q, want kB", key, f[1])
		}
		return v, nil
	}
	return 0, fmt.Errorf("status: no %s line", key)
}

// ReadCPU returns the CPU time pid has used.
func ReadCPU(pid int) (CPUTime, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPUTime{}, err
	}
	_, ut, st, err := parseStat(b)
	if err != nil {
		return CPUTime{}, err
	}
	c := CPUTime{User: int64(ut) * 1e9 / clockTicks, System: int64(st) * 1e9 / clockTicks}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, t := range tasks {
		if b, err := os.ReadFile(t); err == nil {
			if ns, err := parseSchedstat(b); err == nil {
				c.Sched += ns
			}
		}
	}
	return c, nil
}

// Memory is a process's resident set, in KiB.
type Memory struct {
	RSS  int64 `json:"rss_kb"`  // now (VmRSS)
	Peak int64 `json:"peak_kb"` // highest since start or since ResetPeak (VmHWM)
}

// ReadMemory returns pid's resident memory.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	rss, err1 := parseStatusKB(b, "VmRSS")
	hwm, err2 := parseStatusKB(b, "VmHWM")
	return Memory{RSS: rss, Peak: hwm}, errors.Join(err1, err2)
}

// ResetPeak sets pid's VmHWM back to its current RSS (Linux 4.0+), so that each scenario's
// peak is its own. It fails for processes of other users.
func ResetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// Children lists the pids whose parent is pid (nginx's workers), scanning /proc.
func Children(pid int) []int {
	dirs, _ := os.ReadDir("/proc")
	var out []int
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		if pp, _, _, err := parseStat(b); err == nil && pp == pid {
			out = append(out, child)
		}
	}
	return out
}

// RaiseOpenFiles lifts this process's soft limit on open files to the hard limit (children
// inherit it) and returns the new limit: thousands of concurrent streams need two descriptors
// each in a proxy.
func RaiseOpenFiles() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return 0, err
		}
	}
	return r.Cur, nil
}
