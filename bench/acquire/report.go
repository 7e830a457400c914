package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cssc-project/cssc/bench/internal/benchutil"
)

// secs maps f over xs and gives seconds.
func secs[T any](xs []T, f func(T) time.Duration) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x).Seconds()
	}
	return out
}

func joinf(v []float64, format string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}

func mib(b int64) string { return fmt.Sprintf("%d MiB", b>>20) }

// report writes the results as Markdown tables.
func report(w io.Writer, set settings, large *largeResult, conc []concResult) {
	clamd := "clamd (ClamAV, one-signature database)"
	if !set.clamd {
		clamd = "no clamd (malware scan off: the default policy blocks)"
	}
	fmt.Fprintf(w, "\nSetup: upstream = cssc serve (open mode); pipeline = cssc serve --acquire-workers N; %s; one OSV record.\n", clamd)
	if large != nil {
		n := len(large.Copies)
		fmt.Fprintf(w, "\nLarge image: Debian base layer + %d layers × %d MiB of random %d KiB files; %.1f MB moved per copy.\n",
			set.layers, set.layerMiB, set.fileKiB, float64(large.ImageBytes)/1e6)
		fmt.Fprintf(w, "\n| measure (median of %d rounds) | wall | per round | client CPU | pipeline server CPU | upstream CPU | clamd CPU |\n|---|---:|---|---:|---:|---:|---:|\n", n)
		row := func(name string, xs []sample) {
			wall := secs(xs, func(s sample) time.Duration { return s.Wall })
			med := func(f func(sample) time.Duration) float64 { return benchutil.Median(secs(xs, f)) }
			fmt.Fprintf(w, "| %s | %.2f s | %s | %.2f s | %.2f s | %.2f s | %.2f s |\n", name, benchutil.Median(wall), joinf(wall, "%.2f"),
				med(func(s sample) time.Duration { return s.ClientCPU }), med(func(s sample) time.Duration { return s.PipeCPU }),
				med(func(s sample) time.Duration { return s.UpCPU }), med(func(s sample) time.Duration { return s.ClamdCPU }))
		}
		row("crane copy", large.Copies)
		acqs := make([]sample, len(large.Acquires))
		for i, a := range large.Acquires {
			acqs[i] = a.sample
		}
		row("cssc acquire --wait", acqs)
		fmt.Fprintf(w, "\n| ratio | median of per-round ratios | per round | goal |\n|---|---:|---|---:|\n")
		fmt.Fprintf(w, "| cssc acquire / crane copy | **%.2f×** | %s | ≤ 1.5× |\n", benchutil.Median(large.Ratios), joinf(large.Ratios, "%.2f"))
		imp := make([]float64, n)
		for i, a := range large.Acquires {
			imp[i] = a.Steps.Phases["import"].Seconds() / large.Copies[i].Wall.Seconds()
		}
		fmt.Fprintf(w, "| pipeline's import step / crane copy | %.2f× | %s | |\n", benchutil.Median(imp), joinf(imp, "%.2f"))
		fmt.Fprintf(w, "\nEnd states: %s.\n", states(large.States))

		fmt.Fprintf(w, "\n| where the acquisition's time goes (server record, median of %d) | s | per round |\n|---|---:|---|\n", n)
		part := func(name string, f func(acqSample) time.Duration) {
			v := secs(large.Acquires, f)
			fmt.Fprintf(w, "| %s | %.2f | %s |\n", name, benchutil.Median(v), joinf(v, "%.2f"))
		}
		part("queued (submission → first step)", func(a acqSample) time.Duration { return a.Steps.Queued })
		for _, p := range phases {
			part(phaseLabel(p), func(a acqSample) time.Duration { return a.Steps.Phases[p.Name] })
		}
		part("between steps (saving each step)", func(a acqSample) time.Duration { return a.Steps.Between })
		part("server total (submission → last step)", func(a acqSample) time.Duration { return a.Steps.Total })
		part("client wall (cssc acquire --wait --poll 100ms)", func(a acqSample) time.Duration { return a.Wall })
		fmt.Fprintf(w, "\nPipeline server: RSS %s once ready, %s after part 1, peak (VmHWM) %s.\n", mib(large.StartRSS), mib(large.PipeRSS), mib(large.PipePeak))
	}
	if len(conc) > 0 {
		fmt.Fprintf(w, "\n| %d small images at once (%d KiB random + base layer each) | promoted | blocked | failed | refused at submission | span (first submission → last step) | images/min | per image in the pipeline (median) | queued (median) | server CPU per image | clamd CPU per image | server RSS once ready | server peak RSS (VmHWM) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
			conc[0].Images, set.smallKiB)
		for _, r := range conc {
			per := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", d.Seconds()*1000/float64(r.Images)) }
			fmt.Fprintf(w, "| --acquire-workers %d | %d | %d | %d | %d | %.1f s | **%.0f** | %.2f s | %.1f s | %s | %s | %s | **%s** |\n",
				r.Workers, r.States[statePromoted], r.States[stateBlocked], r.States[stateFailed], len(r.SubmitErrors),
				r.Span.Seconds(), float64(r.Images)/r.Span.Minutes(), benchutil.Median(r.InPipeline), benchutil.Median(r.Queued),
				per(r.PipeCPU), per(r.ClamdCPU), mib(r.StartRSS), mib(r.PipePeak))
		}
		for _, r := range conc {
			for _, f := range append(r.SubmitErrors, r.Failures...) {
				fmt.Fprintf(w, "\n%d workers: %s", r.Workers, f)
			}
		}
		fmt.Fprintln(w)
	}
}

func phaseLabel(p phase) string {
	names := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		names[i] = string(s)
	}
	return strings.Join(names, " + ")
}

func states(m map[string]int) string {
	var parts []string
	for _, s := range []string{statePromoted, stateBlocked, stateFailed} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	return strings.Join(parts, ", ")
}
