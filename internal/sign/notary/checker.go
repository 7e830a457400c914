package notary

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-project/cssc/internal/sign"
)

// Name is the checker's name in verdicts.
const Name = "notary"

// maxSignatures bounds the signatures verified per artifact (notation's
// default limit too): a registry listing thousands cannot make
// verification run for ever. Those beyond are listed, not checked.
const maxSignatures = 100

// Checker verifies the Notary Project signatures of an artifact against a
// trust policy and trust store (sign.Checker).
type Checker struct {
	policy      *trustpolicy.Document // nil: unconfigured
	policyPath  string
	storeRoot   string
	fingerprint string
	verifier    notation.Verifier
	log         *slog.Logger
	now         func() time.Time
}

var _ sign.Checker = (*Checker)(nil)

// NewChecker reads the trust policy at policyPath and uses the trust store
// in trustStoreDir (holding x509/{ca,signingAuthority,tsa}/NAME/; a
// notation configuration directory holding truststore/x509/ works too).
// Empty means notation's own: DefaultPolicyPath and DefaultTrustStoreDir.
// A missing or invalid policy, or a trust store directory given but
// missing, is an error naming the file.
//
// Verification plugins are not supported: a signature that asks for one
// fails.
func NewChecker(policyPath, trustStoreDir string) (*Checker, error) {
	var err error
	if policyPath == "" {
		if policyPath, err = DefaultPolicyPath(); err != nil {
			return nil, err
		}
	}
	doc, raw, err := loadPolicy(policyPath)
	if err != nil {
		return nil, err
	}
	var root string
	if trustStoreDir == "" {
		// notation's trust store may be absent when every statement skips.
		if root, err = DefaultTrustStoreDir(); err != nil {
			return nil, err
		}
	} else if root, err = trustStoreRoot(trustStoreDir); err != nil {
		return nil, err
	}
	fp, err := fingerprint(raw, root)
	if err != nil {
		return nil, err
	}
	v, err := verifier.NewWithOptions(doc, truststore.NewX509TrustStore(newStoreFS(root)), nil, verifier.VerifierOptions{})
	if err != nil {
		return nil, fmt.Errorf("trust policy %s: %w", policyPath, err)
	}
	return &Checker{
		policy: doc, policyPath: policyPath, storeRoot: root, fingerprint: fp,
		verifier: v, log: slog.Default(), now: time.Now,
	}, nil
}

// Unconfigured returns a checker with no policy: it lists Notary Project
// signatures (as sign.ReasonNotChecked) and gives no verdict.
func Unconfigured() *Checker {
	return &Checker{log: slog.Default(), now: time.Now}
}

// WithLogger makes c log to l (signature failures that the trust policy
// only logs, under the audit and permissive levels) and returns c.
func (c *Checker) WithLogger(l *slog.Logger) *Checker {
	c.log = l
	return c
}

// Name returns "notary".
func (c *Checker) Name() string { return Name }

// Configured reports whether c has a trust policy.
func (c *Checker) Configured() bool { return c.policy != nil }

// Fingerprint is a hash of the policy document and of every trust store
// file (path and content); "" when unconfigured.
func (c *Checker) Fingerprint() string { return c.fingerprint }

// PolicyPath is the trust policy file c uses ("" when unconfigured).
func (c *Checker) PolicyPath() string { return c.policyPath }

