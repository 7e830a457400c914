// Package proc reads a process's and the machine's CPU time and memory
// from Linux's /proc, for the benchmark programs under bench/.
package proc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClockTick is the unit of the times in /proc/PID/stat and /proc/stat
// (sysconf(_SC_CLK_TCK), 100 on Linux on every architecture Go runs on).
const ClockTick = 10 * time.Millisecond

// CPU is the user and system time process pid has used so far.
func CPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time of process %d: %w", pid, err)
	}
	return ParseStatCPU(string(data))
}

// ParseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) is in parentheses and
// may hold spaces, so the fields are counted after its closing one.
func ParseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/PID/stat: %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/PID/stat: %q", stat)
	}
	d, ok := sumTicks(f[11:13])
	if !ok {
		return 0, fmt.Errorf("unexpected /proc/PID/stat: %q", stat)
	}
	return d, nil
}

// Memory is process pid's resident set now and at its peak (VmRSS,
// VmHWM), in bytes.
func Memory(pid int) (rss, peak int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("memory of process %d: %w", pid, err)
	}
	return ParseStatusMemory(string(data))
}

// ParseStatusMemory reads VmRSS and VmHWM (in kB) from /proc/PID/status
// and returns them in bytes.
func ParseStatusMemory(status string) (rss, peak int64, err error) {
	var found int
	for line := range strings.Lines(status) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("unexpected %s line in /proc/PID/status: %q", k, line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("unexpected %s line in /proc/PID/status: %q", k, line)
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			peak = n << 10
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("/proc/PID/status has no VmRSS or VmHWM")
	}
	return rss, peak, nil
}

// MachineBusy is the CPU time all cores have spent busy (/proc/stat's
// first line: everything but idle and iowait).
func MachineBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("machine CPU time: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return ParseStatBusy(line)
}

// ParseStatBusy reads the busy time from /proc/stat's "cpu" line: user,
// nice, system, idle, iowait, irq, softirq, steal (guest time is already
// in user and nice).
func ParseStatBusy(line string) (time.Duration, error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat line: %q", line)
	}
	all, ok := sumTicks(f[1:9])
	if !ok {
		return 0, fmt.Errorf("unexpected /proc/stat line: %q", line)
	}
	idle, _ := sumTicks(f[4:6]) // idle, iowait
	return all - idle, nil
}

// sumTicks is the sum of fields, decimal counts of ClockTick; false when
// one is not a number.
func sumTicks(fields []string) (time.Duration, bool) {
	var ticks int64
	for _, s := range fields {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	return time.Duration(ticks) * ClockTick, true
}
