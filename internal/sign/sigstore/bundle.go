package sigstore

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/cssc-project/cssc/internal/sign"
)

// checkBundle verifies a Sigstore bundle with sigstore-go: against the key
// when the bundle carries a public key hint, against the trusted root and
// the identity options when it carries a certificate. The artifact is the
// image manifest's digest: a message signature must sign it, a DSSE
// statement must name it as a subject.
//
// A DSSE bundle whose statement is not a cosign signature (predicate type
// https://sigstore.dev/cosign/sign/v1) is an attestation about the image
// (cosign attest --new-bundle-format writes those under the same artifact
// type): it is listed as not checked and never counts as a signature.
func (c *Checker) checkBundle(t *sign.Target, data []byte, s *sign.Signature) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("decode bundle: %v", err)
		return
	}
	sc, err := b.SignatureContent()
	if err != nil {
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("bundle content: %v", err)
		return
	}
	if env := sc.EnvelopeContent(); env != nil {
		st, err := env.Statement()
		if err != nil {
			s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("the DSSE payload is not an in-toto statement: %v", err)
			return
		}
		if st.GetPredicateType() != SignPredicateType {
			s.Reason, s.Detail = sign.ReasonNotChecked, fmt.Sprintf("an attestation (predicate type %s), not a signature", st.GetPredicateType())
			return
		}
	}
	vc, err := b.VerificationContent()
	if err != nil {
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("bundle verification material: %v", err)
		return
	}
	alg := t.Desc.Digest.Algorithm().String()
	dg, err := hex.DecodeString(t.Desc.Digest.Encoded())
	if err != nil {
		s.Reason, s.Detail = sign.ReasonOther, fmt.Sprintf("image digest %s: %v", t.Desc.Digest, err)
		return
	}
	a := artifact{alg: alg, digest: dg}
	switch {
	case vc.Certificate() != nil:
		c.checkKeyless(&b, vc, sc, a, s)
	case vc.PublicKey() != nil:
		c.checkKeyBundle(&b, vc, sc, a, s)
	default:
		s.Reason, s.Detail = sign.ReasonMalformed, "the bundle has neither a certificate nor a public key"
	}
}

// artifact is what a bundle must sign: the image manifest's digest.
type artifact struct {
	alg    string // "sha256"
	digest []byte
}

func (a artifact) String() string { return a.alg + ":" + hex.EncodeToString(a.digest) }

