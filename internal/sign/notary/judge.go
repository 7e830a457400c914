package notary

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/notaryproject/tspclient-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-project/cssc/internal/sign"
)

// judgement is what one signature's verification outcome means.
type judgement struct {
	passed bool // passes the verification level (failures at most logged)
	reason sign.Reason
	detail string

	identity, issuer string
	signedAt         *time.Time
	timestamp        *time.Time // a verified RFC 3161 timestamp
	expires          *time.Time
}

func (j judgement) fill(s *sign.Signature) {
	s.Verified = j.passed && j.reason == ""
	s.Reason, s.Detail = j.reason, j.detail
	if j.passed && j.reason != "" {
		s.Detail = fmt.Sprintf("%s (logged only: the trust policy does not enforce this check at level %s)", j.detail, s.Level)
	}
	s.Identity, s.Issuer = j.identity, j.issuer
	s.SignedAt, s.Timestamp, s.Expires = j.signedAt, j.timestamp, j.expires
}

// judge reads notation-go's outcome for one signature of subject, verified
// under stmt at about now; verr is what the verifier returned.
//
// The checks are notation-go's; judge only names what failed, from the
// verification result's type and the library's error types: integrity
// (tampered-payload, or malformed when the envelope cannot be read),
// authenticity (untrusted-chain for a chain the trust store does not
// anchor, untrusted-identity for a leaf not among trustedIdentities),
// expiry (signature-expired), authentic timestamp (certificate-expired or
// invalid-timestamp, see timestampReason), revocation (other). The payload
// must cover subject (digest-mismatch otherwise), whatever the level.
func judge(outcome *notation.VerificationOutcome, verr error, subject ocispec.Descriptor, stmt *trustpolicy.TrustPolicy, now time.Time) judgement {
	var j judgement
	env := outcome.EnvelopeContent
	if env == nil {
		// Only integrity ran, and failed.
		j.reason, j.detail = sign.ReasonMalformed, errText(verr)
		if r := resultOf(outcome, trustpolicy.TypeIntegrity); r != nil && r.Error != nil {
			j.detail = r.Error.Error()
			var ie *signature.SignatureIntegrityError
			if errors.As(r.Error, &ie) {
				j.reason = sign.ReasonTampered
			}
		}
		return j
	}
	chain := env.SignerInfo.CertificateChain
	leaf := chain[0] // the envelope's validation requires a chain
	j.identity, j.issuer = leaf.Subject.String(), leaf.Issuer.String()
	signedAt := env.SignerInfo.SignedAttributes.SigningTime
	j.signedAt = &signedAt

	var payload struct {
		TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
	}
	if err := json.Unmarshal(env.Payload.Content, &payload); err != nil {
		j.reason, j.detail = sign.ReasonMalformed, "signature payload: "+err.Error()
		return j
	}
	if got := payload.TargetArtifact; !content.Equal(got, subject) {
		j.reason = sign.ReasonDigestMismatch
		j.detail = fmt.Sprintf("the signature covers %s (%s, %d bytes), not %s (%s, %d bytes)",
			got.Digest, got.MediaType, got.Size, subject.Digest, subject.MediaType, subject.Size)
		return j
	}

	// The failure that decided (an enforced one), else the first logged.
	var enforced, logged *notation.ValidationResult
	for _, r := range outcome.VerificationResults {
		if r.Error == nil || r.Action == trustpolicy.ActionSkip {
			continue
		}
		if r.Action == trustpolicy.ActionEnforce && enforced == nil {
			enforced = r
		}
		if r.Action == trustpolicy.ActionLog && logged == nil {
			logged = r
		}
	}
	j.passed = verr == nil
	switch r := enforced; {
	case r == nil && !j.passed:
		// A failure outside the validation types, e.g. a signature that
		// requires a verification plugin.
		j.reason, j.detail = sign.ReasonOther, verr.Error()
	case r != nil || logged != nil:
		if r == nil {
			r = logged
		}
		j.reason, j.detail = resultReason(r, env, stmt, now), r.Error.Error()
	}

	tsUsed := false
	if r := resultOf(outcome, trustpolicy.TypeAuthenticTimestamp); r != nil && r.Error == nil && timestampVerified(env, stmt, now) {
		if ts, err := timestampOf(env); err == nil {
			v := ts.Value
			j.timestamp, tsUsed = &v, true
		}
	}
	var exp time.Time
	if e := env.SignerInfo.SignedAttributes.Expiry; !e.IsZero() {
		exp = e
	}
	if !tsUsed {
		// Without a trusted timestamp the signature is good only while its
		// certificates are.
		for _, c := range chain {
			if exp.IsZero() || c.NotAfter.Before(exp) {
				exp = c.NotAfter
			}
		}
	}
	if !exp.IsZero() {
		j.expires = &exp
	}
	return j
}

