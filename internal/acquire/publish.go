package acquire

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-project/cssc/internal/analysis"
	"github.com/cssc-project/cssc/internal/attest"
	"github.com/cssc-project/cssc/internal/audit"
	"github.com/cssc-project/cssc/internal/notify"
	"github.com/cssc-project/cssc/internal/policy"
	"github.com/cssc-project/cssc/internal/report"
	"github.com/cssc-project/cssc/internal/sbom"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/notary"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
	"github.com/cssc-project/cssc/internal/store"
)

// Annotations cssc puts on what it attaches, so a step run again (after a
// crash) finds what it attached before instead of attaching it twice.
const (
	AnnotationAcquisition = "dev.cssc.acquisition"
	AnnotationKind        = "dev.cssc.kind"
)

// Artifact types cssc attaches besides the in-toto and lifecycle ones.
const (
	ArtifactTypeSPDX       = "application/spdx+json"
	ArtifactTypeCycloneDX  = "application/vnd.cyclonedx+json"
	ArtifactTypeSARIF      = "application/sarif+json"
	ArtifactTypeScanReport = "application/vnd.cssc.scan-report.v1+json"
)

// Kinds of attached artifact (AnnotationKind, Referrer.Kind).
const (
	KindSPDX       = "sbom-spdx"
	KindCycloneDX  = "sbom-cyclonedx"
	KindSARIF      = "sarif"
	KindScanReport = "scan-report"
	KindVSA        = "vsa"
	KindProvenance = "provenance"
	KindLifecycle  = "lifecycle"
	KindSignature  = "signature"
)

