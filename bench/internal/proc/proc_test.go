package proc

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want time.Duration // ignored when bad
		bad  bool
	}{
		{stat: "4242 (cssc serve) S 1 4242 4242 0 -1 4194560 9000 0 0 0 250 75 0 0 20 0 12 0 100 0 0", want: 3250 * time.Millisecond},
		{stat: "4242 (clamd (x) y) S 1 4242 4242 0 -1 4194560 5000 0 0 0 1234 56 0 0 20 0 9 0 100 0 0", want: 12900 * time.Millisecond},
		{stat: "", bad: true},
		{stat: "4242 cssc S 1", bad: true}, // no command in parentheses
		{stat: "4242 (clamd) S 1 2 3 4 5 6 7 8 9 10 x 56", bad: true},
	} {
		got, err := ParseStatCPU(tc.stat)
		switch {
		case tc.bad && err == nil:
			t.Errorf("ParseStatCPU(%q) = %v, want an error", tc.stat, got)
		case !tc.bad && (err != nil || got != tc.want):
			t.Errorf("ParseStatCPU(%q) = %v, %v; want %v", tc.stat, got, err, tc.want)
		}
	}
}

func TestParseStatusMemory(t *testing.T) {
	for _, tc := range []struct {
		status   string
		rss, hwm int64 // ignored when bad
		bad      bool
	}{
		{status: "Name:\tcssc\nVmHWM:\t  190000 kB\nVmRSS:\t  120000 kB\nThreads:\t12\n", rss: 120000 << 10, hwm: 190000 << 10},
		{status: "Name:\tclamd\nVmPeak:\t  900000 kB\nVmHWM:\t  175104 kB\nVmRSS:\t  122880 kB\nThreads:\t9\n", rss: 122880 << 10, hwm: 175104 << 10},
		{status: "Name:\tcssc\nVmRSS:\t 1 MB\nVmHWM:\t1 kB\n", bad: true}, // not in kB
		{status: "Name:\tkthreadd\n", bad: true},             // neither
		{status: "Name:\tclamd\nVmRSS:\t 1 kB\n", bad: true}, // no VmHWM
		{status: "VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n", bad: true},
		{status: "VmHWM:\t x kB\nVmRSS:\t 1 kB\n", bad: true},
	} {
		rss, hwm, err := ParseStatusMemory(tc.status)
		switch {
		case tc.bad && err == nil:
			t.Errorf("ParseStatusMemory(%q) = %d, %d; want an error", tc.status, rss, hwm)
		case !tc.bad && (err != nil || rss != tc.rss || hwm != tc.hwm):
			t.Errorf("ParseStatusMemory(%q) = %d, %d, %v; want %d, %d", tc.status, rss, hwm, err, tc.rss, tc.hwm)
		}
	}
}

func TestParseStatBusy(t *testing.T) {
	for _, tc := range []struct {
		line string
		want time.Duration // ignored when bad
		bad  bool
	}{
		{line: "cpu  1000 20 300 99999 77 5 6 7 0 0", want: 13380 * time.Millisecond},
		{line: "cpu0 1 2 3 4 5 6 7 8", bad: true},
		{line: "cpu 1 2 3", bad: true},
		{line: "cpu 1 2 x 4 5 6 7 8", bad: true},
	} {
		got, err := ParseStatBusy(tc.line)
		switch {
		case tc.bad && err == nil:
			t.Errorf("ParseStatBusy(%q) = %v, want an error", tc.line, got)
		case !tc.bad && (err != nil || got != tc.want):
			t.Errorf("ParseStatBusy(%q) = %v, %v; want %v", tc.line, got, err, tc.want)
		}
	}
}

// TestSelf reads this test process's own /proc entries: it has used some
// memory, its peak is at least what it uses now, and its CPU time and
// the machine's busy time are readable.
func TestSelf(t *testing.T) {
	pid := os.Getpid()
	rss, peak, err := Memory(pid)
	if err != nil || rss <= 0 || peak < rss {
		t.Errorf("Memory(self) = %d, %d, %v; want 0 < rss <= peak", rss, peak, err)
	}
	if cpu, err := CPU(pid); err != nil || cpu < 0 {
		t.Errorf("CPU(self) = %v, %v", cpu, err)
	}
	if busy, err := MachineBusy(); err != nil || busy <= 0 {
		t.Errorf("MachineBusy() = %v, %v", busy, err)
	}
	if _, err := CPU(-1); err == nil {
		t.Error("CPU(-1) succeeded")
	}
	if _, _, err := Memory(-1); err == nil {
		t.Error("Memory(-1) succeeded")
	}
}
