package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/cssc-project/cssc/bench/internal/benchutil"
)

// tool is one measured command line.
type tool struct {
	Name string   // as shown in the tables: "cssc scan", "osv-scanner", …
	Args []string // argv; "{IMAGE}" and "{OUT}" are replaced per run
	Env  []string // added to the environment
	// OK are the exit codes of a successful run (scanners exit 1 when
	// they find vulnerabilities).
	OK []int
}

// measurement is what one run of a tool cost.
type measurement struct {
	Wall   time.Duration
	CPU    time.Duration // user + system
	MaxRSS int64         // bytes, the process's peak resident set
	Exit   int
}

// timeBin is GNU time, which reports the command's own rusage. (The
// rusage this program gets from wait4 would not do: Linux carries the
// parent's resident set over into the child's maxrss at exec when the
// child is started with vfork, as Go starts processes, so every tool
// would show at least this program's own peak.)
const timeBin = "/usr/bin/time"

// run runs t on image, writing its output to out, and measures it.
func (t tool) run(ctx context.Context, image, out, tmpDir string) (measurement, error) {
	args := make([]string, len(t.Args))
	for i, a := range t.Args {
		a = strings.ReplaceAll(a, "{IMAGE}", image)
		args[i] = strings.ReplaceAll(a, "{OUT}", out)
	}
	metrics := out + ".time"
	cmd := exec.CommandContext(ctx, timeBin, append([]string{"-f", "%M %U %S", "-o", metrics, "--"}, args...)...)
	cmd.Env = append(append(os.Environ(), "TMPDIR="+tmpDir), t.Env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	err := cmd.Run()
	m := measurement{Wall: time.Since(start)}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return m, fmt.Errorf("%s: %w", t.Name, err)
	}
	m.Exit = cmd.ProcessState.ExitCode()
	if !slices.Contains(t.OK, m.Exit) {
		return m, fmt.Errorf("%s exited %d: %s\n%s", t.Name, m.Exit, strings.Join(args, " "), benchutil.Tail(stderr.String(), 2000))
	}
	data, err := os.ReadFile(metrics)
	if err != nil {
		return m, fmt.Errorf("%s: %w", t.Name, err)
	}
	if m.MaxRSS, m.CPU, err = benchutil.ParseTime(string(data)); err != nil {
		return m, fmt.Errorf("%s: %w", t.Name, err)
	}
	return m, nil
}
