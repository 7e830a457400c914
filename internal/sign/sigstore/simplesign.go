package sigstore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/cssc-project/cssc/internal/sign"
)

// checkSimpleSigning verifies a cosign simple-signing signature: the
// signature in the layer's annotation over the payload bytes, then the
// payload's claim: it must be a cosign container image signature of t's
// digest.
//
// A layer carrying a certificate (keyless, as `cosign sign` writes by
// default) is verified against the trusted root and the identity options
// (see checkLegacyKeyless); without a trusted root, or when that fails and
// a key is given, the key is tried too (`cosign sign --key --certificate`
// signs with a key and attaches a certificate for it). A layer without a
// certificate is verified with the key, as `cosign verify --key` does.
func (c *Checker) checkSimpleSigning(t *sign.Target, layer ocispec.Descriptor, body []byte, s *sign.Signature) {
	keyless := layer.Annotations[CertificateAnnotation] != ""
	base := *s
	switch {
	case keyless && c.trustedRoot != nil:
		c.checkLegacyKeyless(t, layer, body, s)
		if s.Verified || c.pub == nil {
			return
		}
		k := base
		if c.checkWithKey(t, layer, body, &k); k.Verified {
			*s = k
		}
	case c.pub != nil:
		c.checkWithKey(t, layer, body, s)
		if keyless && s.Reason == sign.ReasonWrongKey {
			*s = base
			s.Reason, s.Detail = sign.ReasonNotChecked, "keyless cosign signature (a certificate in the layer's annotations) that --cosign-key does not verify: give --sigstore-trusted-root, --certificate-identity and --certificate-oidc-issuer"
		}
	case keyless:
		s.Reason, s.Detail = sign.ReasonNotChecked, "keyless cosign signature: give --sigstore-trusted-root, --certificate-identity and --certificate-oidc-issuer"
	default:
		s.Reason, s.Detail = sign.ReasonNotChecked, "key-signed cosign signature: give --cosign-key"
	}
}

// checkWithKey verifies a simple-signing signature with the CosignKey.
func (c *Checker) checkWithKey(t *sign.Target, layer ocispec.Descriptor, body []byte, s *sign.Signature) {
	sig, problem := layerSignature(layer)
	if problem != "" {
		s.Reason, s.Detail = sign.ReasonMalformed, problem
		return
	}
	if err := c.sha256Verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)); err != nil {
		s.Reason, s.Detail = sign.ReasonWrongKey, "the signature does not verify with "+c.keyID+" (another key, or the payload changed after signing)"
		return
	}
	s.Identity = c.keyID
	checkClaim(t, body, s)
}

// layerSignature decodes the signature annotation of a simple-signing
// layer; problem says why it cannot.
func layerSignature(layer ocispec.Descriptor) (sig []byte, problem string) {
	enc, ok := layer.Annotations[SignatureAnnotation]
	if !ok {
		return nil, "the layer has no " + SignatureAnnotation + " annotation"
	}
	sig, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Sprintf("decode %s annotation: %v", SignatureAnnotation, err)
	}
	if len(sig) == 0 {
		return nil, "the " + SignatureAnnotation + " annotation is empty"
	}
	return sig, ""
}

// checkClaim checks what a verified simple-signing payload says: a cosign
// container image signature of t's digest. It sets s.Verified when so.
func checkClaim(t *sign.Target, body []byte, s *sign.Signature) {
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(body, &p); err != nil {
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("decode payload: %v", err)
		return
	}
	if p.Critical.Type != payload.CosignSignatureType {
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("payload type %q, want %q", p.Critical.Type, payload.CosignSignatureType)
		return
	}
	if got := p.Critical.Image.DockerManifestDigest; got != t.Desc.Digest.String() {
		s.Reason, s.Detail = sign.ReasonDigestMismatch, fmt.Sprintf("the payload signs %s, not %s", got, t.Desc.Digest)
		return
	}
	s.Verified = true
}
