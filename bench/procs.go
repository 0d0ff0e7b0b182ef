package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process the suite started: a target or the mock provider. Each runs in its own
// process group, so that a Ctrl-C at the terminal reaches only the suite, which then stops its
// children in order; Pdeathsig kills them should the suite itself die.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit status, set before done closes
	tail *tailBuffer
	// workers, if set, lists processes that belong to this one (nginx's workers) so that their
	// CPU and memory count with it.
	workers func() []int
}

// startProc runs bin with args in dir (empty: the current directory), extra environment
// variables added to the suite's. Its output goes to logPath (if set) and a small in-memory tail
// for error messages.
func startProc(name, bin string, args, env []string, dir, logPath string) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = childAttr()
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{}), tail: &tailBuffer{max: 4 << 10}}
	var out io.Writer = p.tail
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		out = io.MultiWriter(p.tail, f)
		defer func() { go func() { <-p.done; f.Close() }() }()
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

func (p *Proc) pids() []int {
	ps := []int{p.PID()}
	if p.workers != nil {
		ps = append(ps, p.workers()...)
	}
	return ps
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// CPU is the CPU time used by the process (and its workers).
func (p *Proc) CPU() (CPUTime, error) {
	var rs []CPUTime
	for _, pid := range p.pids() {
		c, err := ReadCPU(pid)
		if err != nil {
			return CPUTime{}, err
		}
		rs = append(rs, c)
	}
	return sumCPU(rs...), nil
}

// Memory is the resident memory of the process (and its workers).
func (p *Proc) Memory() (Memory, error) {
	var m Memory
	for _, pid := range p.pids() {
		x, err := ReadMemory(pid)
		if err != nil {
			return Memory{}, err
		}
		m.RSS += x.RSS
		m.Peak += x.Peak
	}
	return m, nil
}

// ResetPeak starts a new peak-memory measurement.
func (p *Proc) ResetPeak() error {
	var errs []error
	for _, pid := range p.pids() {
		errs = append(errs, ResetPeak(pid))
	}
	return errors.Join(errs...)
}

// Stop asks the process group to terminate and kills it if it has not within grace.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
		<-p.done
	}
}

// failure describes why the process is not serving, with the end of its output.
func (p *Proc) failure(what string) error {
	status := "still running"
	if p.Exited() {
		status = fmt.Sprintf("exited: %v", p.err)
	}
	return fmt.Errorf("%s %s (%s); its last output:\n%s", p.Name, what, status, p.tail.String())
}

// waitListening waits until addr accepts connections, the process exits, or timeout.
func (p *Proc) waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return p.failure("did not start")
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p.failure("is not listening on " + addr + " after " + timeout.String())
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// freePort finds a loopback port nobody listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
