package acquire

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cssc-project/cssc/internal/attest"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/notary"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
	"github.com/cssc-project/cssc/internal/upstream"
)

// verifySignatures verifies the upstream's own signatures (copied into
// quarantine with the image) under the allow-list entry's policy and
// trust material. The policy decides on the outcome (step decide).
func (r *run) verifySignatures(ctx context.Context) (stepResult, error) {
	p, rec := r.p, r.rec
	src, err := parseSource(rec.Source)
	if err != nil {
		return stepResult{}, err
	}
	up, err := p.cfg.Upstreams.Match(ctx, rec.Source)
	if err != nil {
		return stepResult{}, err
	}
	res := &SignatureResult{Policy: up.SignaturePolicy}
	if res.Policy == "" {
		res.Policy = upstream.SignatureIfPresent
	}
	rec.Signatures = res
	if res.Policy == upstream.SignatureSkip {
		res.Detail = "upstream " + up.Name + " skips signature verification"
		return stepResult{outcome: "skipped", detail: res.Detail, next: StepVerifyMetadata}, nil
	}
	t, err := r.localTarget(ctx, r.quarantineRepo(), rec.Digest)
	if err != nil {
		return stepResult{}, err
	}
	// Trust policy scopes name the upstream repository; the signatures
	// sign the digest, which the copy kept.
	t.Ref, t.Name = src.Name()+"@"+rec.Digest, src.Name()
	checkers, err := checkersFor(up)
	if err != nil {
		return stepResult{}, permanent(err)
	}
	configured := 0
	passed := true
	var failures []string
	for _, c := range checkers {
		sigs, verdict, err := c.Check(ctx, t)
		if err != nil {
			return stepResult{}, fmt.Errorf("verify upstream signatures of %s: %w", src, err)
		}
		if len(sigs) > 0 {
			res.Found = true
		}
		for _, s := range sigs {
			if s.Verified && s.Identity != "" {
				res.Signers = append(res.Signers, s.Identity)
			}
			if res.Format == "" || s.Verified {
				res.Format = family(s.Format)
			}
			if !s.Verified && c.Configured() {
				failures = append(failures, fmt.Sprintf("%s signature %s: %s", s.Format, sign.ShortDigest(s.Digest), reasonText(s)))
			}
		}
		if c.Configured() {
			configured++
			if !verdict.Passed {
				passed = false
				if verdict.Reason != "" && len(failures) == 0 {
					failures = append(failures, c.Name()+": "+verdict.Reason)
				}
			}
		}
	}
	switch {
	case !res.Found:
		res.Detail = "no upstream signature"
	case configured == 0:
		res.Detail = fmt.Sprintf("the image is signed upstream, but upstream %s has no trust material to verify it against (give it a Notary trust policy, a cosign key or a Sigstore trusted root, or set its signature policy to skip)", up.Name)
	case passed:
		res.Verified = true
		res.Detail = "verified: " + strings.Join(res.Signers, ", ")
	default:
		res.Detail = strings.Join(failures, "; ")
	}
	outcome := "ok"
	if res.Found && !res.Verified {
		outcome = "not verified"
	}
	return stepResult{outcome: outcome, detail: res.Detail, next: StepVerifyMetadata}, nil
}

func checkersFor(up upstream.Upstream) ([]sign.Checker, error) {
	n := notary.Unconfigured()
	if up.NotationPolicy != "" {
		c, err := notary.NewChecker(up.NotationPolicy, up.NotationTrustStore)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: Notary trust policy: %w", up.Name, err)
		}
		n = c
	}
	s, err := sigstore.New(sigstore.Options{
		CosignKey: up.CosignKey, TrustedRoot: up.SigstoreTrustedRoot,
		Identity: up.CertificateIdentity, IdentityRegexp: up.CertificateIdentityRegexp,
		Issuer: up.CertificateOIDCIssuer, IssuerRegexp: up.CertificateOIDCIssuerRegexp,
	})
	if err != nil {
		return nil, fmt.Errorf("upstream %s: Sigstore trust: %w", up.Name, err)
	}
	return []sign.Checker{n, s}, nil
}

