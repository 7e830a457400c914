package sigstore

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2/errdef"

	"github.com/cssc-project/cssc/internal/sign"
)

// Options say what Sigstore signatures are verified against. The zero
// value is the unconfigured checker: it lists signatures as not checked.
type Options struct {
	// CosignKey is a PEM file with the public key signatures must verify
	// with (ECDSA, RSA or Ed25519; a PEM certificate is accepted for its
	// key): simple-signing signatures and key-signed bundles.
	CosignKey string
	// TrustedRoot is a Sigstore trusted_root.json (Fulcio CAs, timestamp
	// authorities, transparency logs): keyless signatures (bundles, and
	// simple-signing layers carrying a certificate) are verified against
	// it, offline.
	TrustedRoot string
	// Identity or IdentityRegexp (the certificate's SAN: an email or URI)
	// and Issuer or IssuerRegexp (its OIDC issuer extension) say who may
	// have signed keylessly, like cosign's --certificate-identity,
	// --certificate-oidc-issuer and their -regexp forms (regular
	// expressions are not anchored: use ^…$). With TrustedRoot, at least
	// one identity and one issuer form are required.
	Identity       string
	IdentityRegexp string
	Issuer         string
	IssuerRegexp   string
}

// Checker verifies the Sigstore signatures of an image (see sign.Checker).
// Its verdict passes when at least one signature verifies, as `cosign
// verify` does; signatures the options do not cover (a key-signed one
// without a key, a keyless one without a trusted root, an attestation
// bundle) are listed as not checked, and so are those beyond the first
// 100 found.
//
// A signature's Identity is the key's KeyID for key-signed signatures and
// the certificate's SAN (Issuer: its OIDC issuer) for keyless ones; on a
// keyless signature that fails they are what the certificate claims, to
// say whom the failure concerns, and are verified only when Verified is
// set.
// Timestamp is the earliest verified observer timestamp (keyless); Expires
// is never set: key-signed signatures do not expire, and a keyless one
// stays valid past its certificate's expiry thanks to its timestamp.
type Checker struct {
	// pub is the CosignKey, keyID its identity in reports; sha256Verifier
	// checks simple signing (always SHA-256, as cosign), bundleVerifier
	// key-signed bundles (the key's default Sigstore algorithm).
	pub            crypto.PublicKey
	keyID          string
	sha256Verifier signature.Verifier
	bundleVerifier signature.Verifier

	trustedRoot *root.TrustedRoot
	identity    verify.CertificateIdentity

	fingerprint string
}

var _ sign.Checker = (*Checker)(nil)

// New reads the key and trusted root opts name and checks the identity
// options.
func New(opts Options) (*Checker, error) {
	c := &Checker{}
	h := sha256.New()
	fmt.Fprintf(h, "cssc-sigstore-v1\n")
	if opts.CosignKey != "" {
		b, err := os.ReadFile(opts.CosignKey)
		if err != nil {
			return nil, fmt.Errorf("read cosign key: %w", err)
		}
		pub, err := parsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("read cosign key %s: %w", opts.CosignKey, err)
		}
		if c.keyID, err = KeyID(pub); err != nil {
			return nil, fmt.Errorf("read cosign key %s: %w", opts.CosignKey, err)
		}
		if c.sha256Verifier, err = signature.LoadVerifier(pub, crypto.SHA256); err != nil {
			return nil, fmt.Errorf("read cosign key %s: %w", opts.CosignKey, err)
		}
		if c.bundleVerifier, err = signature.LoadDefaultVerifier(pub); err != nil {
			return nil, fmt.Errorf("read cosign key %s: %w", opts.CosignKey, err)
		}
		c.pub = pub
		fmt.Fprintf(h, "key %d\n%s\n", len(b), b)
	}
	hasIdentity := opts.Identity != "" || opts.IdentityRegexp != ""
	hasIssuer := opts.Issuer != "" || opts.IssuerRegexp != ""
	if opts.TrustedRoot == "" {
		if hasIdentity || hasIssuer {
			return nil, errors.New("a certificate identity or OIDC issuer needs a trusted root (--sigstore-trusted-root) to check certificates against")
		}
	} else {
		if !hasIdentity || !hasIssuer {
			return nil, errors.New("keyless verification against a trusted root needs the signer's identity (--certificate-identity or --certificate-identity-regexp) and OIDC issuer (--certificate-oidc-issuer or --certificate-oidc-issuer-regexp)")
		}
		b, err := os.ReadFile(opts.TrustedRoot)
		if err != nil {
			return nil, fmt.Errorf("read trusted root: %w", err)
		}
		if c.trustedRoot, err = root.NewTrustedRootFromJSON(b); err != nil {
			return nil, fmt.Errorf("read trusted root %s: %w", opts.TrustedRoot, err)
		}
		if c.identity, err = verify.NewShortCertificateIdentity(opts.Issuer, opts.IssuerRegexp, opts.Identity, opts.IdentityRegexp); err != nil {
			return nil, fmt.Errorf("certificate identity: %w", err)
		}
		fmt.Fprintf(h, "root %d\n%s\n", len(b), b)
		fmt.Fprintf(h, "identity %q %q\nissuer %q %q\n", opts.Identity, opts.IdentityRegexp, opts.Issuer, opts.IssuerRegexp)
	}
	if c.Configured() {
		c.fingerprint = hex.EncodeToString(h.Sum(nil))
	}
	return c, nil
}

