package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/cssc-project/cssc/bench/internal/benchutil"
	"github.com/cssc-project/cssc/bench/internal/proc"
)

// sample is one timed command.
type sample struct {
	Wall      time.Duration
	ClientCPU time.Duration
	// CPU used meanwhile by the pipeline server, the upstream and clamd.
	PipeCPU, UpCPU, ClamdCPU time.Duration
}

// acqSample is one timed acquisition.
type acqSample struct {
	sample
	Record *record
	Steps  breakdown
}

// largeResult is part 1.
type largeResult struct {
	ImageBytes int64 // what one copy moves
	Copies     []sample
	Acquires   []acqSample
	// Ratios are acquire / copy per round.
	Ratios []float64
	// States counts the acquisitions' end states.
	States map[string]int
	// PipeRSS and PipePeak are the pipeline server's resident memory at
	// the end of part 1 and at its peak (VmHWM); StartRSS once ready.
	PipeRSS, PipePeak, StartRSS int64
}

// pids are the processes whose CPU each sample reads.
type pids struct{ pipe, up, clamd int }

func (s *scene) pids(pipe *process) pids {
	p := pids{pipe: pipe.Pid(), up: s.upstream.Pid()}
	if s.clamd != nil {
		p.clamd = s.clamd.Pid()
	}
	return p
}

// cpus reads the CPU each process has used so far.
func (p pids) cpus() ([3]time.Duration, error) {
	var out [3]time.Duration
	for i, pid := range []int{p.pipe, p.up, p.clamd} {
		if pid == 0 {
			continue
		}
		d, err := proc.CPU(pid)
		if err != nil {
			return out, err
		}
		out[i] = d
	}
	return out, nil
}

// timed runs bin with args and measures it; stdout is returned. A
// non-zero exit is returned as an error along with the sample.
func (s *scene) timed(p pids, bin string, args ...string) (sample, []byte, error) {
	before, err := p.cpus()
	if err != nil {
		return sample{}, nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = s.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	smp := sample{Wall: time.Since(start)}
	if cmd.ProcessState != nil {
		smp.ClientCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	after, err := p.cpus()
	if err != nil {
		return smp, nil, err
	}
	smp.PipeCPU, smp.UpCPU, smp.ClamdCPU = after[0]-before[0], after[1]-before[1], after[2]-before[2]
	if runErr != nil {
		return smp, stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args, " "), runErr, benchutil.Tail(stderr.String(), 2000))
	}
	return smp, stdout.Bytes(), nil
}

// largeSpec is the large image of round n (kind "copy" or "acq").
func (s *scene) largeSpec(kind string, n int) imageSpec {
	return imageSpec{
		Layers:    s.set.layers,
		LayerSize: int64(s.set.layerMiB) << 20,
		FileSize:  int64(s.set.fileKiB) << 10,
		Seed:      fmt.Sprintf("big-%s-%d", kind, n),
	}
}

// runLarge is part 1: crane copy beside cssc acquire, round by round.
func (s *scene) runLarge(ctx context.Context) (*largeResult, error) {
	pipe, addr, err := s.startPipeline(ctx, "pipe-large", 2)
	if err != nil {
		return nil, err
	}
	defer pipe.stop()
	p := s.pids(pipe)
	res := &largeResult{States: map[string]int{}}
	if res.StartRSS, _, err = proc.Memory(p.pipe); err != nil {
		return nil, err
	}
	for round := 0; round <= s.set.rounds; round++ { // round 0 is the untimed warm-up
		copySrc := fmt.Sprintf("%s/bench/big:copy-%d", s.upAddr, round)
		acqSrc := fmt.Sprintf("%s/bench/big:acq-%d", s.upAddr, round)
		size, err := s.pushLarge(ctx, copySrc, acqSrc, round)
		if err != nil {
			return nil, err
		}
		res.ImageBytes = size
		doCopy := func() (sample, error) {
			dst := fmt.Sprintf("%s/copy/big-r%d:copy-%d", addr, round, round)
			smp, _, err := s.timed(p, s.set.crane, "copy", copySrc, dst)
			return smp, err
		}
		doAcquire := func() (acqSample, error) {
			return s.acquireOne(p, addr, acqSrc, fmt.Sprintf("bench/big-r%d", round))
		}
		var c sample
		var a acqSample
		if round%2 == 1 { // alternate which goes first
			if c, err = doCopy(); err == nil {
				a, err = doAcquire()
			}
		} else {
			if a, err = doAcquire(); err == nil {
				c, err = doCopy()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("round %d: %w", round, err)
		}
		label := "warm-up"
		if round > 0 {
			label = fmt.Sprintf("round %d", round)
			res.Copies = append(res.Copies, c)
			res.Acquires = append(res.Acquires, a)
			res.Ratios = append(res.Ratios, a.Wall.Seconds()/c.Wall.Seconds())
			res.States[a.Record.State]++
		}
		fmt.Fprintf(os.Stderr, "acquire-bench: %s: crane copy %.2f s, cssc acquire %.2f s (%s; import %.2f s, analyse %.2f s, enrich+sign+promote %.2f s)\n",
			label, c.Wall.Seconds(), a.Wall.Seconds(), a.Record.State,
			a.Steps.Phases["import"].Seconds(), a.Steps.Phases["analyse"].Seconds(), a.Steps.Phases["enrich+sign+promote"].Seconds())
	}
	if res.PipeRSS, res.PipePeak, err = proc.Memory(p.pipe); err != nil {
		return nil, err
	}
	return res, nil
}

// pushLarge pushes round n's two images and returns the size of one.
func (s *scene) pushLarge(ctx context.Context, copyRef, acqRef string, n int) (int64, error) {
	_, size, err := pushImage(ctx, copyRef, s.largeSpec("copy", n))
	if err != nil {
		return 0, err
	}
	_, size2, err := pushImage(ctx, acqRef, s.largeSpec("acq", n))
	if err != nil {
		return 0, err
	}
	if d := size - size2; d > 4096 || d < -4096 {
		return 0, fmt.Errorf("round %d: the two images differ in size: %d and %d bytes", n, size, size2)
	}
	return size, nil
}

// acquireOne runs cssc acquire --wait and reads the final record it
// prints. A blocked image (exit 1) is a result; a failed one an error.
func (s *scene) acquireOne(p pids, addr, src, as string) (acqSample, error) {
	smp, out, runErr := s.timed(p, s.set.cssc, "acquire", src, "--as", as, "--wait", "--format", "json",
		"--poll", "100ms", "--server", "http://"+addr, "--log-level", "error")
	var rec record
	if err := json.Unmarshal(out, &rec); err != nil {
		return acqSample{}, errors.Join(runErr, fmt.Errorf("cssc acquire %s: read its JSON record: %w: %q", src, err, benchutil.Tail(string(out), 500)))
	}
	if rec.State == stateFailed || !rec.final() {
		return acqSample{}, fmt.Errorf("cssc acquire %s: state %s, reasons %q, error %q", src, rec.State, rec.Reasons, rec.Error)
	}
	br, err := breakdownOf(&rec)
	if err != nil {
		return acqSample{}, err
	}
	return acqSample{sample: smp, Record: &rec, Steps: br}, nil
}