// family is the policy's name of a signature format's family.
func family(f sign.Format) string {
	if f == sign.FormatNotationJWS || f == sign.FormatNotationCOSE {
		return "notation"
	}
	return "cosign"
}

func reasonText(s sign.Signature) string {
	if s.Detail != "" {
		return string(s.Reason) + " (" + s.Detail + ")"
	}
	return string(s.Reason)
}

// Metadata is what verify-metadata found attached upstream.
type Metadata struct {
	Provenance *Provenance `json:"provenance,omitempty"`
	// Problems are attached statements that could not be read.
	Problems []string `json:"problems,omitempty"`
}

// Provenance is an upstream SLSA provenance statement (read, not
// verified: its signature is not the upstream's image signature).
type Provenance struct {
	PredicateType string `json:"predicate_type"`
	BuilderID     string `json:"builder_id,omitempty"`
	BuildType     string `json:"build_type,omitempty"`
	Digest        string `json:"digest"`
}

// provenancePredicates are the SLSA provenance versions read.
var provenancePredicates = []string{attest.PredicateProvenance, "https://slsa.dev/provenance/v0.2"}

// verifyMetadata reads the provenance attached upstream, for policy
// (e.g. a required builder). Attached SBOMs are read by analyse, where
// policy decides whether to use them.
func (r *run) verifyMetadata(ctx context.Context) (stepResult, error) {
	rec := r.rec
	t, err := r.localTarget(ctx, r.quarantineRepo(), rec.Digest)
	if err != nil {
		return stepResult{}, err
	}
	var md Metadata
	atts, err := attest.Attestations(ctx, t, "")
	if err != nil {
		return stepResult{}, err
	}
	for _, a := range atts {
		if !slices.Contains(provenancePredicates, a.PredicateType) {
			continue
		}
		pv, err := readProvenance(a)
		if err != nil {
			md.Problems = append(md.Problems, err.Error())
			continue
		}
		md.Provenance = pv
		break
	}
	b, err := json.Marshal(md)
	if err != nil {
		return stepResult{}, err
	}
	r.outputs["metadata"] = b
	detail := "no provenance attached"
	if md.Provenance != nil {
		detail = "provenance " + md.Provenance.PredicateType
		if md.Provenance.BuilderID != "" {
			detail += " from builder " + md.Provenance.BuilderID
		}
	}
	if len(md.Problems) > 0 {
		detail += "; unreadable: " + strings.Join(md.Problems, "; ")
	}
	return stepResult{outcome: "ok", detail: detail, next: StepAnalyse}, nil
}

func readProvenance(a attest.Attestation) (*Provenance, error) {
	var env struct {
		Payload []byte `json:"payload"`
	}
	if err := json.Unmarshal(a.Envelope, &env); err != nil {
		return nil, fmt.Errorf("provenance %s: %w", a.Desc.Digest, err)
	}
	var st struct {
		PredicateType string `json:"predicateType"`
		Predicate     struct {
			Builder         struct{ ID string } `json:"builder"` // v0.2
			BuildType       string              `json:"buildType"`
			BuildDefinition struct {
				BuildType string `json:"buildType"`
			} `json:"buildDefinition"`
			RunDetails struct {
				Builder struct{ ID string } `json:"builder"`
			} `json:"runDetails"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		return nil, fmt.Errorf("provenance %s: %w", a.Desc.Digest, err)
	}
	pv := &Provenance{PredicateType: st.PredicateType, Digest: a.Desc.Digest.String()}
	pv.BuilderID = st.Predicate.RunDetails.Builder.ID
	if pv.BuilderID == "" {
		pv.BuilderID = st.Predicate.Builder.ID
	}
	pv.BuildType = st.Predicate.BuildDefinition.BuildType
	if pv.BuildType == "" {
		pv.BuildType = st.Predicate.BuildType
	}
	return pv, nil
}
