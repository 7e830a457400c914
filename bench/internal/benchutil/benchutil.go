// Package benchutil holds what the benchmark programs under bench/ share.
package benchutil

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Median is the median of v (the mean of the two middle values when v has
// an even length); v is not changed.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

// Parallel runs fn in n goroutines and returns their errors joined.
func Parallel(n int, fn func() error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn() }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// TimeBin is GNU time, which reports the command's own rusage; run
// commands as TimeBin -f TimeFormat -o FILE -- CMD… and read FILE with
// ParseTime.
const (
	TimeBin    = "/usr/bin/time"
	TimeFormat = "%M %U %S"
)

// ParseTime reads GNU time's TimeFormat line (the last line: time writes
// "Command exited with non-zero status N" before it): peak RSS in bytes
// and user+system CPU.
func ParseTime(s string) (maxRSS int64, cpu time.Duration, err error) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) != 3 {
		return 0, 0, fmt.Errorf("unexpected output of %s: %q", TimeBin, s)
	}
	kib, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("unexpected output of %s: %q", TimeBin, s)
	}
	var secs float64
	for _, x := range f[1:] {
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("unexpected output of %s: %q", TimeBin, s)
		}
		secs += v
	}
	return kib << 10, time.Duration(secs * float64(time.Second)), nil
}

// Tail is the last n bytes of s, for error messages.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
