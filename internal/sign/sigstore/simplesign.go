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
// signature in the layer's annotation over the payload bytes, with the key
// (as `cosign verify --key`), then the payload's claim: it must be a cosign
// container image signature of t's digest.
func (c *Checker) checkSimpleSigning(t *sign.Target, layer ocispec.Descriptor, body []byte, s *sign.Signature) {
	if c.pub == nil {
		s.Reason = sign.ReasonNotChecked
		if _, keyless := layer.Annotations[CertificateAnnotation]; keyless {
			s.Detail = "keyless cosign signature in the legacy format (certificate in an annotation): only keyless bundles are verified"
		} else {
			s.Detail = "key-signed cosign signature: give --cosign-key"
		}
		return
	}
	enc, ok := layer.Annotations[SignatureAnnotation]
	if !ok {
		s.Reason, s.Detail = sign.ReasonMalformed, "the layer has no "+SignatureAnnotation+" annotation"
		return
	}
	sig, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("decode %s annotation: %v", SignatureAnnotation, err)
		return
	}
	if err := c.sha256Verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)); err != nil {
		s.Reason, s.Detail = sign.ReasonWrongKey, "the signature does not verify with "+c.keyID+" (another key, or the payload changed after signing)"
		return
	}
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(body, &p); err != nil {
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("decode payload: %v", err)
		return
	}
	if p.Critical.Type != payload.CosignSignatureType {
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("payload type %q, want %q", p.Critical.Type, payload.CosignSignatureType)
		return
	}
	s.Identity = c.keyID
	if got := p.Critical.Image.DockerManifestDigest; got != t.Desc.Digest.String() {
		s.Reason, s.Detail = sign.ReasonDigestMismatch, fmt.Sprintf("the payload signs %s, not %s", got, t.Desc.Digest)
		return
	}
	s.Verified = true
}
