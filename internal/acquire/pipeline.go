package acquire

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/cssc-project/cssc/internal/analysis"
	"github.com/cssc-project/cssc/internal/audit"
	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/notify"
	"github.com/cssc-project/cssc/internal/policy"
	"github.com/cssc-project/cssc/internal/store"
	"github.com/cssc-project/cssc/internal/upstream"
)

// Queue persists acquisitions and hands them to workers (*store.Store).
type Queue interface {
	CreateAcquisition(ctx context.Context, a store.Acquisition) error
	GetAcquisition(ctx context.Context, id string) (store.Acquisition, error)
	ListAcquisitions(ctx context.Context, f store.AcquisitionFilter) ([]store.Acquisition, error)
	ClaimAcquisition(ctx context.Context, owner string, now time.Time, lease time.Duration, states ...string) (store.Acquisition, bool, error)
	SaveAcquisition(ctx context.Context, owner string, a store.Acquisition, leaseUntil time.Time, outputs map[string][]byte) error
	RenewAcquisitionLease(ctx context.Context, id, owner string, until time.Time) error
	UpdateAcquisition(ctx context.Context, id string, fn func(*store.Acquisition) error) error
	AcquisitionOutput(ctx context.Context, id, name string) ([]byte, error)
	FindFinishedAcquisition(ctx context.Context, name, upstreamDigest string, states ...string) (store.Acquisition, bool, error)
	ReleaseAcquisitionLeases(ctx context.Context) (int, error)
}

// Promoter copies a quarantined image with everything attached to it
// into golden/, atomically (*store.Store).
type Promoter interface {
	Promote(ctx context.Context, from, to, root, tag string) (store.Promotion, error)
	// Withdraw takes root out of a golden repository: tag ("*": every tag
	// naming root) and, when no tag names it any more, everything that
	// was promoted with it (it stays in quarantine).
	Withdraw(ctx context.Context, repo, root, tag string) (kept bool, err error)
}

// Upstreams is the allow-list (*upstream.Registry).
type Upstreams interface {
	Match(ctx context.Context, ref string) (upstream.Upstream, error)
}

// Decider decides with policy as code (*policy.Engine).
type Decider interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
	Digest() string
	Settings() policy.Settings
}

// Exceptions lists the exceptions in force.
type Exceptions interface {
	Exceptions(ctx context.Context, now time.Time) ([]policy.Exception, error)
}

// Notifier sends webhook notifications (*notify.Notifier).
type Notifier interface {
	Notify(ctx context.Context, e notify.Event) error
}

// Auditor records in the audit trail (*audit.Log).
type Auditor interface {
	Record(ctx context.Context, e audit.Event) (audit.Event, error)
	List(ctx context.Context, f audit.Filter) ([]audit.Event, error)
}

// Analyzer analyses every platform of the image at ref; useAttachedSBOM
// takes the inventory from an attached SBOM when there is one.
type Analyzer func(ctx context.Context, ref string, useAttachedSBOM bool) ([]analysis.Platform, error)

// Config wires a Pipeline.
type Config struct {
	// Host is this server's registry host ("registry.example:443"),
	// used in references; Transport reaches its registry (in process).
	Host      string
	Transport http.RoundTripper
	// UpstreamTransport is the base transport to upstream registries
	// (nil: http.DefaultTransport); each upstream adds its CA, proxy and
	// rate limits.
	UpstreamTransport http.RoundTripper

	Queue      Queue
	Promoter   Promoter
	Upstreams  Upstreams
	Analyze    Analyzer
	Policy     Decider
	Exceptions Exceptions
	// Signer is the enterprise key; SignFormat "notation-jws" (default),
	// "notation-cose" or "cosign".
	Signer     keys.Signer
	SignFormat string
	Notifier   Notifier // nil: none
	Audit      Auditor  // nil: none
	// DataVersion identifies the vulnerability data (for idempotency:
	// the same digest, policy and data decide the same).
	DataVersion func() string
	// LifecycleMax, when set, caps the end-of-life date written on a
	// promoted image at the decision time plus this (the operator's
	// rule); the base OS end of life applies when it comes first.
	LifecycleMax time.Duration
	// Version is cssc's version (in the attestations).
	Version string

	// Sync keeps sync rules (nil: none run). Rematch re-matches a stored
	// inventory for rescans (nil: no rescans); RescanCheck is how often
	// the data is checked for a change that calls for one (0: 1 minute).
	Sync        SyncStore
	Retire      RetireStore
	Rematch     Rematcher
	RescanCheck time.Duration

	Workers     int           // 0: 2
	Lease       time.Duration // 0: 2 minutes
	MaxAttempts int           // 0: 5 (transient errors)
	Poll        time.Duration // 0: 1 s
	// Backoff is the wait before retry n (1-based); nil: 2 s doubling,
	// at most 5 minutes.
	Backoff func(n int) time.Duration
	// SoleWorker: this process is the only worker on the queue (cssc
	// serve holds the data directory), so leases found at start are a
	// crash's orphans and are released.
	SoleWorker bool

	// StepDone, when set, is called after each step is saved (tests use
	// it to crash at a step boundary).
	StepDone func(id string, step Step)
	// StepWorked, when set, is called after a step's work and before it
	// is saved (tests crash there to check a step can run twice).
	StepWorked func(id string, step Step)

	Log *slog.Logger
	Now func() time.Time
}

