package sigstore

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/cssc-project/cssc/internal/sign"
)

// bundleV01MediaType is the Sigstore bundle version a keyless
// simple-signing layer is turned into: v0.1 is the version whose
// transparency log entries carry an inclusion promise (the signed entry
// timestamp) without an inclusion proof, which is what cosign's Rekor
// bundle annotation holds.
const bundleV01MediaType = "application/vnd.dev.sigstore.bundle+json;version=0.1"

// maxChainCertificates bounds the certificates read from a PEM annotation.
const maxChainCertificates = 10

// rekorBundle is the dev.sigstore.cosign/bundle annotation: the signed
// entry timestamp (an inclusion promise, by the log's key, over the
// canonical JSON of Payload) and the log entry it covers.
type rekorBundle struct {
	SignedEntryTimestamp []byte
	Payload              struct {
		Body           string `json:"body"` // base64 of the canonicalized entry
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"` // hex
	}
}

// rfc3161Timestamp is the dev.sigstore.cosign/rfc3161timestamp annotation:
// a DER timestamp response over the layer's (decoded) signature.
type rfc3161Timestamp struct {
	SignedRFC3161Timestamp []byte
}

// checkLegacyKeyless verifies a keyless simple-signing layer: its
// annotations (signature, certificate, Rekor bundle, RFC 3161 timestamp)
// are turned into the Sigstore bundle that says the same — a message
// signature over the payload's SHA-256 — and verified as a keyless bundle
// is (observer timestamps from the trusted root, at least one; the chain
// to one of its Fulcio CAs at that time; the signature; identity and
// issuer). Then the payload must be a cosign signature of t's digest.
//
// The certificate chain annotation is checked to be well-formed but not
// used: intermediates come from the trusted root, as with `cosign verify
// --trusted-root`.
func (c *Checker) checkLegacyKeyless(t *sign.Target, layer ocispec.Descriptor, payload []byte, s *sign.Signature) {
	b, problem := legacyBundle(layer, payload)
	if problem != "" {
		s.Reason, s.Detail = sign.ReasonMalformed, problem
		return
	}
	sc, err := b.SignatureContent()
	if err != nil {
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("signature content: %v", err)
		return
	}
	vc, err := b.VerificationContent()
	if err != nil {
		s.Reason, s.Detail = sign.ReasonMalformed, fmt.Sprintf("verification material: %v", err)
		return
	}
	h := sha256.Sum256(payload)
	c.checkKeyless(b, vc, sc, artifact{alg: "sha256", digest: h[:]}, s)
	if !s.Verified {
		return
	}
	s.Verified = false
	if checkClaim(t, payload, s); !s.Verified {
		s.Timestamp = nil
	}
}

// legacyBundle builds the Sigstore bundle a keyless simple-signing layer
// amounts to; problem says why the annotations cannot make one.
func legacyBundle(layer ocispec.Descriptor, payload []byte) (b *bundle.Bundle, problem string) {
	sig, problem := layerSignature(layer)
	if problem != "" {
		return nil, problem
	}
	certs, err := parseCertificates(layer.Annotations[CertificateAnnotation])
	if err != nil {
		return nil, fmt.Sprintf("the %s annotation: %v", CertificateAnnotation, err)
	}
	if chain := layer.Annotations[ChainAnnotation]; chain != "" {
		if _, err := parseCertificates(chain); err != nil {
			return nil, fmt.Sprintf("the %s annotation: %v", ChainAnnotation, err)
		}
	}
	h := sha256.Sum256(payload)
	pb := &protobundle.Bundle{
		MediaType: bundleV01MediaType,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: h[:]},
			Signature:     sig,
		}},
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: certs[0].Raw}},
		},
	}
	if a := layer.Annotations[BundleAnnotation]; a != "" {
		entry, err := tlogEntry(a)
		if err != nil {
			return nil, fmt.Sprintf("the %s annotation: %v", BundleAnnotation, err)
		}
		pb.VerificationMaterial.TlogEntries = []*protorekor.TransparencyLogEntry{entry}
	}
	if a := layer.Annotations[RFC3161TimestampAnnotation]; a != "" {
		var ts rfc3161Timestamp
		if err := json.Unmarshal([]byte(a), &ts); err != nil {
			return nil, fmt.Sprintf("the %s annotation: %v", RFC3161TimestampAnnotation, err)
		}
		if len(ts.SignedRFC3161Timestamp) == 0 {
			return nil, fmt.Sprintf("the %s annotation holds no timestamp", RFC3161TimestampAnnotation)
		}
		pb.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts.SignedRFC3161Timestamp}},
		}
	}
	b, err = bundle.NewBundle(pb)
	if err != nil {
		return nil, fmt.Sprintf("the annotations do not make a Sigstore bundle: %v", err)
	}
	return b, ""
}

// tlogEntry turns cosign's Rekor bundle annotation into a transparency log
// entry with an inclusion promise. Its kind and version are the entry
// body's own (sigstore-go checks they agree, and verifies hashedrekord
// entries against the signature, certificate and payload digest).
func tlogEntry(annotation string) (*protorekor.TransparencyLogEntry, error) {
	var rb rekorBundle
	if err := json.Unmarshal([]byte(annotation), &rb); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(rb.SignedEntryTimestamp) == 0 {
		return nil, errors.New("no signed entry timestamp")
	}
	body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
	if err != nil {
		return nil, fmt.Errorf("decode the entry body: %w", err)
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil || len(logID) == 0 {
		return nil, fmt.Errorf("log ID %q is not hexadecimal", rb.Payload.LogID)
	}
	var kv struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(body, &kv); err != nil {
		return nil, fmt.Errorf("decode the entry body: %w", err)
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:          rb.Payload.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
		IntegratedTime:    rb.Payload.IntegratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: rb.SignedEntryTimestamp},
		CanonicalizedBody: body,
	}, nil
}

// parseCertificates reads the PEM certificates of an annotation: at least
// one, at most maxChainCertificates.
func parseCertificates(s string) ([]*x509.Certificate, error) {
	certs, err := cryptoutils.UnmarshalCertificatesFromPEMLimited([]byte(s), maxChainCertificates)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	return certs, nil
}