// checkKeyless verifies a bundle signed with a Fulcio certificate: observer
// timestamps (RFC 3161 from a TSA of the root, and transparency log
// entries when the bundle has any; at least one is required), the chain to
// a Fulcio CA of the root at that time, the signature over the artifact and
// the certificate's identity and issuer.
func (c *Checker) checkKeyless(b *bundle.Bundle, vc verify.VerificationContent, sc verify.SignatureContent, a artifact, s *sign.Signature) {
	if c.trustedRoot == nil {
		s.Reason, s.Detail = sign.ReasonNotChecked, "keyless bundle: give --sigstore-trusted-root, --certificate-identity and --certificate-oidc-issuer"
		return
	}
	leaf := vc.Certificate()
	summary, err := certificate.SummarizeCertificate(leaf)
	if err != nil {
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("signing certificate: %v", err)
		return
	}
	s.Identity, s.Issuer = summary.SubjectAlternativeName, summary.Issuer
	entries, err := b.TlogEntries()
	if err != nil {
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("transparency log entries: %v", err)
		return
	}
	opts := []verify.VerifierOption{verify.WithObserverTimestamps(1)}
	if len(entries) > 0 {
		opts = append(opts, verify.WithTransparencyLog(1))
	}
	// A trusted root that lists certificate-transparency logs (the public
	// Sigstore's does) means its CA's certificates are logged: require the
	// signed certificate timestamp, as cosign verify does.
	if len(c.trustedRoot.CTLogs()) > 0 {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	v, err := verify.NewVerifier(c.trustedRoot, opts...)
	if err != nil {
		s.Reason, s.Detail = sign.ReasonOther, fmt.Sprintf("set up verifier: %v", err)
		return
	}
	res, err := v.Verify(b, verify.NewPolicy(verify.WithArtifactDigest(a.alg, a.digest), verify.WithCertificateIdentity(c.identity)))
	if err == nil {
		s.Verified = true
		if cs := res.Signature.Certificate; cs != nil {
			s.Identity, s.Issuer = cs.SubjectAlternativeName, cs.Issuer
		}
		s.Timestamp = earliest(res.VerifiedTimestamps)
		return
	}
	s.Reason, s.Detail = c.diagnoseKeyless(v, b, summary, sc, vc, a, err)
}

// diagnoseKeyless finds which step of keyless verification failed.
// sigstore-go reports most failures as wrapped strings, without typed
// errors; rather than matching their text, this runs sigstore-go's exported
// steps one by one, and the first that fails gives the reason: signature
// over the content, transparency log entries, timestamps, certificate
// chain at the timestamped time (valid chain at another time: expired),
// identity, artifact digest. verifyErr is reported when every step passes
// on its own.
func (c *Checker) diagnoseKeyless(v *verify.Verifier, b *bundle.Bundle, summary certificate.Summary, sc verify.SignatureContent, vc verify.VerificationContent, a artifact, verifyErr error) (sign.Reason, string) {
	// First, out of sigstore-go's order: a signature that does not match
	// the content was changed after signing, and that also voids the
	// timestamps over it; "tampered" is the cause to report.
	if !signatureValid(sc, vc, c.trustedRoot) {
		return sign.ReasonTampered, "the signature does not match the content it signs (changed after signing)"
	}
	logTimes, err := v.VerifyTransparencyLogInclusion(b)
	if err != nil {
		if reason, detail := c.diagnoseLogEntry(b, vc); reason != "" {
			return reason, detail
		}
		return sign.ReasonTimestamp, fmt.Sprintf("transparency log entry: %v", err)
	}
	if stamps, err := b.Timestamps(); err == nil && len(stamps) == 0 && len(logTimes) == 0 {
		return sign.ReasonTimestamp, "no timestamp (RFC 3161 or transparency log entry): a keyless signature needs one to show its short-lived certificate was valid when it signed"
	}
	times, err := v.VerifyObserverTimestamps(b, logTimes)
	if err != nil {
		return sign.ReasonTimestamp, fmt.Sprintf("no trusted timestamp: %v", err)
	}
	leaf := withoutOtherNameSAN(vc.Certificate())
	for _, ts := range times {
		if _, err := verify.VerifyLeafCertificate(ts.Timestamp, leaf, c.trustedRoot); err == nil {
			continue
		}
		if c.chainsSometime(leaf) {
			return sign.ReasonCertificateExpired, fmt.Sprintf("the certificate is valid from %s to %s; the signature was timestamped at %s",
				leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339), ts.Timestamp.UTC().Format(time.RFC3339))
		}
		return sign.ReasonUntrustedChain, fmt.Sprintf("the certificate (issued by %s) does not chain to a Fulcio CA of the trusted root", leaf.Issuer)
	}
	if err := c.identity.Verify(summary); err != nil {
		return sign.ReasonUntrustedIdentity, fmt.Sprintf("signed by %s (OIDC issuer %s): %v", summary.SubjectAlternativeName, summary.Issuer, err)
	}
	if ok, signed := signsArtifact(sc, a); !ok {
		return sign.ReasonDigestMismatch, fmt.Sprintf("the bundle signs %s, not %s", signed, a)
	}
	return sign.ReasonOther, verifyErr.Error()
}