// attached lists what this acquisition attached to t before, by kind.
func (r *run) attached(ctx context.Context, t *sign.Target) (map[string]ocispec.Descriptor, error) {
	out := map[string]ocispec.Descriptor{}
	err := t.Repo.Referrers(ctx, t.Desc, "", func(refs []ocispec.Descriptor) error {
		for _, d := range refs {
			if d.Annotations[AnnotationAcquisition] == r.rec.ID && d.Annotations[AnnotationKind] != "" {
				out[d.Annotations[AnnotationKind]] = d
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list referrers of %s: %w", t.DigestRef(), err)
	}
	return out, nil
}

// enrich attaches the SBOMs, the reports, the verification summary, the
// acquisition provenance and the lifecycle to the image and to each of
// its platform manifests.
func (r *run) enrich(ctx context.Context) (stepResult, error) {
	p, rec := r.p, r.rec
	var platforms []analysis.Platform
	if err := r.output(ctx, "analysis", &platforms); err != nil {
		return stepResult{}, err
	}
	var decisions []policy.Decision
	if err := r.output(ctx, "decision", &decisions); err != nil {
		return stepResult{}, err
	}
	tool := report.Tool{Name: "cssc", Version: p.cfg.Version, InformationURI: "https://github.com/cssc-project/cssc"}
	at := rec.DecidedAt
	rec.Referrers = []Referrer{}
	eol := r.endOfLife(platforms)

	// Debug-only content the policy names is stripped from what is
	// promoted (D4); the attachments then go on the new digests, and the
	// upstream's own referrers stay with the original in quarantine.
	root, moved, stripped, err := r.strip(ctx, p.cfg.Policy.Settings().Strip)
	if err != nil {
		return stepResult{}, err
	}
	rec.Digest, rec.Stripped = root, stripped
	newDigest := func(d string) string {
		if n, ok := moved[d]; ok {
			return n
		}
		return d
	}
	upstreamOf := map[string]string{rec.Digest: rec.UpstreamDigest}
	subjects := []string{rec.Digest}
	for _, pl := range platforms {
		if d := newDigest(pl.Digest); d != rec.Digest {
			subjects = append(subjects, d)
			upstreamOf[d] = pl.Digest
		}
	}
	for _, subject := range subjects {
		t, err := r.localTarget(ctx, r.quarantineRepo(), subject)
		if err != nil {
			return stepResult{}, err
		}
		have, err := r.attached(ctx, t)
		if err != nil {
			return stepResult{}, err
		}
		attach := func(kind, artifactType string, push func(annotations map[string]string) (ocispec.Descriptor, error)) error {
			d, ok := have[kind]
			if !ok {
				annotations := map[string]string{
					AnnotationAcquisition: rec.ID, AnnotationKind: kind,
					ocispec.AnnotationCreated: at.Format(time.RFC3339),
				}
				var err error
				if d, err = push(annotations); err != nil {
					return err
				}
			}
			rec.Referrers = append(rec.Referrers, Referrer{ArtifactType: artifactType, Digest: d.Digest.String(), Subject: subject, Kind: kind})
			return nil
		}
		// Per-platform content: the SBOMs and reports of this platform.
		for _, pl := range platforms {
			if newDigest(pl.Digest) != subject {
				continue
			}
			for _, a := range []struct {
				kind, artifactType string
				make               func() ([]byte, error)
			}{
				{KindSPDX, ArtifactTypeSPDX, func() ([]byte, error) { return pl.SBOM(sbom.FormatSPDXJSON) }},
				{KindCycloneDX, ArtifactTypeCycloneDX, func() ([]byte, error) { return pl.SBOM(sbom.FormatCycloneDXJSON) }},
				{KindSARIF, ArtifactTypeSARIF, func() ([]byte, error) { return pl.SARIF(tool) }},
				{KindScanReport, ArtifactTypeScanReport, func() ([]byte, error) { return pl.ReportJSON(tool) }},
			} {
				err := attach(a.kind, a.artifactType, func(ann map[string]string) (ocispec.Descriptor, error) {
					b, err := a.make()
					if err != nil {
						return ocispec.Descriptor{}, fmt.Errorf("make %s of %s: %w", a.kind, subject, err)
					}
					return attest.AttachArtifact(ctx, t, a.artifactType, a.artifactType, b, ann)
				})
				if err != nil {
					return stepResult{}, err
				}
			}
		}
		// The decision, the provenance and the lifecycle: on the image
		// and on each platform manifest.
		subj := attest.Subject{Name: p.cfg.Host + "/" + r.goldenRepo(), Digest: digest.Digest(subject)}
		err = attach(KindVSA, attest.ArtifactTypeInToto, func(ann map[string]string) (ocispec.Descriptor, error) {
			st, err := attest.VerificationSummary(attest.VSAOptions{
				Subject: subj, Version: p.cfg.Version, TimeVerified: at,
				ResourceURI: p.cfg.Host + "/" + r.quarantineRepo() + "@" + subject,
				PolicyURI:   "cssc:policy", PolicyDigest: policyDigest(p.cfg.Policy.Digest()),
				Passed: rec.Verdict == StatePromoted, VerifiedLevels: []string{"CSSC_POLICY_PASSED"},
			})
			if err != nil {
				return ocispec.Descriptor{}, err
			}
			return r.signAttach(ctx, t, st, attest.PredicateVSA, ann)
		})
		if err != nil {
			return stepResult{}, err
		}
		err = attach(KindProvenance, attest.ArtifactTypeInToto, func(ann map[string]string) (ocispec.Descriptor, error) {
			upstreamDigest := upstreamOf[subject]
			var removed []string
			if upstreamDigest != subject {
				removed = stripped
			}
			st, err := attest.AcquisitionProvenance(attest.ProvenanceOptions{
				Subject: subj, Version: p.cfg.Version, Upstream: rec.Source, UpstreamDigest: digest.Digest(upstreamDigest),
				Stripped: removed, InvocationID: rec.ID, StartedOn: rec.CreatedAt, FinishedOn: at,
			})
			if err != nil {
				return ocispec.Descriptor{}, err
			}
			return r.signAttach(ctx, t, st, attest.PredicateProvenance, ann)
		})
		if err != nil {
			return stepResult{}, err
		}
		if !eol.IsZero() {
			err = attach(KindLifecycle, attest.ArtifactTypeLifecycle, func(ann map[string]string) (ocispec.Descriptor, error) {
				return attest.AttachLifecycleAnnotated(ctx, t, eol, ann)
			})
			if err != nil {
				return stepResult{}, err
			}
		}
	}
	detail := fmt.Sprintf("%d artifacts attached to %d manifests", len(rec.Referrers), len(subjects))
	if len(stripped) > 0 {
		detail += fmt.Sprintf(", stripped %s (new digest %s)", strings.Join(stripped, ", "), rec.Digest)
	}
	if !eol.IsZero() {
		detail += ", end of life " + eol.Format("2006-01-02")
	}
	return stepResult{outcome: "ok", detail: detail, next: StepSign}, nil
}

func policyDigest(d string) digest.Digest {
	if strings.Contains(d, ":") {
		return digest.Digest(d)
	}
	return digest.Digest("sha256:" + d)
}

func (r *run) signAttach(ctx context.Context, t *sign.Target, st *attest.Statement, predicateType string, ann map[string]string) (ocispec.Descriptor, error) {
	env, err := attest.Sign(ctx, st, r.p.cfg.Signer)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return attest.AttachAnnotated(ctx, t, env, predicateType, ann)
}

// endOfLife is the lifecycle end of life: the earliest base OS end of
// life of the platforms, capped by the operator's rule.
func (r *run) endOfLife(platforms []analysis.Platform) time.Time {
	var eol time.Time
	for _, pl := range platforms {
		b := pl.PolicyBaseOS()
		if !b.EOL.IsZero() && (eol.IsZero() || b.EOL.Before(eol)) {
			eol = b.EOL
		}
	}
	if m := r.p.cfg.LifecycleMax; m > 0 {
		limit := r.rec.DecidedAt.Add(m)
		if eol.IsZero() || limit.Before(eol) {
			eol = limit
		}
	}
	return eol.UTC().Truncate(time.Second)
}

// sign signs the image, its platform manifests and everything cssc
// attached, with the enterprise key.
func (r *run) sign(ctx context.Context) (stepResult, error) {
	p, rec := r.p, r.rec
	// Signatures recorded by an earlier, interrupted try are found again
	// below; what is signed is the image and what enrich attached.
	attached := rec.Referrers[:0:0]
	for _, ref := range rec.Referrers {
		if ref.Kind != KindSignature {
			attached = append(attached, ref)
		}
	}
	rec.Referrers = attached
	targets := []string{rec.Digest}
	for _, ref := range rec.Referrers {
		if !slices.Contains(targets, ref.Subject) {
			targets = append(targets, ref.Subject)
		}
	}
	for _, ref := range rec.Referrers {
		targets = append(targets, ref.Digest)
	}
	thumb := leafThumbprint(p.cfg.Signer.CertificateChain())
	signed := 0
	for _, d := range targets {
		t, err := r.localTarget(ctx, r.quarantineRepo(), d)
		if err != nil {
			return stepResult{}, err
		}
		// What is signed is what golden/ will serve: a cosign payload names
		// the repository (its docker-reference), and verifiers that check
		// it compare it with where the image is pulled from.
		t.Name = p.cfg.Host + "/" + r.goldenRepo()
		t.Ref = t.Name + "@" + d
		desc, err := r.signOne(ctx, t, thumb)
		if err != nil {
			return stepResult{}, err
		}
		rec.Referrers = append(rec.Referrers, Referrer{ArtifactType: signatureArtifactType(p.cfg.SignFormat), Digest: desc.Digest.String(), Subject: d, Kind: KindSignature})
		signed++
	}
	return stepResult{outcome: "ok", detail: fmt.Sprintf("%d manifests signed (%s, %s)", signed, p.cfg.SignFormat, p.cfg.Signer.KeyRef()), next: StepPromote}, nil
}

func signatureArtifactType(format string) string {
	if format == "cosign" {
		return sign.ArtifactTypeCosign
	}
	return sign.ArtifactTypeNotation
}

// signOne signs t unless this key signed it before (a step run again).
func (r *run) signOne(ctx context.Context, t *sign.Target, thumb string) (ocispec.Descriptor, error) {
	p := r.p
	if p.cfg.SignFormat == "cosign" {
		// A signature this key made before (a step run again) verifies.
		c, err := sigstore.NewKeyChecker(p.cfg.Signer.Public())
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		sigs, _, err := c.Check(ctx, t)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("list signatures of %s: %w", t.DigestRef(), err)
		}
		for _, s := range sigs {
			if s.Verified {
				return ocispec.Descriptor{Digest: digest.Digest(s.Digest)}, nil
			}
		}
		descs, err := sigstore.Sign(ctx, t, p.cfg.Signer, sigstore.SignOptions{Referrers: true, NoTag: true})
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		return descs[len(descs)-1], nil
	}
	var found *ocispec.Descriptor
	err := t.Repo.Referrers(ctx, t.Desc, sign.ArtifactTypeNotation, func(refs []ocispec.Descriptor) error {
		for _, d := range refs {
			var thumbs []string
			if json.Unmarshal([]byte(d.Annotations["io.cncf.notary.x509chain.thumbprint#S256"]), &thumbs) == nil && slices.Contains(thumbs, thumb) {
				found = &d
			}
		}
		return nil
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("list signatures of %s: %w", t.DigestRef(), err)
	}
	if found != nil {
		return *found, nil
	}
	format := sign.FormatNotationJWS
	if p.cfg.SignFormat == "notation-cose" {
		format = sign.FormatNotationCOSE
	}
	return notary.Sign(ctx, t, p.cfg.Signer, notary.SignOptions{Format: format})
}

func leafThumbprint(chain []*x509.Certificate) string {
	if len(chain) == 0 {
		return ""
	}
	sum := sha256.Sum256(chain[0].Raw)
	return hex.EncodeToString(sum[:])
}

// promote copies the image with everything attached into golden/, in one
// transaction.
func (r *run) promote(ctx context.Context) (stepResult, error) {
	p, rec := r.p, r.rec
	tag := rec.Tag
	// A golden tag moves forward only: an older acquisition decided again
	// (a retry) does not take it back from a newer one.
	newer, err := r.newerPromotion(ctx)
	if err != nil {
		return stepResult{}, err
	}
	if newer != nil {
		tag = ""
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("golden tag %s stays on %s, promoted by the newer acquisition %s; this image is in golden/ by digest", rec.Tag, newer.Digest, newer.ID))
	}
	pr, err := p.cfg.Promoter.Promote(ctx, r.quarantineRepo(), r.goldenRepo(), rec.Digest, tag)
	if err != nil {
		return stepResult{}, fmt.Errorf("promote to %s: %w", r.goldenRepo(), err)
	}
	rec.GoldenRef = p.cfg.Host + "/" + r.goldenRepo() + refSuffix(tag, rec.Digest)
	if tag == "" && rec.Tag != "" {
		rec.GoldenRef = p.cfg.Host + "/" + r.goldenRepo() + "@" + rec.Digest
	}
	p.auditOnce(ctx, rec.ID, audit.Event{Action: "acquire.promote", Repo: r.goldenRepo(), Digest: rec.Digest, Tag: tag,
		Reason: fmt.Sprintf("%s: policy passed, risk %d", rec.Source, derefInt(rec.RiskScore))})
	return stepResult{outcome: "ok", detail: fmt.Sprintf("%s (%d manifests)", rec.GoldenRef, len(pr.Manifests)), next: StepNotify}, nil
}

// newerPromotion is a promoted acquisition of the same name and tag
// submitted after this one, if any.
func (r *run) newerPromotion(ctx context.Context) (*Record, error) {
	if r.rec.Tag == "" {
		return nil, nil
	}
	rows, err := r.p.cfg.Queue.ListAcquisitions(ctx, store.AcquisitionFilter{Name: r.rec.Name, State: string(StatePromoted), Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		if row.ID == r.rec.ID || row.Tag != r.rec.Tag || !row.CreatedAt.After(r.rec.CreatedAt) {
			continue
		}
		rec, err := ParseRecord(row.Record)
		if err != nil {
			return nil, err
		}
		if rec.Digest != r.rec.Digest {
			return rec, nil
		}
	}
	return nil, nil
}

func derefInt(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// notify tells the webhooks and the audit trail how the acquisition
// ended.
func (r *run) notify(ctx context.Context) (stepResult, error) {
	p, rec := r.p, r.rec
	kind, image, decision := notify.KindPromoted, rec.GoldenRef, audit.Allow
	switch rec.Verdict {
	case StateBlocked:
		kind, image, decision = notify.KindBlocked, rec.QuarantineRef, audit.Deny
	case StateFailed:
		kind, image, decision = notify.KindFailed, rec.QuarantineRef, audit.Error
	}
	if rec.SameAs == "" || rec.Verdict != StatePromoted {
		reason := rec.Source
		if len(rec.Reasons) > 0 {
			reason += ": " + strings.Join(rec.Reasons, "; ")
		}
		p.auditOnce(ctx, rec.ID, audit.Event{Action: "acquire." + string(rec.Verdict), Repo: "quarantine/" + rec.Name, Digest: rec.Digest, Tag: rec.Tag,
			Decision: decision, Reason: reason})
	}
	if p.cfg.Notifier == nil {
		return stepResult{outcome: "ok", detail: "no webhook configured", next: ""}, nil
	}
	// Webhooks are at least once: a crash between sending and saving
	// this step sends again.
	err := p.cfg.Notifier.Notify(ctx, notify.Event{
		Kind: kind, Time: p.cfg.Now().UTC(), AcquisitionID: rec.ID, Source: rec.Source, Image: image,
		Digest: rec.Digest, RiskScore: derefInt(rec.RiskScore), Reasons: rec.Reasons,
	})
	if err != nil {
		// A webhook that is down does not undo the outcome; it is logged
		// and recorded on the step.
		p.log.WarnContext(ctx, "notification failed", "id", rec.ID, "err", err)
		return stepResult{outcome: "ok", detail: "notification failed: " + err.Error(), next: ""}, nil
	}
	return stepResult{outcome: "ok", detail: "notified " + string(kind), next: ""}, nil
}
