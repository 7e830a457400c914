// Package sigstore signs images in cosign's format and verifies Sigstore
// signatures: cosign "simple signing" signatures (in the legacy
// sha256-<hex>.sig tag or as OCI 1.1 referrers) and Sigstore bundles
// (OCI 1.1 referrers of type application/vnd.dev.sigstore.bundle.v0.3+json),
// key-based or keyless, fully offline.
//
// Keyless means a short-lived certificate from a Fulcio CA of a trusted
// root (trusted_root.json), issued to an identity (the certificate's SAN)
// by an OIDC issuer, and at least one observer timestamp from the same
// root vouching that the certificate was valid when it signed: an RFC 3161
// timestamp from one of its timestamp authorities, or a Rekor inclusion
// promise (signed entry timestamp) from one of its transparency logs. A
// keyless simple-signing layer (what `cosign sign` writes by default: the
// certificate, chain, Rekor bundle and RFC 3161 timestamp in annotations)
// is turned into the equivalent Sigstore bundle in memory and verified
// exactly as a bundle is, then its payload must name the image.
//
// At most 100 signatures are fetched and verified per artifact (the .sig
// tag's layers first, then the referrers); the others are listed as not
// checked. A signature that cannot be read (an oversized or unparsable
// manifest, a blob whose digest does not match) is that signature's
// "malformed", never the end of the run: only a registry that cannot be
// reached, or that fails the referrers listing or the .sig tag read, is an
// error.
//
// Signing is key-based only and writes no transparency log entry: a cosign
// verifier needs --insecure-ignore-tlog (as for any offline signature).
package sigstore

import (
	"strings"

	"github.com/opencontainers/go-digest"
)

// Annotations and types cosign reads and writes.
const (
	// SignatureAnnotation holds the base64 signature of a simple-signing
	// layer.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// CertificateAnnotation holds the signing certificate (PEM) of a
	// keyless simple-signing layer.
	CertificateAnnotation = "dev.sigstore.cosign/certificate"
	// ChainAnnotation holds the rest of the certificate chain (PEM
	// intermediates and root) of a keyless simple-signing layer.
	ChainAnnotation = "dev.sigstore.cosign/chain"
	// BundleAnnotation holds the Rekor bundle of a simple-signing layer
	// logged in a transparency log: the signed entry timestamp and the
	// entry it covers (body, integrated time, log index, log ID).
	BundleAnnotation = "dev.sigstore.cosign/bundle"
	// RFC3161TimestampAnnotation holds an RFC 3161 timestamp over the
	// layer's signature ({"SignedRFC3161Timestamp": base64 DER}).
	RFC3161TimestampAnnotation = "dev.sigstore.cosign/rfc3161timestamp"
	// SignPredicateType is the in-toto predicate type of the statement
	// `cosign sign --new-bundle-format` signs: a signature, as opposed to
	// an attestation about the image.
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	// InTotoPayloadType is the DSSE payload type of in-toto statements.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// bundleMediaTypePrefix starts every Sigstore bundle media type
	// (application/vnd.dev.sigstore.bundle.v0.3+json and the older
	// application/vnd.dev.sigstore.bundle+json;version=0.x).
	bundleMediaTypePrefix = "application/vnd.dev.sigstore.bundle"
)

// Size limits for what is read from a registry: a signature manifest, a
// simple-signing payload and a bundle are all small; anything larger is
// refused rather than read into memory.
const (
	maxManifestBytes = 4 << 20
	maxPayloadBytes  = 1 << 20
	maxBundleBytes   = 8 << 20
	// maxLayers is the most signatures one .sig manifest may hold (cosign's
	// own limit) when signing.
	maxLayers = 1000
	// maxSignatures is the most signatures fetched and verified per
	// artifact, across the .sig tag and the referrers (as the Notary
	// Project checker, and notation's default): a registry listing
	// thousands cannot make verification run for ever. The others are
	// listed as not checked.
	maxSignatures = 100
)

// SignatureTag is the tag cosign keeps an image's signatures under:
// "sha256-<hex>.sig" for digest sha256:<hex>.
func SignatureTag(d digest.Digest) string {
	return strings.Replace(d.String(), ":", "-", 1) + ".sig"
}