// Check lists every Notary Project signature of t (through the referrers
// API or its tag schema) and verifies each one on its own, so that each
// is reported with its outcome. The verdict passes when at least one
// signature passes the verification level of the trust policy statement
// for t's repository, or when that level is skip.
func (c *Checker) Check(ctx context.Context, t *sign.Target) ([]sign.Signature, sign.Verdict, error) {
	verdict := sign.Verdict{Checker: Name}
	subject := subjectOf(t.Desc)
	repo := registry.NewRepository(t.Repo)
	var manifests []ocispec.Descriptor
	err := repo.ListSignatures(ctx, subject, func(page []ocispec.Descriptor) error {
		manifests = append(manifests, page...)
		return nil
	})
	if err != nil {
		return nil, verdict, fmt.Errorf("list Notary Project signatures of %s: %w", t.DigestRef(), err)
	}

	var (
		stmt  *trustpolicy.TrustPolicy
		level *trustpolicy.VerificationLevel
		note  sign.Reason // the reason every signature gets when none is to be verified
		why   string
	)
	switch {
	case !c.Configured():
		note, why = sign.ReasonNotChecked, "no Notary Project trust policy given"
	default:
		if stmt, err = c.policy.GetApplicableTrustPolicy(t.DigestRef()); err != nil {
			note, why = sign.ReasonNoPolicy, fmt.Sprintf("no statement of trust policy %s applies to %s", c.policyPath, t.Name)
			verdict.Reason = why
			break
		}
		if level, err = stmt.SignatureVerification.GetVerificationLevel(); err != nil {
			return nil, verdict, fmt.Errorf("trust policy %s, statement %q: %w", c.policyPath, stmt.Name, err)
		}
		if level.Name == trustpolicy.LevelSkip.Name {
			note, why = sign.ReasonNotChecked, fmt.Sprintf("trust policy statement %q skips verification", stmt.Name)
			verdict.Passed, verdict.Skipped = true, true
		}
	}

	sigs := make([]sign.Signature, 0, len(manifests))
	passed := false
	for i, m := range manifests {
		s := sign.Signature{Location: "referrer", Digest: m.Digest.String()}
		if level != nil {
			s.Level = level.Name
		}
		if i >= maxSignatures {
			s.Reason, s.Detail = sign.ReasonNotChecked, fmt.Sprintf("beyond the first %d signatures, which are the ones verified", maxSignatures)
			sigs = append(sigs, s)
			continue
		}
		blob, blobDesc, err := repo.FetchSignatureBlob(ctx, m)
		if err != nil {
			// A registry failure stops a verification that needs this
			// signature; one that is only listed (no policy, or skip)
			// does not.
			if (sign.Unreachable(err) || sign.HTTPError(err)) && note == "" {
				return nil, verdict, fmt.Errorf("read Notary Project signature %s of %s: %w", m.Digest, t.DigestRef(), err)
			}
			s.Reason, s.Detail = sign.ReasonMalformed, "cannot read the signature: "+err.Error()
			if note != "" {
				s.Reason = note
			}
			sigs = append(sigs, s)
			continue
		}
		format, ok := formatOf(blobDesc.MediaType)
		s.Format = format
		switch {
		case note != "":
			s.Reason, s.Detail = note, why
		case !ok:
			s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("envelope media type %q is neither %s nor %s", blobDesc.MediaType, jws.MediaTypeEnvelope, cose.MediaTypeEnvelope)
		default:
			if c.verifyOne(ctx, t, subject, blob, blobDesc.MediaType, stmt, level, &s) {
				passed = true
			}
		}
		sigs = append(sigs, s)
	}
	if note != "" {
		return sigs, verdict, nil
	}
	verdict.Passed = passed
	switch {
	case passed:
	case len(manifests) == 0:
		verdict.Reason = fmt.Sprintf("no Notary Project signature is attached to %s", t.DigestRef())
	default:
		verdict.Reason = fmt.Sprintf("none of the %d Notary Project signature(s) of %s passes trust policy statement %q (level %s)", len(manifests), t.DigestRef(), stmt.Name, level.Name)
	}
	return sigs, verdict, nil
}

// verifyOne verifies one signature envelope with notation-go's verifier and
// fills s from the outcome. It reports whether the signature passes the
// statement's verification level (under audit or permissive a signature
// can pass with failures that are only logged: s then has a Reason and
// Verified false).
func (c *Checker) verifyOne(ctx context.Context, t *sign.Target, subject ocispec.Descriptor, blob []byte, mediaType string, stmt *trustpolicy.TrustPolicy, level *trustpolicy.VerificationLevel, s *sign.Signature) bool {
	outcome, err := c.verifier.Verify(ctx, subject, blob, notation.VerifierVerifyOptions{
		ArtifactReference:  t.DigestRef(),
		SignatureMediaType: mediaType,
	})
	if outcome == nil {
		s.Reason, s.Detail = sign.ReasonOther, errText(err)
		return false
	}
	j := judge(outcome, err, subject, stmt, c.now())
	j.fill(s)
	if j.passed && j.reason != "" {
		c.log.Warn("Notary Project signature failure logged only",
			"image", t.DigestRef(), "signature", s.Digest, "level", level.Name, "reason", j.reason, "detail", j.detail)
	}
	return j.passed
}

// formatOf maps an envelope media type to its format.
func formatOf(mediaType string) (sign.Format, bool) {
	switch mediaType {
	case jws.MediaTypeEnvelope:
		return sign.FormatNotationJWS, true
	case cose.MediaTypeEnvelope:
		return sign.FormatNotationCOSE, true
	}
	return "", false
}

func errText(err error) string {
	if err == nil {
		return "verification gave no outcome"
	}
	return err.Error()
}
