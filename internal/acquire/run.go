package acquire

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/store"
	"github.com/cssc-project/cssc/internal/upstream"
)

// run is one acquisition being worked on by one worker.
type run struct {
	p     *Pipeline
	owner string
	row   store.Acquisition
	rec   *Record
	// outputs are what the current step saves beside the record.
	outputs map[string][]byte
}

// stepResult is what a step returns: its outcome and the step to run next
// ("" after the last).
type stepResult struct {
	outcome string
	detail  string
	next    Step
}

// permanentError is a step error that retrying cannot mend.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

func (p *Pipeline) process(ctx context.Context, owner string, row store.Acquisition) {
	rec, err := ParseRecord(row.Record)
	if err != nil {
		p.log.ErrorContext(ctx, "unreadable acquisition record; leaving it", "id", row.ID, "err", err)
		return
	}
	stepCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Keep the lease while the step works; losing it (another worker took
	// over a stalled run) stops this one.
	go func() {
		t := time.NewTicker(p.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-stepCtx.Done():
				return
			case <-t.C:
				if err := p.cfg.Queue.RenewAcquisitionLease(stepCtx, row.ID, owner, p.cfg.Now().Add(p.cfg.Lease)); err != nil {
					if errors.Is(err, store.ErrLeaseLost) {
						p.log.WarnContext(ctx, "lost the lease on an acquisition; stopping work on it", "id", row.ID)
						cancel()
						return
					}
					p.log.WarnContext(ctx, "renew acquisition lease", "id", row.ID, "err", err)
				}
			}
		}
	}()
	r := &run{p: p, owner: owner, row: row, rec: rec}
	defer p.clearProgress(row.ID)
	if rec.State == StateQueued {
		rec.State = StateRunning
	}
	for !rec.State.Final() && stepCtx.Err() == nil {
		step := rec.Step
		started := p.cfg.Now().UTC()
		r.outputs = map[string][]byte{}
		p.log.DebugContext(ctx, "step", "id", rec.ID, "step", step)
		res, err := r.runStep(stepCtx, step)
		if stepCtx.Err() != nil {
			return // stopping, or the lease was lost: the step runs again later
		}
		if err != nil {
			r.stepFailed(ctx, step, started, err)
			return
		}
		if p.cfg.StepWorked != nil {
			p.cfg.StepWorked(rec.ID, step)
		}
		rec.Steps = append(rec.Steps, StepResult{Step: step, Outcome: res.outcome, Detail: res.detail, Started: started, Finished: p.cfg.Now().UTC()})
		rec.Step, rec.Attempts, rec.Error = res.next, 0, ""
		lease := p.cfg.Now().Add(p.cfg.Lease)
		if res.next == "" {
			rec.State, lease = rec.Verdict, time.Time{}
			if rec.State == "" {
				rec.State = StateFailed
			}
		}
		if err := r.save(ctx, lease); err != nil {
			p.log.ErrorContext(ctx, "save acquisition step", "id", rec.ID, "step", step, "err", err)
			return
		}
		p.log.InfoContext(ctx, "step done", "id", rec.ID, "step", step, "outcome", res.outcome, "detail", res.detail)
		if p.cfg.StepDone != nil {
			p.cfg.StepDone(rec.ID, step)
		}
	}
}

func (r *run) runStep(ctx context.Context, step Step) (stepResult, error) {
	switch step {
	case StepImport:
		return r.importImage(ctx)
	case StepVerifySignatures:
		return r.verifySignatures(ctx)
	case StepVerifyMetadata:
		return r.verifyMetadata(ctx)
	case StepAnalyse:
		return r.analyse(ctx)
	case StepScore:
		return r.score(ctx)
	case StepDecide:
		return r.decide(ctx)
	case StepEnrich:
		return r.enrich(ctx)
	case StepSign:
		return r.sign(ctx)
	case StepPromote:
		return r.promote(ctx)
	case StepNotify:
		return r.notify(ctx)
	}
	return stepResult{}, permanent(fmt.Errorf("unknown step %q", step))
}

// stepFailed records a failed step: retried later with backoff when the
// error is transient and attempts remain, else the acquisition fails (and
// the notify step still runs).
func (r *run) stepFailed(ctx context.Context, step Step, started time.Time, err error) {
	p, rec := r.p, r.rec
	rec.Attempts++
	rec.Error = fmt.Sprintf("%s: %v", step, err)
	retry := transient(err) && rec.Attempts < p.cfg.MaxAttempts
	if retry {
		wait := p.cfg.Backoff(rec.Attempts)
		r.row.RunAfter = p.cfg.Now().Add(wait)
		p.log.WarnContext(ctx, "step failed; will retry", "id", rec.ID, "step", step, "attempt", rec.Attempts, "in", wait, "err", err)
	} else {
		p.log.ErrorContext(ctx, "step failed; acquisition failed", "id", rec.ID, "step", step, "attempts", rec.Attempts, "err", err)
		rec.Steps = append(rec.Steps, StepResult{Step: step, Outcome: "failed", Detail: err.Error(), Started: started, Finished: p.cfg.Now().UTC()})
		rec.Reasons = []string{fmt.Sprintf("%s failed: %v", step, err)}
		rec.Verdict, rec.FailedStep = StateFailed, step
		rec.Step, rec.Attempts = StepNotify, 0
		if step == StepNotify {
			rec.State, rec.Step = StateFailed, ""
		}
		r.row.RunAfter = time.Time{}
	}
	if err := r.save(ctx, time.Time{}); err != nil {
		p.log.ErrorContext(ctx, "save failed step", "id", rec.ID, "err", err)
	}
	if !retry {
		p.Wake()
	}
}

func (r *run) save(ctx context.Context, leaseUntil time.Time) error {
	r.rec.UpdatedAt = r.p.cfg.Now().UTC()
	b, err := r.rec.marshal()
	if err != nil {
		return err
	}
	r.row.Record, r.row.State, r.row.Step, r.row.Attempts = b, string(r.rec.State), string(r.rec.Step), r.rec.Attempts
	r.row.UpstreamDigest = r.rec.UpstreamDigest
	if err := r.p.cfg.Queue.SaveAcquisition(ctx, r.owner, r.row, leaseUntil, r.outputs); err != nil {
		return err
	}
	if !leaseUntil.IsZero() {
		r.row.LeaseUntil = leaseUntil
	}
	return nil
}

// transient reports whether err may go away on its own: the network, a
// registry's 5xx or 429, a timeout.
func transient(err error) bool {
	var pe *permanentError
	var na *upstream.NotAllowedError
	switch {
	case errors.As(err, &pe), errors.As(err, &na), errors.Is(err, errdef.ErrNotFound):
		return false
	case errors.Is(err, context.DeadlineExceeded), sign.Unreachable(err):
		return true
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	}
	msg := err.Error()
	return strings.Contains(msg, "connection reset") || strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "TLS handshake timeout")
}

func (p *Pipeline) setProgress(id string, pr Progress) {
	p.mu.Lock()
	p.progress[id] = pr
	p.mu.Unlock()
}

func (p *Pipeline) clearProgress(id string) {
	p.mu.Lock()
	delete(p.progress, id)
	p.mu.Unlock()
}
