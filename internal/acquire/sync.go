package acquire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/cssc-project/cssc/internal/audit"
	"github.com/cssc-project/cssc/internal/store"
)

// SyncStore keeps sync rules (*store.Store).
type SyncStore interface {
	PutSyncRule(ctx context.Context, r store.SyncRule) error
	ListSyncRules(ctx context.Context, due time.Time) ([]store.SyncRule, error)
	GetSyncRule(ctx context.Context, id string) (store.SyncRule, error)
	UpdateSyncRule(ctx context.Context, r store.SyncRule) error
	DeleteSyncRule(ctx context.Context, id string) error
}

// SyncRule re-acquires an upstream repository's tags on a schedule: every
// Interval, the tags matching Match are resolved, and each tag that is
// new or has moved to another digest since the last run starts an
// acquisition. An upstream that is down, throttles or has deleted a tag
// changes nothing in golden/: the error is recorded and the rule runs
// again at its next time.
type SyncRule struct {
	ID string `json:"id"`
	// Source is the upstream repository, e.g. docker.io/library/alpine.
	Source string `json:"source"`
	// Match is a regular expression over tags (empty: every tag).
	Match    string   `json:"match,omitempty"`
	Interval Duration `json:"interval"`
	// As and Platform are passed to each acquisition.
	As       string `json:"as,omitempty"`
	Platform string `json:"platform,omitempty"`
	// Seen is the digest each matching tag had at the last run.
	Seen      map[string]string `json:"seen,omitempty"`
	LastRun   time.Time         `json:"last_run,omitzero"`
	NextRun   time.Time         `json:"next_run"`
	LastError string            `json:"last_error,omitempty"`
	// LastStarted lists the acquisitions the last run started.
	LastStarted []string  `json:"last_started,omitempty"`
	CreatedBy   string    `json:"created_by,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Duration is a time.Duration written as "6h0m0s" in JSON.
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MinSyncInterval bounds how often a rule may ask an upstream.
const MinSyncInterval = time.Minute

// AddSyncRule validates r, checks its upstream is allow-listed and stores
// it; its first run is due at once.
func (p *Pipeline) AddSyncRule(ctx context.Context, r SyncRule, by string) (*SyncRule, error) {
	if p.cfg.Sync == nil {
		return nil, errors.New("sync rules are not available on this server")
	}
	src, err := parseSource(strings.TrimSuffix(r.Source, ":latest"))
	if err != nil {
		return nil, err
	}
	if src.Tag != "" && src.Tag != "latest" || src.Digest != "" {
		return nil, permanent(fmt.Errorf("sync source %q: give the repository without a tag or digest (the tags come from --match)", r.Source))
	}
	if _, err := regexp.Compile(r.Match); err != nil {
		return nil, permanent(fmt.Errorf("--match %q: %w", r.Match, err))
	}
	if time.Duration(r.Interval) < MinSyncInterval {
		return nil, permanent(fmt.Errorf("interval %s: at least %s", time.Duration(r.Interval), MinSyncInterval))
	}
	if _, err := p.cfg.Upstreams.Match(ctx, src.Name()+":x"); err != nil {
		return nil, err
	}
	if r.Platform != "" && r.Platform != "all" {
		if err := validPlatform(r.Platform); err != nil {
			return nil, permanent(err)
		}
	}
	if r.As != "" {
		if err := validName(r.As); err != nil {
			return nil, permanent(fmt.Errorf("--as %q: %w", r.As, err))
		}
	}
	now := p.cfg.Now().UTC()
	r.ID, r.Source, r.CreatedBy, r.CreatedAt, r.NextRun = "sync-"+newID(now), src.Name(), by, now, now
	r.Seen, r.LastRun, r.LastError, r.LastStarted = nil, time.Time{}, "", nil
	if err := p.saveRule(ctx, &r); err != nil {
		return nil, err
	}
	p.audit(ctx, audit.Event{Actor: by, ActorKind: "user", Action: "sync.add", Target: fmt.Sprintf("%s %s every %s", r.Source, r.Match, time.Duration(r.Interval))})
	p.Wake()
	return &r, nil
}

func (p *Pipeline) saveRule(ctx context.Context, r *SyncRule) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return p.cfg.Sync.PutSyncRule(ctx, store.SyncRule{ID: r.ID, Rule: b, NextRun: r.NextRun})
}

// SyncRules lists the sync rules.
func (p *Pipeline) SyncRules(ctx context.Context) ([]SyncRule, error) {
	if p.cfg.Sync == nil {
		return nil, nil
	}
	rows, err := p.cfg.Sync.ListSyncRules(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	out := make([]SyncRule, 0, len(rows))
	for _, row := range rows {
		var r SyncRule
		if err := json.Unmarshal(row.Rule, &r); err != nil {
			return nil, fmt.Errorf("sync rule %s: %w", row.ID, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// RemoveSyncRule deletes a sync rule; what it acquired stays.
func (p *Pipeline) RemoveSyncRule(ctx context.Context, id, by string) error {
	if p.cfg.Sync == nil {
		return errors.New("sync rules are not available on this server")
	}
	if err := p.cfg.Sync.DeleteSyncRule(ctx, id); err != nil {
		return err
	}
	p.audit(ctx, audit.Event{Actor: by, ActorKind: "user", Action: "sync.remove", Target: id})
	return nil
}

// RunSyncRule runs one rule now (also what the schedule does). Runs are
// one at a time, so two never start acquisitions from the same state.
func (p *Pipeline) RunSyncRule(ctx context.Context, id string) (*SyncRule, error) {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	row, err := p.cfg.Sync.GetSyncRule(ctx, id)
	if err != nil {
		return nil, err
	}
	var r SyncRule
	if err := json.Unmarshal(row.Rule, &r); err != nil {
		return nil, fmt.Errorf("sync rule %s: %w", id, err)
	}
	p.syncOnce(ctx, &r)
	// A rule removed during the run stays removed.
	b, err := json.Marshal(&r)
	if err != nil {
		return nil, err
	}
	if err := p.cfg.Sync.UpdateSyncRule(ctx, store.SyncRule{ID: r.ID, Rule: b, NextRun: r.NextRun}); err != nil {
		return nil, err
	}
	return &r, nil
}

// runDueSyncRules runs the rules that are due.
func (p *Pipeline) runDueSyncRules(ctx context.Context) {
	rows, err := p.cfg.Sync.ListSyncRules(ctx, p.cfg.Now())
	if err != nil {
		p.log.ErrorContext(ctx, "list due sync rules", "err", err)
		return
	}
	for _, row := range rows {
		if ctx.Err() != nil {
			return
		}
		if _, err := p.RunSyncRule(ctx, row.ID); err != nil {
			p.log.ErrorContext(ctx, "sync rule", "id", row.ID, "err", err)
		}
	}
}

// syncOnce resolves the rule's tags and starts an acquisition for each
// new or moved one. Errors are recorded on the rule, never acted on.
func (p *Pipeline) syncOnce(ctx context.Context, r *SyncRule) {
	now := p.cfg.Now().UTC()
	r.LastRun, r.NextRun, r.LastError, r.LastStarted = now, now.Add(time.Duration(r.Interval)), "", nil
	fail := func(err error) {
		r.LastError = err.Error()
		p.log.WarnContext(ctx, "sync rule: upstream not reachable or refused; golden/ unchanged", "id", r.ID, "source", r.Source, "err", err)
	}
	src, err := parseSource(r.Source + ":x")
	if err != nil {
		fail(err)
		return
	}
	re, err := regexp.Compile(r.Match)
	if err != nil {
		fail(err)
		return
	}
	_, repo, err := p.upstreamRepo(ctx, src)
	if err != nil {
		fail(err)
		return
	}
	tags, _, err := matchingTags(ctx, repo, re)
	if err != nil {
		fail(fmt.Errorf("list tags of %s: %w", r.Source, err))
		return
	}
	sort.Strings(tags)
	seen := map[string]string{}
	var gone, problems []string
	for _, t := range tags {
		desc, err := repo.Resolve(ctx, t)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", t, err))
			if d, ok := r.Seen[t]; ok {
				seen[t] = d // keep what was known
			}
			continue
		}
		d := desc.Digest.String()
		seen[t] = d
		if r.Seen[t] == d {
			continue
		}
		req := Request{Source: r.Source + ":" + t, Platform: r.Platform}
		if r.As != "" {
			req.As = r.As
		}
		rec, err := p.Submit(ctx, req, "sync:"+r.ID)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", t, err))
			delete(seen, t) // try again next time
			continue
		}
		r.LastStarted = append(r.LastStarted, rec.ID)
	}
	for t := range r.Seen {
		if _, ok := seen[t]; !ok && re.MatchString(t) {
			gone = append(gone, t)
		}
	}
	r.Seen = seen
	if len(problems) > 0 {
		r.LastError = strings.Join(problems, "; ")
	}
	if len(gone) > 0 {
		sort.Strings(gone)
		p.log.InfoContext(ctx, "sync rule: tags gone upstream; golden/ keeps its copies", "id", r.ID, "tags", gone)
	}
	p.log.InfoContext(ctx, "sync rule ran", "id", r.ID, "source", r.Source, "tags", len(tags), "started", len(r.LastStarted), "next", r.NextRun)
}
