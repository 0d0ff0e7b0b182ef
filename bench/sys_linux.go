package bench

import (
	"runtime"
	"syscall"
	"time"
)

// pacer sends requests at their scheduled times with a few microseconds of error. Go's own
// timers wake up to a millisecond late on an idle machine (the netpoller waits in whole
// milliseconds), which would drown the tens of microseconds an open-loop run is meant to
// resolve. So the pacer owns an OS thread, asks the kernel for a 1 ns timer slack, sleeps with
// nanosleep until just before the slot (learning how late the kernel wakes it) and spins the
// last few microseconds.
type pacer struct {
	early time.Duration // how long before a slot to wake up: the kernel's typical lateness
}

const prSetTimerSlack = 29

// start pins the calling goroutine to its thread; call stop on the same goroutine.
func (p *pacer) start() {
	runtime.LockOSThread()
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
	p.early = 30 * time.Microsecond
}

func (p *pacer) stop() { runtime.UnlockOSThread() }

// wait returns at t or as soon after it as it can.
func (p *pacer) wait(t time.Time) {
	if d := time.Until(t) - p.early; d > 0 {
		ts := syscall.NsecToTimespec(int64(d))
		_ = syscall.Nanosleep(&ts, nil)
		late := -time.Until(t.Add(-p.early))
		p.early += (min(late, time.Millisecond) - p.early) / 16
	}
	for time.Now().Before(t) {
	}
}

// childAttr puts a child in its own process group and has the kernel kill it if the suite dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
