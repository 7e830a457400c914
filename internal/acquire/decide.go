package acquire

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cssc-project/cssc/internal/analysis"
	"github.com/cssc-project/cssc/internal/policy"
	"github.com/cssc-project/cssc/internal/risk"
)

// output reads what an earlier step saved.
func (r *run) output(ctx context.Context, name string, v any) error {
	if b, ok := r.outputs[name]; ok {
		return json.Unmarshal(b, v)
	}
	b, err := r.p.cfg.Queue.AcquisitionOutput(ctx, r.rec.ID, name)
	if err != nil {
		return permanent(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return permanent(fmt.Errorf("read the %s saved by an earlier step: %w", name, err))
	}
	return nil
}

func (r *run) setOutput(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	r.outputs[name] = b
	return nil
}

// analyse builds or reads the SBOM and matches vulnerabilities, and scans
// for malware and secrets, per platform.
func (r *run) analyse(ctx context.Context) (stepResult, error) {
	p, rec := r.p, r.rec
	ref := p.cfg.Host + "/" + r.quarantineRepo() + "@" + rec.Digest
	rec.DataVersion = p.cfg.DataVersion()
	platforms, err := p.cfg.Analyze(ctx, ref, p.cfg.Policy.Settings().UseAttachedSBOM)
	if err != nil {
		return stepResult{}, fmt.Errorf("analyse %s: %w", ref, err)
	}
	if len(platforms) == 0 {
		return stepResult{}, permanent(fmt.Errorf("analyse %s: no image in it", ref))
	}
	if err := r.setOutput("analysis", platforms); err != nil {
		return stepResult{}, err
	}
	var parts []string
	for _, pl := range platforms {
		f := pl.PolicyFindings()
		s := fmt.Sprintf("%s, %s, malware %s, secrets %s", count(len(pl.Inventory.Packages), "package"), count(len(f.Vulnerabilities), "vulnerability", "vulnerabilities"),
			orNone(f.Malware.Status), orNone(f.Secrets.Status))
		if pl.Platform != "" {
			s = pl.Platform + ": " + s
		}
		parts = append(parts, s)
	}
	return stepResult{outcome: "ok", detail: strings.Join(parts, "; "), next: StepScore}, nil
}

func orNone(s string) string {
	if s == "" {
		return "not scanned"
	}
	return s
}

// signatureState is the upstream signature for the risk score.
func (r *run) signatureState() risk.Signature {
	s := r.rec.Signatures
	switch {
	case s == nil || !s.Found:
		return risk.SignatureNone
	case s.Verified:
		return risk.SignatureVerified
	case strings.Contains(s.Detail, "no trust material"):
		return risk.SignaturePresent
	}
	return risk.SignatureInvalid
}

// score computes the risk score of every platform (docs/RISK.md).
func (r *run) score(ctx context.Context) (stepResult, error) {
	p, rec := r.p, r.rec
	var platforms []analysis.Platform
	if err := r.output(ctx, "analysis", &platforms); err != nil {
		return stepResult{}, err
	}
	var md Metadata
	if err := r.output(ctx, "metadata", &md); err != nil {
		return stepResult{}, err
	}
	now := p.cfg.Now().UTC()
	results := make([]risk.Result, len(platforms))
	rec.Risk = nil
	worst := 0
	for i, pl := range platforms {
		res := risk.Score(pl.RiskInput(r.signatureState(), md.Provenance != nil), now)
		results[i] = res
		pr := PlatformRisk{Platform: pl.Platform, Digest: pl.Digest, Score: res.Total, Level: res.Level, Version: res.Version}
		for _, c := range res.Breakdown {
			pr.Lines = append(pr.Lines, RiskComponent{Name: c.Name, Points: c.Points, Detail: c.Why})
		}
		rec.Risk = append(rec.Risk, pr)
		worst = max(worst, res.Total)
	}
	rec.RiskScore = &worst
	if err := r.setOutput("risk", results); err != nil {
		return stepResult{}, err
	}
	return stepResult{outcome: "ok", detail: fmt.Sprintf("risk %d (%s)", worst, risk.Level(worst)), next: StepDecide}, nil
}

// decide asks the policy for every platform; the image passes when every
// platform does.
func (r *run) decide(ctx context.Context) (stepResult, error) {
	p, rec := r.p, r.rec
	var platforms []analysis.Platform
	if err := r.output(ctx, "analysis", &platforms); err != nil {
		return stepResult{}, err
	}
	var results []risk.Result
	if err := r.output(ctx, "risk", &results); err != nil {
		return stepResult{}, err
	}
	var md Metadata
	if err := r.output(ctx, "metadata", &md); err != nil {
		return stepResult{}, err
	}
	if len(results) != len(platforms) {
		return stepResult{}, permanent(fmt.Errorf("saved risk scores (%d) do not match the platforms analysed (%d)", len(results), len(platforms)))
	}
	now := p.cfg.Now().UTC()
	allowed, reasons, warnings, decisions, err := r.decideAll(ctx, platforms, results, md, now)
	if err != nil {
		return stepResult{}, err
	}
	if err := r.setOutput("decision", decisions); err != nil {
		return stepResult{}, err
	}
	rec.PolicyDigest, rec.DecidedAt, rec.Warnings = p.cfg.Policy.Digest(), now, warnings
	rec.Reasons = []string{}
	if !allowed {
		rec.Reasons = reasons
		if len(rec.Reasons) == 0 {
			rec.Reasons = []string{"the policy denied without a reason"}
		}
		rec.Verdict = StateBlocked
		return stepResult{outcome: "block", detail: strings.Join(rec.Reasons, "; "), next: StepNotify}, nil
	}
	rec.Verdict = StatePromoted
	detail := "policy passed"
	if len(warnings) > 0 {
		detail += " with warnings: " + strings.Join(warnings, "; ")
	}
	return stepResult{outcome: "pass", detail: detail, next: StepEnrich}, nil
}

func refOrDigest(s source) string {
	if s.Tag != "" {
		return s.Tag
	}
	return s.Digest
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// count writes n with its noun: "1 package", "2 packages".
func count(n int, one string, many ...string) string {
	if n == 1 {
		return "1 " + one
	}
	if len(many) > 0 {
		return fmt.Sprintf("%d %s", n, many[0])
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// decideAll asks the policy for every platform at the promote checkpoint;
// the image passes when every platform does. Reasons and warnings name
// the platform when there are several.
func (r *run) decideAll(ctx context.Context, platforms []analysis.Platform, results []risk.Result, md Metadata, now time.Time) (allowed bool, reasons, warnings []string, decisions []policy.Decision, err error) {
	p, rec := r.p, r.rec
	src, err := parseSource(rec.Source)
	if err != nil {
		return false, nil, nil, nil, err
	}
	var all []policy.Exception
	if p.cfg.Exceptions != nil {
		if all, err = p.cfg.Exceptions.Exceptions(ctx, now); err != nil {
			return false, nil, nil, nil, fmt.Errorf("read exceptions: %w", err)
		}
	}
	repos := []string{rec.Name, r.quarantineRepo(), r.goldenRepo(), src.Name(), src.Repository}
	sig := policy.SignatureCheck{}
	if s := rec.Signatures; s != nil {
		sig = policy.SignatureCheck{Found: s.Found, Verified: s.Verified, Signers: s.Signers, Format: s.Format}
		if s.Found && !s.Verified {
			sig.Error = s.Detail
		}
	}
	sigPolicy := ""
	if rec.Signatures != nil {
		sigPolicy = rec.Signatures.Policy
	}
	allowed = true
	for i, pl := range platforms {
		ref := p.cfg.Host + "/" + r.quarantineRepo() + "@" + pl.Digest
		in := policy.Input{
			Checkpoint: policy.CheckpointPromote, Now: now,
			Image:    pl.PolicyImage(ref, r.quarantineRepo()),
			Upstream: policy.Upstream{Registry: src.Registry, Repository: src.Repository, Reference: refOrDigest(src), SignaturePolicy: sigPolicy},
			Findings: pl.PolicyFindings(), Risk: results[i],
			Signatures: policy.Signatures{Upstream: sig},
			SBOM:       sbomAttachment(pl.AttachedSBOM),
			Provenance: provenanceAttachment(md.Provenance),
			BaseOS:     pl.PolicyBaseOS(),
			Exceptions: policy.ActiveExceptions(all, pl.Digest, append(repos, rec.Digest), now),
		}
		if in.Exceptions == nil {
			in.Exceptions = []policy.Exception{}
		}
		d, err := p.cfg.Policy.Decide(ctx, in)
		if err != nil {
			return false, nil, nil, nil, permanent(fmt.Errorf("policy decision: %w", err))
		}
		decisions = append(decisions, d)
		prefix := ""
		if len(platforms) > 1 && pl.Platform != "" {
			prefix = pl.Platform + ": "
		}
		if !d.Allowed {
			allowed = false
		}
		for _, s := range d.Reasons {
			reasons = appendUnique(reasons, prefix+s)
		}
		for _, s := range d.Warnings {
			warnings = appendUnique(warnings, prefix+s)
		}
	}
	return allowed, reasons, warnings, decisions, nil
}

func sbomAttachment(a *analysis.AttachedSBOM) policy.Attachment {
	if a == nil {
		return policy.Attachment{}
	}
	return policy.Attachment{Present: true, Format: string(a.Format), Licenses: a.Licenses}
}

func provenanceAttachment(pv *Provenance) policy.Attachment {
	if pv == nil {
		return policy.Attachment{}
	}
	return policy.Attachment{Present: true, BuilderID: pv.BuilderID, BuildType: pv.BuildType}
}
