package acquire

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"oras.land/oras-go/v2/errdef"

	"github.com/cssc-project/cssc/internal/analysis"
	"github.com/cssc-project/cssc/internal/audit"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/notify"
	"github.com/cssc-project/cssc/internal/risk"
	"github.com/cssc-project/cssc/internal/store"
)

// Rematcher matches an inventory against the current vulnerability data.
type Rematcher func(ctx context.Context, inv inventory.Inventory) (*match.Report, error)

// RescanResult is one golden image's rescan.
type RescanResult struct {
	ID        string   `json:"id"`
	Image     string   `json:"image"`
	Digest    string   `json:"digest"`
	RiskScore int      `json:"risk_score"`
	Passed    bool     `json:"passed"`
	Reasons   []string `json:"reasons,omitempty"`
	Demoted   bool     `json:"demoted,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// RescanReport is a rescan of every image in golden/.
type RescanReport struct {
	DataVersion string         `json:"data_version"`
	Started     time.Time      `json:"started"`
	Finished    time.Time      `json:"finished"`
	Images      []RescanResult `json:"images"`
	Flagged     int            `json:"flagged"`
	Demoted     int            `json:"demoted"`
}

// Rescan decides again on every image in golden/ with the current
// vulnerability data, policy and exceptions, from the SBOMs stored at
// acquisition (no image is downloaded). An image that no longer passes
// is flagged with its reasons, and taken out of golden/ when the policy
// asks for it (data.cssc.decision.demote); both are notified and audited.
func (p *Pipeline) Rescan(ctx context.Context, force bool) (*RescanReport, error) {
	if p.cfg.Rematch == nil {
		return nil, errors.New("rescan needs the vulnerability database")
	}
	rep := &RescanReport{DataVersion: p.cfg.DataVersion(), Started: p.cfg.Now().UTC(), Images: []RescanResult{}}
	done := map[string]bool{} // golden name:tag already rescanned (the newest acquisition wins)
	var before time.Time
	for {
		rows, err := p.cfg.Queue.ListAcquisitions(ctx, store.AcquisitionFilter{State: string(StatePromoted), Before: before, Limit: 500})
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			rec, err := ParseRecord(row.Record)
			if err != nil {
				return nil, err
			}
			key := rec.Name + "@" + rec.Digest
			if rec.SameAs != "" || done[key] {
				continue
			}
			if !force && rec.DataVersion == rep.DataVersion && rec.PolicyDigest == p.cfg.Policy.Digest() {
				continue // decided on this data and policy already
			}
			res := p.rescanOne(ctx, rec)
			if res == nil {
				continue // no longer in golden/
			}
			done[key] = true
			if !res.Passed {
				rep.Flagged++
			}
			if res.Demoted {
				rep.Demoted++
			}
			rep.Images = append(rep.Images, *res)
		}
		if len(rows) < 500 {
			break
		}
		before = rows[len(rows)-1].CreatedAt
	}
	rep.Finished = p.cfg.Now().UTC()
	p.log.InfoContext(ctx, "rescan of golden/ done", "images", len(rep.Images), "flagged", rep.Flagged, "demoted", rep.Demoted, "data_version", rep.DataVersion)
	p.mu.Lock()
	p.rescannedVersion = rep.DataVersion
	p.mu.Unlock()
	return rep, nil
}

// rescanOne decides again on one promoted acquisition; nil when its image
// is no longer in golden/ (by digest: an image there only by digest is
// pullable too).
func (p *Pipeline) rescanOne(ctx context.Context, rec *Record) *RescanResult {
	r := &run{p: p, rec: rec, outputs: map[string][]byte{}}
	res := &RescanResult{ID: rec.ID, Image: rec.GoldenRef, Digest: rec.Digest}
	fail := func(err error) *RescanResult {
		res.Error = err.Error()
		p.log.ErrorContext(ctx, "rescan", "id", rec.ID, "err", err)
		return res
	}
	if in, err := p.inGolden(ctx, r.goldenRepo(), rec.Digest); err != nil {
		return fail(err)
	} else if !in {
		return nil
	}
	var platforms []analysis.Platform
	if err := r.output(ctx, "analysis", &platforms); err != nil {
		return fail(err)
	}
	for i := range platforms {
		m, err := p.cfg.Rematch(ctx, platforms[i].Inventory)
		if err != nil {
			return fail(err)
		}
		platforms[i].Vulns = m
	}
	var md Metadata
	if err := r.output(ctx, "metadata", &md); err != nil {
		return fail(err)
	}
	now := p.cfg.Now().UTC()
	results := make([]risk.Result, len(platforms))
	worst := 0
	for i, pl := range platforms {
		results[i] = risk.Score(pl.RiskInput(r.signatureState(), md.Provenance != nil), now)
		worst = max(worst, results[i].Total)
	}
	allowed, reasons, _, decisions, err := r.decideAll(ctx, platforms, results, md, now)
	if err != nil {
		return fail(err)
	}
	res.RiskScore, res.Passed, res.Reasons = worst, allowed, reasons
	demote := false
	for _, d := range decisions {
		demote = demote || d.Demote
	}
	demote = demote && !allowed
	// Out of golden/ first, then the record: a crash in between leaves a
	// record that still says promoted, which the next rescan demotes.
	if demote {
		if _, err := p.cfg.Promoter.Withdraw(ctx, r.goldenRepo(), rec.Digest, "*"); err != nil {
			return fail(fmt.Errorf("demote %s: %w", rec.GoldenRef, err))
		}
		res.Demoted = true
	}
	err = p.cfg.Queue.UpdateAcquisition(ctx, rec.ID, func(a *store.Acquisition) error {
		cur, err := ParseRecord(a.Record)
		if err != nil {
			return err
		}
		cur.RiskScore, cur.DataVersion, cur.PolicyDigest, cur.RescannedAt = &worst, p.cfg.DataVersion(), p.cfg.Policy.Digest(), now
		cur.Flags = nil
		if !allowed {
			cur.Flags = reasons
		}
		if demote {
			cur.State, cur.Reasons = StateDemoted, reasons
		}
		b, err := cur.marshal()
		if err != nil {
			return err
		}
		a.State, a.Record = string(cur.State), b
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if allowed {
		return res
	}
	kind, action := notify.KindFlagged, "golden.flag"
	if demote {
		kind, action = notify.KindDemoted, "golden.demote"
	}
	p.audit(ctx, audit.Event{Action: action, Repo: r.goldenRepo(), Digest: rec.Digest, Tag: rec.Tag, Decision: audit.Deny,
		Target: rec.Source, Reason: "rescan with new vulnerability data: " + strings.Join(reasons, "; ")})
	if p.cfg.Notifier != nil {
		if err := p.cfg.Notifier.Notify(ctx, notify.Event{Kind: kind, Time: now, AcquisitionID: rec.ID, Source: rec.Source,
			Image: rec.GoldenRef, Digest: rec.Digest, RiskScore: worst, Reasons: reasons}); err != nil {
			p.log.WarnContext(ctx, "notification failed", "id", rec.ID, "err", err)
		}
	}
	return res
}

// inGolden reports whether repo holds the manifest dgst.
func (p *Pipeline) inGolden(ctx context.Context, repo, dgst string) (bool, error) {
	rr, err := p.local(repo)
	if err != nil {
		return false, err
	}
	_, err = rr.Resolve(ctx, dgst)
	if errors.Is(err, errdef.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// rescanDue reports whether the data changed since the last rescan.
func (p *Pipeline) rescanDue() bool {
	v := p.cfg.DataVersion()
	p.mu.Lock()
	defer p.mu.Unlock()
	if v == "" || v == "none" {
		return false
	}
	// After a start (nothing rescanned yet) a rescan looks at every image
	// and skips those decided on this data and policy already.
	return v != p.rescannedVersion
}
