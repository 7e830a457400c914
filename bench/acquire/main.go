// Command acquire-bench measures the acquire pipeline end to end beside a
// plain `crane copy` of an image of the same shape, in the same run, and
// the pipeline's throughput with many acquisitions at once.
//
// Everything runs on 127.0.0.1 in a temporary directory: an upstream
// registry (a second `cssc serve`, open mode), clamd with a one-signature
// database the bench writes, a vulnerability database imported with
// `cssc db import` from one OSV record, and a `cssc serve` running the
// pipeline (--signing-key, --upstream-allow, --db-dir, --clamd).
//
// Part 1, per round (--rounds; untimed warm-up round first; the order of
// the two commands alternates): two fresh images of the same shape (a
// Debian base layer with os-release and a dpkg database, then --layers
// layers of --layer-mib MiB of random files) are pushed upstream, then
//
//	crane copy UP/bench/big:copy-N PIPE/copy/big-rN:copy-N
//	cssc acquire UP/bench/big:acq-N --as bench/big-rN --wait --format json --poll 100ms --server http://PIPE
//
// are timed (wall, and CPU of the client, the pipeline server, the
// upstream and clamd). Each moves bytes the pipeline server has never
// seen. The acquisition's record gives its step durations.
//
// Part 2, per --workers value: a fresh pipeline server; --small distinct
// small images are submitted at once (POST /api/v1/acquisitions) and
// polled until all are final; throughput, failures and the server's peak
// resident memory (VmHWM) are reported.
//
//	go run ./bench/acquire --cssc bin/cssc --crane CRANE --rounds 5
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

type settings struct {
	cssc, crane string
	work        string
	rounds      int
	layers      int
	layerMiB    int
	fileKiB     int
	small       int
	smallKiB    int
	workers     []int
	clamd       bool
	skipBig     bool
	serverLog   string
	// clamdWorkers is the pipeline's --clamd-workers (0: its default).
	clamdWorkers int
}

func main() {
	var s settings
	var workers string
	flag.StringVar(&s.cssc, "cssc", "bin/cssc", "cssc binary")
	flag.StringVar(&s.crane, "crane", "", "crane binary (scripts/tools.sh --path crane)")
	flag.StringVar(&s.work, "work", "", "working directory (default: a new temporary one, removed at the end)")
	flag.IntVar(&s.rounds, "rounds", 5, "timed rounds of copy and acquire of the large image; medians are reported")
	flag.IntVar(&s.layers, "layers", 4, "random layers of the large image (besides the Debian base layer)")
	flag.IntVar(&s.layerMiB, "layer-mib", 25, "MiB of random files per layer of the large image")
	flag.IntVar(&s.fileKiB, "file-kib", 1024, "KiB per random file in the large image's layers")
	flag.IntVar(&s.small, "small", 100, "small images acquired at once in the concurrency part (0: skip it)")
	flag.IntVar(&s.smallKiB, "small-kib", 1024, "KiB of random data in each small image (one file, besides the base layer)")
	flag.StringVar(&workers, "workers", "2,4", "comma-separated --acquire-workers values for the concurrency part")
	flag.BoolVar(&s.clamd, "clamd", true, "scan for malware with a real clamd (false: no --clamd; the default policy then blocks every image)")
	flag.BoolVar(&s.skipBig, "skip-large", false, "skip the copy/acquire comparison (part 1)")
	flag.IntVar(&s.clamdWorkers, "clamd-workers", 0, "the pipeline server's --clamd-workers (0: its default, 4)")
	flag.StringVar(&s.serverLog, "server-log-level", "warn", "--log-level of the cssc servers (their logs are in --work: debug shows the analysis' inventory and layer scan)")
	flag.Parse()
	for _, w := range strings.Split(workers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "acquire-bench: --workers %q: want positive numbers separated by commas\n", workers)
			os.Exit(2)
		}
		s.workers = append(s.workers, n)
	}
	if err := run(context.Background(), s); err != nil {
		fmt.Fprintln(os.Stderr, "acquire-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, set settings) error {
	if set.crane == "" && !set.skipBig {
		return fmt.Errorf("--crane is required (scripts/tools.sh --path crane)")
	}
	if set.work == "" {
		dir, err := os.MkdirTemp("", "cssc-acquire-bench-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		set.work = dir
	}
	s, stop, err := prepare(ctx, set)
	defer stop()
	if err != nil {
		return err
	}
	set = s.set
	if !set.clamd {
		fmt.Fprintln(os.Stderr, "acquire-bench: malware scanning is off (no clamd): the default policy blocks every image; every step up to decide still runs")
	}
	var large *largeResult
	if !set.skipBig {
		if large, err = s.runLarge(ctx); err != nil {
			return err
		}
	}
	var conc []concResult
	if set.small > 0 {
		if conc, err = s.runConcurrent(ctx); err != nil {
			return err
		}
	}
	report(os.Stdout, set, large, conc)
	return nil
}