// diagnoseLogEntry explains a transparency log entry that failed when its
// inclusion promise is genuine (signed by a log of the trusted root) but
// the time the log integrated it is outside the certificate's validity:
// the certificate had expired (or was not yet valid) when it signed, or it
// does not chain to the root at all. It returns "" otherwise.
func (c *Checker) diagnoseLogEntry(b *bundle.Bundle, vc verify.VerificationContent) (sign.Reason, string) {
	entries, err := b.TlogEntries()
	if err != nil {
		return "", ""
	}
	leaf := withoutOtherNameSAN(vc.Certificate())
	for _, e := range entries {
		at := e.IntegratedTime()
		if at.IsZero() || !e.HasInclusionPromise() || tlog.VerifySET(e, c.trustedRoot.RekorLogs()) != nil || vc.ValidAtTime(at, c.trustedRoot) {
			continue
		}
		if !c.chainsSometime(leaf) {
			return sign.ReasonUntrustedChain, fmt.Sprintf("the certificate (issued by %s) does not chain to a Fulcio CA of the trusted root", leaf.Issuer)
		}
		return sign.ReasonCertificateExpired, fmt.Sprintf("the certificate is valid from %s to %s; the transparency log integrated the signature at %s",
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	return "", ""
}

// chainsSometime reports whether leaf chains to a Fulcio CA of the root at
// some time within its own validity: then a failure at the timestamped
// time means the certificate was not valid when it signed.
func (c *Checker) chainsSometime(leaf *x509.Certificate) bool {
	for _, at := range []time.Time{leaf.NotBefore, leaf.NotAfter} {
		if _, err := verify.VerifyLeafCertificate(at, leaf, c.trustedRoot); err == nil {
			return true
		}
	}
	return false
}

// withoutOtherNameSAN is the certificate as sigstore-go verifies it: Fulcio
// may issue a critical SAN extension of the OtherName form, which Go does
// not handle and which sigstore-go removes from the unhandled extensions
// before path validation.
func withoutOtherNameSAN(cert *x509.Certificate) *x509.Certificate {
	if !slices.ContainsFunc(cert.UnhandledCriticalExtensions, func(o asn1.ObjectIdentifier) bool { return o.Equal(cryptoutils.SANOID) }) {
		return cert
	}
	cp := *cert
	cp.UnhandledCriticalExtensions = slices.DeleteFunc(slices.Clone(cert.UnhandledCriticalExtensions), func(o asn1.ObjectIdentifier) bool {
		return o.Equal(cryptoutils.SANOID)
	})
	return &cp
}

// checkKeyBundle verifies a bundle signed with a key (no certificate): the
// signature over the artifact with the CosignKey, whatever key hint the
// bundle gives. Timestamps are not required (and not checked).
func (c *Checker) checkKeyBundle(b *bundle.Bundle, vc verify.VerificationContent, sc verify.SignatureContent, a artifact, s *sign.Signature) {
	if c.pub == nil {
		s.Reason, s.Detail = sign.ReasonNotChecked, "key-signed bundle: give --cosign-key"
		return
	}
	key := root.NewExpiringKey(c.bundleVerifier, time.Time{}, time.Time{})
	tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
	v, err := verify.NewVerifier(tm, verify.WithNoObserverTimestamps())
	if err != nil {
		s.Reason, s.Detail = sign.ReasonOther, fmt.Sprintf("set up verifier: %v", err)
		return
	}
	_, err = v.Verify(b, verify.NewPolicy(verify.WithArtifactDigest(a.alg, a.digest), verify.WithKey()))
	if err == nil {
		s.Verified, s.Identity = true, c.keyID
		return
	}
	// As for keyless bundles, the failing step is found by running the
	// steps, not by reading the error's text.
	switch ok, signed := signsArtifact(sc, a); {
	case !signatureValid(sc, vc, tm):
		s.Reason, s.Detail = sign.ReasonWrongKey, "the bundle's signature does not verify with "+c.keyID+" (another key, or the content changed after signing)"
	case !ok:
		s.Identity = c.keyID
		s.Reason, s.Detail = sign.ReasonDigestMismatch, fmt.Sprintf("the bundle signs %s, not %s", signed, a)
	default:
		s.Reason, s.Detail = sign.ReasonOther, err.Error()
	}
}

// signatureValid reports whether the bundle's signature verifies over its
// own content: the DSSE envelope, or a message signature over the digest
// the bundle claims (whatever artifact that is).
func signatureValid(sc verify.SignatureContent, vc verify.VerificationContent, tm root.TrustedMaterial) bool {
	if msg := sc.MessageSignatureContent(); msg != nil {
		return verify.VerifySignatureWithArtifactDigests(sc, vc, tm, []verify.ArtifactDigest{{Digest: msg.Digest()}}) == nil
	}
	return verify.VerifySignature(sc, vc, tm) == nil
}

// signsArtifact reports whether the bundle's content names a: the message
// signature's digest, or a subject of the DSSE statement. signed says what
// it names instead.
func signsArtifact(sc verify.SignatureContent, a artifact) (ok bool, signed string) {
	if msg := sc.MessageSignatureContent(); msg != nil {
		alg := digestAlgorithm(msg.DigestAlgorithm())
		signed = alg + ":" + hex.EncodeToString(msg.Digest())
		return alg == a.alg && bytes.Equal(msg.Digest(), a.digest), signed
	}
	env := sc.EnvelopeContent()
	if env == nil {
		return false, "nothing"
	}
	st, err := env.Statement()
	if err != nil {
		return false, "no statement"
	}
	var names []string
	want := hex.EncodeToString(a.digest)
	for _, sub := range st.GetSubject() {
		for alg, d := range sub.GetDigest() {
			if alg == a.alg && strings.EqualFold(d, want) {
				return true, ""
			}
			names = append(names, alg+":"+d)
		}
	}
	slices.Sort(names)
	return false, strings.Join(names, ", ")
}

// digestAlgorithm is the OCI name of a hash algorithm named as Sigstore's
// protobuf names it.
func digestAlgorithm(name string) string {
	switch name {
	case "SHA2_256":
		return "sha256"
	case "SHA2_384":
		return "sha384"
	case "SHA2_512":
		return "sha512"
	}
	return strings.ToLower(name)
}

// earliest is the earliest verified timestamp, or nil.
func earliest(ts []verify.TimestampVerificationResult) *time.Time {
	var out *time.Time
	for _, t := range ts {
		if out == nil || t.Timestamp.Before(*out) {
			at := t.Timestamp.UTC()
			out = &at
		}
	}
	return out
}
