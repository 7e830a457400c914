package sign

import "time"

// Reason says why a signature did not verify. The values are stable: they
// appear in JSON output and tests and scripts match on them.
type Reason string

// The reasons.
const (
	// ReasonWrongKey: the signature does not verify with the given public
	// key (for bare-key signatures this also covers a payload changed
	// after signing: the two cannot be told apart).
	ReasonWrongKey Reason = "wrong-key"
	// ReasonUntrustedChain: the signing certificate does not chain to a
	// certificate of the trust store or trusted root.
	ReasonUntrustedChain Reason = "untrusted-chain"
	// ReasonUntrustedIdentity: the chain is trusted but the signer is not
	// one of the trusted identities (Notary trustedIdentities, Sigstore
	// certificate identity and issuer).
	ReasonUntrustedIdentity Reason = "untrusted-identity"
	// ReasonCertificateExpired: the signing certificate was not valid at
	// signing time (or now, when there is no trusted timestamp).
	ReasonCertificateExpired Reason = "certificate-expired"
	// ReasonSignatureExpired: the signature's own expiry has passed.
	ReasonSignatureExpired Reason = "signature-expired"
	// ReasonDigestMismatch: the signature is valid but covers another
	// artifact than the image it is attached to.
	ReasonDigestMismatch Reason = "digest-mismatch"
	// ReasonTampered: the envelope's signature does not match its payload
	// (changed after signing).
	ReasonTampered Reason = "tampered-payload"
	// ReasonTimestamp: a required trusted timestamp is missing or invalid.
	ReasonTimestamp Reason = "invalid-timestamp"
	// ReasonMalformed: the signature artifact cannot be read.
	ReasonMalformed Reason = "malformed"
	// ReasonNoPolicy: no trust policy statement applies to the image.
	ReasonNoPolicy Reason = "no-applicable-policy"
	// ReasonNotChecked: the format is not covered by the options given
	// (e.g. a cosign signature when only --policy is set).
	ReasonNotChecked Reason = "not-checked"
	// ReasonOther: anything else; Detail says what.
	ReasonOther Reason = "other"
)

// Signature is one signature found for an artifact and what verifying it
// gave.
type Signature struct {
	Format Format `json:"format"`
	// Location is where it was found: "referrer" (OCI 1.1 referrers API or
	// its tag schema), or the tag of a legacy cosign signature.
	Location string `json:"location"`
	// Digest of the signature manifest; Index is the layer within it when a
	// manifest holds several signatures (cosign's .sig tag).
	Digest string `json:"digest"`
	Index  int    `json:"index,omitempty"`

	Verified bool `json:"verified"`
	// Level is the Notary Project verification level applied (strict,
	// permissive, audit, skip); a signature that failed under audit does
	// not fail the verdict.
	Level string `json:"level,omitempty"`
	// Identity is who signed: the signing certificate's subject (Notary),
	// the certificate's SAN (keyless) or the key's reference (key-based).
	Identity string `json:"identity,omitempty"`
	Issuer   string `json:"issuer,omitempty"` // certificate issuer DN or OIDC issuer
	// SignedAt is the signing time the signature claims; Timestamp the
	// time a trusted timestamp authority vouches for, when there is one.
	SignedAt  *time.Time `json:"signed_at,omitempty"`
	Timestamp *time.Time `json:"timestamp,omitempty"`
	Expires   *time.Time `json:"expires,omitempty"` // earliest of signature expiry and certificate NotAfter

	Reason Reason `json:"reason,omitempty"` // why not verified
	Detail string `json:"detail,omitempty"` // human-readable, for Reason and for warnings
}

// Verdict is one checker's decision for an artifact.
type Verdict struct {
	Checker string `json:"checker"` // "notary" or "sigstore"
	Passed  bool   `json:"passed"`
	// Skipped: the applicable policy says skip (Notary level "skip").
	Skipped bool   `json:"skipped,omitempty"`
	Reason  string `json:"reason,omitempty"` // why it did not pass
}

// Report is the outcome of verifying one artifact.
type Report struct {
	Image      string      `json:"image"` // the reference as given
	Digest     string      `json:"digest"`
	MediaType  string      `json:"media_type,omitempty"`
	Passed     bool        `json:"passed"`
	Verdicts   []Verdict   `json:"verdicts"`
	Signatures []Signature `json:"signatures"`
	// Attached are reports for the artifacts attached to the image that
	// were required to be signed too.
	Attached []AttachedReport `json:"attached,omitempty"`
	// Cached: the verdict comes from the verification cache (a pass of
	// the same digest under the same configuration, at VerifiedAt).
	Cached     bool      `json:"cached,omitempty"`
	VerifiedAt time.Time `json:"verified_at"`
}

// AttachedReport is the report for one attached artifact.
type AttachedReport struct {
	ArtifactType string `json:"artifact_type"`
	Report
}
