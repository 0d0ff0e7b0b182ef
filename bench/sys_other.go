//go:build !linux

package bench

import (
	"syscall"
	"time"
)

// pacer falls back to Go's timers off Linux, where sleeps may overshoot by up to a millisecond;
// the suite itself needs Linux (/proc) anyway.
type pacer struct{}

func (p *pacer) start() {}
func (p *pacer) stop()  {}

func (p *pacer) wait(t time.Time) { time.Sleep(time.Until(t)) }

func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