// Pipeline runs acquisitions.
type Pipeline struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	mu       sync.Mutex
	progress map[string]Progress // live copy progress, by acquisition
	// transports are the upstream transports, one per upstream entry (its
	// rate limit is shared by every acquisition from it).
	transports map[string]http.RoundTripper
	// syncMu runs one sync rule at a time (the schedule and the API).
	syncMu sync.Mutex
	// rescannedVersion is the data version golden/ was last rescanned on.
	rescannedVersion string
}

// New checks cfg and makes a Pipeline.
func New(cfg Config) (*Pipeline, error) {
	switch {
	case cfg.Queue == nil, cfg.Promoter == nil, cfg.Upstreams == nil, cfg.Analyze == nil, cfg.Policy == nil, cfg.Transport == nil:
		return nil, errors.New("acquire: incomplete configuration (queue, promoter, upstreams, analyzer, policy and registry transport are required)")
	case cfg.Signer == nil:
		return nil, errors.New("acquire: no signing key: give cssc serve --signing-key NAME (a key made by `cssc key generate NAME`)")
	case cfg.Host == "":
		return nil, errors.New("acquire: no registry host")
	}
	switch cfg.SignFormat {
	case "":
		cfg.SignFormat = "notation-jws"
	case "notation-jws", "notation-cose", "cosign":
	default:
		return nil, fmt.Errorf("acquire: signature format %q: want notation-jws, notation-cose or cosign", cfg.SignFormat)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Backoff == nil {
		cfg.Backoff = func(n int) time.Duration {
			d := 2 * time.Second << min(n-1, 10)
			return min(d, 5*time.Minute)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RescanCheck <= 0 {
		cfg.RescanCheck = time.Minute
	}
	if cfg.DataVersion == nil {
		cfg.DataVersion = func() string { return "" }
	}
	if cfg.UpstreamTransport == nil {
		cfg.UpstreamTransport = http.DefaultTransport
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{cfg: cfg, log: log, wake: make(chan struct{}, 1), progress: map[string]Progress{}, transports: map[string]http.RoundTripper{}}, nil
}

// Config returns the pipeline's configuration.
func (p *Pipeline) Config() Config { return p.cfg }

// Submit validates r, checks the upstream is allow-listed and queues the
// acquisition.
func (p *Pipeline) Submit(ctx context.Context, r Request, submitter string) (*Record, error) {
	src, err := parseSource(r.Source)
	if err != nil {
		return nil, err
	}
	up, err := p.cfg.Upstreams.Match(ctx, r.Source)
	if err != nil {
		return nil, err
	}
	name := src.repository
	if r.As != "" {
		name = strings.TrimPrefix(strings.TrimPrefix(r.As, "quarantine/"), "golden/")
		if err := validName(name); err != nil {
			return nil, permanent(fmt.Errorf("--as %q: %w", r.As, err))
		}
	}
	platform := r.Platform
	if platform == "all" {
		platform = ""
	}
	if platform != "" {
		if err := validPlatform(platform); err != nil {
			return nil, permanent(err)
		}
	}
	now := p.cfg.Now().UTC()
	rec := &Record{
		ID: newID(now), State: StateQueued, Step: StepImport, Source: src.String(), Upstream: up.Name,
		Name: name, Tag: src.tag, Platform: platform, Reasons: []string{}, Referrers: []Referrer{}, Steps: []StepResult{},
		SubmittedBy: submitter, CreatedAt: now, UpdatedAt: now,
	}
	b, err := rec.marshal()
	if err != nil {
		return nil, err
	}
	if err := p.cfg.Queue.CreateAcquisition(ctx, store.Acquisition{
		ID: rec.ID, Source: rec.Source, Name: name, Tag: src.tag, State: string(rec.State), Step: string(rec.Step), Record: b,
	}); err != nil {
		return nil, err
	}
	p.audit(ctx, audit.Event{Actor: submitter, ActorKind: actorKind(submitter), Action: "acquire.submit", Repo: "quarantine/" + name, Tag: src.tag,
		Target: "acquisition:" + rec.ID, Reason: rec.Source})
	p.log.InfoContext(ctx, "acquisition queued", "id", rec.ID, "source", rec.Source, "name", name, "by", submitter)
	p.Wake()
	return rec, nil
}

// IsInvalid reports whether err refuses a request as malformed.
func IsInvalid(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

// maxTags bounds how many tags of an upstream repository are read for
// an all-tags acquisition.
const maxTags = 10000

// SubmitAllTags queues an acquisition of every tag of r.Source's
// repository that match (a regular expression, anchored by the caller
// as they like) matches. Tags that do not match are returned as skipped
// (up to 100 of them).
func (p *Pipeline) SubmitAllTags(ctx context.Context, r Request, match, submitter string) ([]*Record, []string, error) {
	re, err := regexp.Compile(match)
	if err != nil {
		return nil, nil, permanent(fmt.Errorf("--match %q: %w", match, err))
	}
	src, err := parseSource(r.Source)
	if err != nil {
		return nil, nil, err
	}
	_, repo, err := p.upstreamRepo(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	tags, skipped, err := matchingTags(ctx, repo, re)
	if err != nil {
		return nil, nil, fmt.Errorf("list tags of %s: %w", src.Name(), err)
	}
	if len(tags) == 0 {
		return nil, skipped, permanent(fmt.Errorf("no tag of %s matches %q", src.Name(), match))
	}
	var out []*Record
	for _, t := range tags {
		req := r
		req.Source = src.Name() + ":" + t
		rec, err := p.Submit(ctx, req, submitter)
		if err != nil {
			return out, skipped, err
		}
		out = append(out, rec)
	}
	return out, skipped, nil
}

// Get returns an acquisition, with live copy progress when it is being
// copied.
func (p *Pipeline) Get(ctx context.Context, id string) (*Record, error) {
	row, err := p.cfg.Queue.GetAcquisition(ctx, id)
	if err != nil {
		return nil, err
	}
	rec, err := ParseRecord(row.Record)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if pr, ok := p.progress[id]; ok {
		rec.Progress = pr
	}
	p.mu.Unlock()
	return rec, nil
}

// List lists acquisitions, newest first.
func (p *Pipeline) List(ctx context.Context, f store.AcquisitionFilter) ([]*Record, error) {
	rows, err := p.cfg.Queue.ListAcquisitions(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]*Record, 0, len(rows))
	for _, row := range rows {
		rec, err := ParseRecord(row.Record)
		if err != nil {
			return nil, fmt.Errorf("acquisition %s: %w", row.ID, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// ErrNotRetryable: only a failed acquisition can be retried.
var ErrNotRetryable = errors.New("only a failed or blocked acquisition can be retried")

// Retry queues a failed (or blocked: after a policy change, new trust
// material or an exception) acquisition again: a failed one from the
// step that failed, a blocked one from its upstream signatures (the
// image is not copied again), one that repeated another's outcome from
// the start.
func (p *Pipeline) Retry(ctx context.Context, id, by string) (*Record, error) {
	var rec *Record
	err := p.cfg.Queue.UpdateAcquisition(ctx, id, func(a *store.Acquisition) error {
		r, err := ParseRecord(a.Record)
		if err != nil {
			return err
		}
		switch {
		case r.SameAs != "" && (r.State == StateFailed || r.State == StateBlocked):
			// It repeated another acquisition's outcome and saved no
			// analysis of its own: do it all.
			r.Step, r.SameAs = StepImport, ""
			r.RiskScore, r.Risk = nil, nil
		case r.State == StateFailed:
			if r.Step == "" || r.Step == StepNotify {
				r.Step = failedStep(r)
			}
			// Failed after the policy passed: it resumes as a promotion
			// (the verification summary and the outcome say so).
			if r.Step == StepEnrich || r.Step == StepSign || r.Step == StepPromote {
				r.Verdict = StatePromoted
			}
		case r.State == StateBlocked:
			// Verify, analyse and decide again: an exception added, trust
			// material or a policy changed, or a scanner that was down (a
			// scan that did not complete blocks) can pass it now. The
			// image is not copied again.
			r.Step = StepVerifySignatures
			r.RiskScore, r.Risk = nil, nil
		default:
			return fmt.Errorf("acquisition %s is %s: %w", id, r.State, ErrNotRetryable)
		}
		verdict := ""
		if r.Verdict == StatePromoted && r.State == StateFailed && (r.Step == StepEnrich || r.Step == StepSign || r.Step == StepPromote) {
			verdict = string(StatePromoted)
		}
		r.State, r.Attempts, r.Error, r.Reasons, r.Warnings, r.Verdict = StateQueued, 0, "", []string{}, nil, State(verdict)
		r.UpdatedAt = p.cfg.Now().UTC()
		b, err := r.marshal()
		if err != nil {
			return err
		}
		a.State, a.Step, a.Record, a.Attempts, a.RunAfter = string(r.State), string(r.Step), b, 0, time.Time{}
		rec = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.audit(ctx, audit.Event{Actor: by, ActorKind: actorKind(by), Action: "acquire.retry", Repo: "quarantine/" + rec.Name, Target: "acquisition:" + id, Reason: rec.Source})
	p.Wake()
	return rec, nil
}

// failedStep is the step a failed acquisition stopped at.
func failedStep(r *Record) Step {
	if r.FailedStep != "" {
		return r.FailedStep
	}
	return StepImport
}

// Wake tells an idle worker there is work.
func (p *Pipeline) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run runs the workers until ctx ends.
func (p *Pipeline) Run(ctx context.Context) error {
	if p.cfg.SoleWorker {
		n, err := p.cfg.Queue.ReleaseAcquisitionLeases(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			p.log.InfoContext(ctx, "resuming acquisitions interrupted by a stop", "count", n)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.schedule(ctx)
	}()
	prefix := newID(p.cfg.Now())
	for i := range p.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work(ctx, fmt.Sprintf("%s-w%d", prefix, i))
		}()
	}
	wg.Wait()
	return nil
}

func (p *Pipeline) work(ctx context.Context, owner string) {
	for ctx.Err() == nil {
		row, ok, err := p.cfg.Queue.ClaimAcquisition(ctx, owner, p.cfg.Now(), p.cfg.Lease, string(StateRunning), string(StateQueued))
		if err != nil {
			if ctx.Err() == nil {
				p.log.ErrorContext(ctx, "claim an acquisition", "err", err)
			}
		}
		if ok {
			p.process(ctx, owner, row)
			continue
		}
		t := time.NewTimer(p.cfg.Poll)
		select {
		case <-ctx.Done():
		case <-p.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// schedule runs due sync rules, and rescans golden/ when the
// vulnerability data changes.
func (p *Pipeline) schedule(ctx context.Context) {
	syncTick := time.NewTicker(min(p.cfg.Poll*5, 15*time.Second))
	defer syncTick.Stop()
	rescanTick := time.NewTicker(p.cfg.RescanCheck)
	defer rescanTick.Stop()
	for {
		if p.cfg.Sync != nil {
			p.runDueSyncRules(ctx)
		}
		if p.cfg.Retire != nil {
			p.removeRetired(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-syncTick.C:
		case <-rescanTick.C:
			if p.cfg.Rematch != nil && p.rescanDue() {
				if _, err := p.Rescan(ctx, false); err != nil && ctx.Err() == nil {
					p.log.ErrorContext(ctx, "rescan of golden/", "err", err)
				}
			}
		}
	}
}

// actorKind is who asked, for the audit trail: a sync rule is the
// system, anyone else a user (or robot) through the API.
func actorKind(by string) string {
	if strings.HasPrefix(by, "sync:") {
		return "system"
	}
	return "user"
}

func newID(t time.Time) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// auditOnce records e unless the acquisition already has an event of
// that action: a step run again after a crash (its work done, its save
// not) must not say twice that it happened.
func (p *Pipeline) auditOnce(ctx context.Context, id string, e audit.Event) {
	if p.cfg.Audit == nil {
		return
	}
	e.Target = "acquisition:" + id
	prior, err := p.cfg.Audit.List(ctx, audit.Filter{Action: e.Action, Target: e.Target, Limit: 1})
	if err != nil {
		p.log.ErrorContext(ctx, "audit trail", "err", err, "action", e.Action)
	}
	if len(prior) > 0 {
		return
	}
	p.audit(ctx, e)
}

func (p *Pipeline) audit(ctx context.Context, e audit.Event) {
	if p.cfg.Audit == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = p.cfg.Now()
	}
	if e.Actor == "" {
		e.Actor = "cssc-pipeline"
	}
	if e.ActorKind == "" {
		e.ActorKind = "system"
	}
	if e.Decision == "" {
		e.Decision = audit.Allow
	}
	if _, err := p.cfg.Audit.Record(ctx, e); err != nil {
		p.log.ErrorContext(ctx, "audit trail", "err", err, "action", e.Action)
	}
}
