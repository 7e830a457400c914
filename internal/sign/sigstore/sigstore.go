// Package sigstore signs images in cosign's format and verifies Sigstore
// signatures: cosign "simple signing" signatures (in the legacy
// sha256-<hex>.sig tag or as OCI 1.1 referrers) and Sigstore bundles
// (OCI 1.1 referrers of type application/vnd.dev.sigstore.bundle.v0.3+json),
// key-based or keyless (a certificate from a Fulcio CA of a trusted root,
// with an identity and an OIDC issuer, timestamped), fully offline.
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
	// own limit).
	maxLayers = 1000
)

// SignatureTag is the tag cosign keeps an image's signatures under:
// "sha256-<hex>.sig" for digest sha256:<hex>.
func SignatureTag(d digest.Digest) string {
	return strings.Replace(d.String(), ":", "-", 1) + ".sig"
}
