package bench

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and a parenthesis, as the kernel writes it.
	line := []byte("24680 (my (odd) cmd) S 24678 24678 20729 0 -1 4194304 126 0 1 0 250 75 0 0 20 0 1 0 321925 2990080 410 18446744073709551615\n")
	ppid, ut, st, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if ppid != 24678 || ut != 250 || st != 75 {
		t.Fatalf("ppid %d utime %d stime %d", ppid, ut, st)
	}
	for _, bad := range []string{"", "1 (x) S 2 3", "1 x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14"} {
		if _, _, _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) did not fail", bad)
		}
	}
}

func TestParseSchedstat(t *testing.T) {
	ns, err := parseSchedstat([]byte("1138668 2420827 4\n"))
	if err != nil || ns != 1138668 {
		t.Fatalf("%d %v", ns, err)
	}
	if _, err := parseSchedstat(nil); err == nil {
		t.Fatal("empty schedstat parsed")
	}
}

func TestParseStatusKB(t *testing.T) {
	status := []byte("Name:\tarouter\nVmPeak:\t  9000 kB\nVmHWM:\t     1044 kB\nVmRSS:\t      508 kB\nThreads:\t5\n")
	for key, want := range map[string]int64{"VmHWM": 1044, "VmRSS": 508, "VmPeak": 9000} {
		if got, err := parseStatusKB(status, key); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", key, got, err, want)
		}
	}
	if _, err := parseStatusKB(status, "VmSwap"); err == nil {
		t.Error("missing key parsed")
	}
	if _, err := parseStatusKB([]byte("VmRSS:\t12 MB\n"), "VmRSS"); err == nil {
		t.Error("wrong unit accepted")
	}
}

func TestCPUTimeArithmetic(t *testing.T) {
	a := CPUTime{User: 10, System: 5, Sched: 20}
	b := CPUTime{User: 30, System: 15, Sched: 70}
	if d := b.Sub(a); d != (CPUTime{User: 20, System: 10, Sched: 50}) || d.Total() != 50 {
		t.Fatalf("sub %+v", d)
	}
	if d := b.Sub(CPUTime{User: 1}); d.Sched != 0 || d.Total() != 29+15 {
		t.Fatalf("without schedstat on one side the exact figure must not be used: %+v", d)
	}
	if s := sumCPU(a, b); s != (CPUTime{User: 40, System: 20, Sched: 90}) {
		t.Fatalf("sum %+v", s)
	}
	if s := sumCPU(a, CPUTime{User: 1}); s.Sched != 0 {
		t.Fatalf("sum kept an incomplete exact figure: %+v", s)
	}
}

// TestReadOwnProcess reads this test process through the same code the suite uses for targets.
func TestReadOwnProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	pid := os.Getpid()
	c, err := ReadCPU(pid)
	if err != nil || c.Total() <= 0 {
		t.Fatalf("cpu %+v %v", c, err)
	}
	m, err := ReadMemory(pid)
	if err != nil || m.RSS <= 0 || m.Peak < m.RSS {
		t.Fatalf("memory %+v %v", m, err)
	}
	if _, err := RaiseOpenFiles(); err != nil {
		t.Fatal(err)
	}
}
