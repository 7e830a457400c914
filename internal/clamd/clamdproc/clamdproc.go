// Package clamdproc runs ClamAV's daemon as a child process: start it
// with a configuration file, wait until it answers PING, stop it. The
// tests (clamdtest), the demo and the malware benchmark start their own
// clamd with it.
package clamdproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/cssc-project/cssc/internal/clamd"
)

// Binary returns clamd's path: on PATH, else where Debian installs it.
func Binary() (string, error) {
	if p, err := exec.LookPath("clamd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/clamd", "/usr/local/sbin/clamd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("clamd is not installed: apt-get install -y clamav-daemon")
}

// Process is a running clamd.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs `bin --config-file=conf` (bin "" means Binary()) with its
// output written to the file output, and waits until it answers PING at
// addr ("unix://…" or "tcp://…"). It fails, and leaves no process behind,
// when clamd exits first (the error holds the end of its output), ctx
// ends, or wait passes. clamd is killed if this process dies.
func Start(ctx context.Context, bin, conf, addr, output string, wait time.Duration) (*Process, error) {
	if bin == "" {
		var err error
		if bin, err = Binary(); err != nil {
			return nil, err
		}
	}
	c, err := clamd.New(addr)
	if err != nil {
		return nil, err
	}
	out, err := os.Create(output)
	if err != nil {
		return nil, fmt.Errorf("start clamd: %w", err)
	}
	p := &Process{cmd: exec.Command(bin, "--config-file="+conf), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("start clamd: %w", err)
	}
	go func() { _ = p.cmd.Wait(); _ = out.Close(); close(p.exited) }()
	deadline := time.Now().Add(wait)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		perr := c.Ping(pctx)
		cancel()
		if perr == nil {
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("clamd exited at start:\n%s", tail(output, 3000))
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("clamd did not answer PING within %s: %v\n%s", wait, perr, tail(output, 3000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pid is clamd's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when clamd has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Kill stops clamd at once (SIGKILL), as a crash would, and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Stop asks clamd to end (SIGTERM), kills it after grace, and waits.
func (p *Process) Stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.Kill()
	}
}

// tail is the end of the file path, for error messages.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		return "…" + string(b[len(b)-n:])
	}
	return string(b)
}