// NewKeyChecker verifies cosign signatures made with the key whose public
// half is pub (the pipeline checks whether it signed something already).
func NewKeyChecker(pub crypto.PublicKey) (*Checker, error) {
	c := &Checker{pub: pub}
	var err error
	if c.keyID, err = KeyID(pub); err != nil {
		return nil, err
	}
	if c.sha256Verifier, err = signature.LoadVerifier(pub, crypto.SHA256); err != nil {
		return nil, err
	}
	if c.bundleVerifier, err = signature.LoadDefaultVerifier(pub); err != nil {
		return nil, err
	}
	c.fingerprint = "key " + c.keyID
	return c, nil
}

// Name returns "sigstore".
func (c *Checker) Name() string { return "sigstore" }

// Configured reports whether a key or a trusted root was given.
func (c *Checker) Configured() bool { return c.pub != nil || c.trustedRoot != nil }

// Fingerprint is a SHA-256 over the key file's bytes, the trusted root's
// bytes and the identity options ("" when unconfigured).
func (c *Checker) Fingerprint() string { return c.fingerprint }

// Check finds the Sigstore signatures of t and verifies each one (the
// first maxSignatures of them; the others are listed as not checked). The
// verdict passes when at least one verifies.
func (c *Checker) Check(ctx context.Context, t *sign.Target) ([]sign.Signature, sign.Verdict, error) {
	fs, err := find(ctx, t)
	if err != nil {
		return nil, sign.Verdict{}, err
	}
	sigs := make([]sign.Signature, 0, len(fs))
	verified := 0
	for i, f := range fs {
		s := f.sig
		switch {
		case i >= maxSignatures:
			s.Reason, s.Detail = sign.ReasonNotChecked, fmt.Sprintf("beyond the first %d signatures, which are the ones verified", maxSignatures)
		case f.problem != "":
			s.Reason, s.Detail = sign.ReasonMalformed, f.problem
		case !c.Configured():
			s.Reason, s.Detail = sign.ReasonNotChecked, "no --cosign-key or --sigstore-trusted-root given"
		default:
			if err := c.check(ctx, t, f.layer, &s); err != nil {
				return nil, sign.Verdict{}, err
			}
		}
		if s.Verified {
			verified++
		}
		sigs = append(sigs, s)
	}
	v := sign.Verdict{Checker: c.Name(), Passed: verified > 0}
	switch {
	case !c.Configured():
		v.Reason = "not configured"
	case len(sigs) == 0:
		v.Reason = "no Sigstore signature found"
	case verified == 0 && len(sigs) > maxSignatures:
		v.Reason = fmt.Sprintf("none of the first %d of %d Sigstore signatures verified", maxSignatures, len(sigs))
	case verified == 0:
		v.Reason = fmt.Sprintf("none of the %d Sigstore signatures verified", len(sigs))
	}
	return sigs, v, nil
}

// check reads the layer a signature is in and verifies it, recording the
// outcome in s. An error is for a registry that could not be reached or
// answered with an HTTP error; a layer that cannot be read otherwise
// (missing, too large, not matching its digest) is that signature's
// ReasonMalformed.
func (c *Checker) check(ctx context.Context, t *sign.Target, layer ocispec.Descriptor, s *sign.Signature) error {
	limit := int64(maxPayloadBytes)
	if s.Format == sign.FormatBundle {
		limit = maxBundleBytes
	}
	b, err := fetchBlob(ctx, t.Repo.Blobs(), layer, limit)
	switch {
	case err == nil:
	case sign.Unreachable(err) || sign.HTTPError(err):
		return fmt.Errorf("read signature layer %s of %s: %w", layer.Digest, t.DigestRef(), err)
	case errors.Is(err, errdef.ErrNotFound):
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("layer %s is missing from the registry", layer.Digest)
		return nil
	default:
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("cannot read layer %s: %v", layer.Digest, err)
		return nil
	}
	if s.Format == sign.FormatBundle {
		c.checkBundle(t, b, s)
		return nil
	}
	c.checkSimpleSigning(t, layer, b, s)
	return nil
}