// resultOf is the outcome's result for a validation type.
func resultOf(o *notation.VerificationOutcome, typ trustpolicy.ValidationType) *notation.ValidationResult {
	for _, r := range o.VerificationResults {
		if r.Type == typ {
			return r
		}
	}
	return nil
}

// resultReason names a failed validation.
func resultReason(r *notation.ValidationResult, env *signature.EnvelopeContent, stmt *trustpolicy.TrustPolicy, now time.Time) sign.Reason {
	switch r.Type {
	case trustpolicy.TypeIntegrity:
		var ie *signature.SignatureIntegrityError
		if errors.As(r.Error, &ie) {
			return sign.ReasonTampered
		}
		return sign.ReasonMalformed
	case trustpolicy.TypeAuthenticity:
		if chainFailure(r.Error) {
			return sign.ReasonUntrustedChain
		}
		// notation-go replaces a passed chain check's result by the
		// trustedIdentities check's error, which has no type of its own.
		return sign.ReasonUntrustedIdentity
	case trustpolicy.TypeExpiry:
		return sign.ReasonSignatureExpired
	case trustpolicy.TypeAuthenticTimestamp:
		return timestampReason(env, stmt, now)
	}
	return sign.ReasonOther
}

// chainFailure reports whether an authenticity error is about the chain
// and the trust store (not the trusted identities).
func chainFailure(err error) bool {
	var (
		ae *signature.SignatureAuthenticityError
		vi notation.VerificationInconclusiveError // no trusted certificate at all
		ts truststore.TrustStoreError
		ce truststore.CertificateError
	)
	return errors.As(err, &ae) || errors.As(err, &vi) || errors.As(err, &ts) || errors.As(err, &ce)
}

// timestampReason names an authentic-timestamp failure. Under notary.x509
// notation-go checks the certificates' validity now, unless the statement
// has a tsa trust store and asks for the timestamp (verifyTimestamp
// "always", or "afterCertExpiry" once a certificate expired); then it
// checks an RFC 3161 countersignature and the certificates' validity at
// its time.
//
// certificate-expired: a certificate was not valid now and no timestamp
// was asked for or there is none; or the countersignature's time falls
// outside a certificate's validity. invalid-timestamp: anything else about
// the timestamp (required but missing, untrusted, malformed).
func timestampReason(env *signature.EnvelopeContent, stmt *trustpolicy.TrustPolicy, now time.Time) sign.Reason {
	if env.SignerInfo.SignedAttributes.SigningScheme != signature.SigningSchemeX509 {
		// notary.x509.signingAuthority: the signing time is authentic and
		// a certificate was not valid at it.
		return sign.ReasonCertificateExpired
	}
	chain := env.SignerInfo.CertificateChain
	if !timestampVerified(env, stmt, now) {
		return sign.ReasonCertificateExpired
	}
	if len(env.SignerInfo.UnsignedAttributes.TimestampSignature) == 0 {
		if !validAt(chain, now) {
			return sign.ReasonCertificateExpired
		}
		return sign.ReasonTimestamp
	}
	if ts, err := timestampOf(env); err == nil {
		for _, c := range chain {
			if !ts.BoundedAfter(c.NotBefore) || !ts.BoundedBefore(c.NotAfter) {
				return sign.ReasonCertificateExpired
			}
		}
	}
	return sign.ReasonTimestamp
}

// timestampVerified reports whether notation-go verifies the RFC 3161
// countersignature of a notary.x509 signature under stmt at now (rather
// than the certificates' validity now).
func timestampVerified(env *signature.EnvelopeContent, stmt *trustpolicy.TrustPolicy, now time.Time) bool {
	if env.SignerInfo.SignedAttributes.SigningScheme != signature.SigningSchemeX509 {
		return false
	}
	tsa := false
	for _, s := range stmt.TrustStores {
		if typ, _, _ := strings.Cut(s, ":"); truststore.Type(typ) == truststore.TypeTSA {
			tsa = true
		}
	}
	if !tsa {
		return false
	}
	if stmt.SignatureVerification.VerifyTimestamp != trustpolicy.OptionAfterCertExpiry {
		return true
	}
	for _, c := range env.SignerInfo.CertificateChain {
		if now.After(c.NotAfter) {
			return true
		}
	}
	return false
}

func validAt(chain []*x509.Certificate, t time.Time) bool {
	for _, c := range chain {
		if t.Before(c.NotBefore) || t.After(c.NotAfter) {
			return false
		}
	}
	return true
}

// timestampOf reads the time of the signature's RFC 3161 countersignature
// (checking it covers the signature; its trust is notation-go's to
// verify).
func timestampOf(env *signature.EnvelopeContent) (*tspclient.Timestamp, error) {
	token, err := tspclient.ParseSignedToken(env.SignerInfo.UnsignedAttributes.TimestampSignature)
	if err != nil {
		return nil, err
	}
	info, err := token.Info()
	if err != nil {
		return nil, err
	}
	return info.Validate(env.SignerInfo.Signature)
}
