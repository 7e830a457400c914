package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/cssc-project/cssc/bench/internal/benchutil"
	"github.com/cssc-project/cssc/bench/internal/proc"
)

// concResult is part 2 for one --acquire-workers value.
type concResult struct {
	Workers int
	Images  int
	// SubmitErrors are submissions the server refused.
	SubmitErrors []string
	States       map[string]int
	// Failures are the reasons of failed acquisitions (at most a few).
	Failures []string
	// Span is from the first submission to the end of the last step (the
	// records' times); Observed is what the polling client saw.
	Span, Observed time.Duration
	// InPipeline are the acquisitions' times from their first step to
	// their last, Queued from submission to their first step.
	InPipeline, Queued []float64
	PipeCPU, ClamdCPU  time.Duration
	PipeRSS, PipePeak  int64
	// StartRSS is the pipeline server's resident memory once ready,
	// before the first submission.
	StartRSS  int64
	ClamdPeak int64
}

// pushSmall pushes the small images of one part upstream
// (bench/small-I:TAG, content seeded by TAG: each part's images are new to
// clamd's cache of clean files), four at a time.
func (s *scene) pushSmall(ctx context.Context, tag string) error {
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range s.set.small {
			next <- i
		}
	}()
	return benchutil.Parallel(4, func() error {
		for i := range next {
			spec := imageSpec{Layers: 1, LayerSize: int64(s.set.smallKiB) << 10, FileSize: int64(s.set.smallKiB) << 10, Seed: fmt.Sprintf("small-%s-%d", tag, i)}
			if _, _, err := pushImage(ctx, s.smallRef(i, tag), spec); err != nil {
				for range next { // let the producer finish
				}
				return err
			}
		}
		return nil
	})
}

func (s *scene) smallRef(i int, tag string) string {
	return fmt.Sprintf("%s/bench/small-%d:%s", s.upAddr, i, tag)
}

// runConcurrent is part 2: for each worker count, a fresh pipeline
// server gets a fresh set of small images all at once.
func (s *scene) runConcurrent(ctx context.Context) ([]concResult, error) {
	var out []concResult
	for _, w := range s.set.workers {
		r, err := s.concurrentOnce(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("%d workers: %w", w, err)
		}
		fmt.Fprintf(os.Stderr, "acquire-bench: %d images at once, %d workers: %v in %.1f s (%.0f images/min), peak RSS %d MiB\n",
			r.Images, w, r.States, r.Span.Seconds(), float64(r.Images)/r.Span.Minutes(), r.PipePeak>>20)
		out = append(out, r)
	}
	return out, nil
}

func (s *scene) concurrentOnce(ctx context.Context, workers int) (concResult, error) {
	res := concResult{Workers: workers, Images: s.set.small, States: map[string]int{}}
	tag := fmt.Sprintf("w%d", workers)
	if err := s.pushSmall(ctx, tag); err != nil {
		return res, err
	}
	pipe, addr, err := s.startPipeline(ctx, fmt.Sprintf("pipe-w%d", workers), workers)
	if err != nil {
		return res, err
	}
	defer pipe.stop()
	p := s.pids(pipe)
	if res.StartRSS, _, err = proc.Memory(p.pipe); err != nil {
		return res, err
	}
	before, err := p.cpus()
	if err != nil {
		return res, err
	}
	api := "http://" + addr + "/api/v1/acquisitions"
	ids := make([]string, s.set.small)
	errs := make([]error, s.set.small)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range s.set.small {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = submit(ctx, api, s.smallRef(i, tag))
		}()
	}
	wg.Wait()
	want := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			res.SubmitErrors = append(res.SubmitErrors, err.Error())
			continue
		}
		want[ids[i]] = true
	}
	recs, err := pollFinal(ctx, api, want, 30*time.Minute)
	if err != nil {
		return res, err
	}
	res.Observed = time.Since(start)
	after, err := p.cpus()
	if err != nil {
		return res, err
	}
	res.PipeCPU, res.ClamdCPU = after[0]-before[0], after[2]-before[2]
	if res.PipeRSS, res.PipePeak, err = proc.Memory(p.pipe); err != nil {
		return res, err
	}
	if p.clamd != 0 {
		if _, res.ClamdPeak, err = proc.Memory(p.clamd); err != nil {
			return res, err
		}
	}
	var first, last time.Time
	for _, rec := range recs {
		res.States[rec.State]++
		if rec.State == stateFailed && len(res.Failures) < 5 {
			res.Failures = append(res.Failures, fmt.Sprintf("%s: %q", rec.Source, rec.Reasons))
		}
		br, err := breakdownOf(rec)
		if err != nil {
			return res, err
		}
		if first.IsZero() || rec.CreatedAt.Before(first) {
			first = rec.CreatedAt
		}
		if end := rec.CreatedAt.Add(br.Total); end.After(last) {
			last = end
		}
		res.Queued = append(res.Queued, br.Queued.Seconds())
		res.InPipeline = append(res.InPipeline, (br.Total - br.Queued).Seconds())
	}
	res.Span = last.Sub(first)
	return res, nil
}

// submit POSTs one acquisition and returns its id.
func submit(ctx context.Context, api, src string) (string, error) {
	body, err := json.Marshal(map[string]string{"source": src})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("submit %s: %w", src, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("submit %s: %w", src, err)
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("submit %s: HTTP %d: %s", src, resp.StatusCode, benchutil.Tail(string(b), 300))
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return "", fmt.Errorf("submit %s: %w", src, err)
	}
	return rec.ID, nil
}

// pollFinal lists the acquisitions every 250 ms until every one in want
// is final, and returns those records.
func pollFinal(ctx context.Context, api string, want map[string]bool, timeout time.Duration) ([]*record, error) {
	deadline := time.Now().Add(timeout)
	url := fmt.Sprintf("%s?limit=%d", api, 2*len(want)+10)
	for {
		recs, err := list(ctx, url)
		if err != nil {
			return nil, err
		}
		var final []*record
		for _, r := range recs {
			if want[r.ID] && r.final() {
				final = append(final, r)
			}
		}
		if len(final) == len(want) {
			return final, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d acquisitions final after %s", len(final), len(want), timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func list(ctx context.Context, url string) ([]*record, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list acquisitions: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("list acquisitions: HTTP %d: %s", resp.StatusCode, benchutil.Tail(string(b), 300))
	}
	var out struct {
		Acquisitions []*record `json:"acquisitions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("list acquisitions: %w", err)
	}
	return out.Acquisitions, nil
}
