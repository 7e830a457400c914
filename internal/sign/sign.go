// Package sign holds what the signature formats share: how an image in a
// registry is reached and resolved to its digest, the per-signature
// verdicts and reasons a verifier reports, and the verification that runs
// every configured format over one image and caches what passed.
//
// The formats themselves live in sub-packages: notary (Notary Project JWS
// and COSE envelopes, trust policy and trust store) and sigstore (cosign
// simple-signing signatures and Sigstore bundles).
package sign

// Format names a signature format, as users type it in --format.
type Format string

// The signature formats.
const (
	FormatNotationJWS  Format = "notation-jws"
	FormatNotationCOSE Format = "notation-cose"
	FormatCosign       Format = "cosign"          // simple signing payload, legacy .sig tag or OCI 1.1 referrer
	FormatBundle       Format = "sigstore-bundle" // Sigstore bundle v0.3 as an OCI 1.1 referrer
)

// Media and artifact types of signatures.
const (
	ArtifactTypeNotation = "application/vnd.cncf.notary.signature"
	MediaTypeJWS         = "application/jose+json"
	MediaTypeCOSE        = "application/cose"

	ArtifactTypeCosign     = "application/vnd.dev.cosign.artifact.sig.v1+json"
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	ArtifactTypeBundle     = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// IsSignatureType reports whether an artifact type is one of the signature
// types above: signatures are not themselves signed when signing an image's
// attached artifacts.
func IsSignatureType(artifactType string) bool {
	switch artifactType {
	case ArtifactTypeNotation, ArtifactTypeCosign, ArtifactTypeBundle:
		return true
	}
	return false
}
