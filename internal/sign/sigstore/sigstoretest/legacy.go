package sigstoretest

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-project/cssc/internal/sign"
)

// The annotations of a keyless cosign simple-signing layer.
const (
	SignatureAnnotation        = "dev.cosignproject.cosign/signature"
	CertificateAnnotation      = "dev.sigstore.cosign/certificate"
	ChainAnnotation            = "dev.sigstore.cosign/chain"
	BundleAnnotation           = "dev.sigstore.cosign/bundle"
	RFC3161TimestampAnnotation = "dev.sigstore.cosign/rfc3161timestamp"
)

// LegacyOptions describe a keyless simple-signing signature: a layer of
// cosign's signatures image, as `cosign sign` writes it by default.
type LegacyOptions struct {
	// Repository (host/repository) and Digest are the image the payload
	// names.
	Repository string
	Digest     digest.Digest
	// Key signs; nil means a new ECDSA P-256 key. CA issues its
	// certificate, for Identity; the chain annotation holds the CA's
	// intermediate (if any) and root.
	Key      crypto.Signer
	CA       *CA
	Identity Identity
	// Rekor, when set, "logs" the signature: a hashedrekord entry
	// integrated at IntegratedAt (zero: now) at LogIndex, whose inclusion
	// promise goes in the bundle annotation.
	Rekor        *Rekor
	IntegratedAt time.Time
	LogIndex     int64
	// TSA, when set, timestamps the signature at SignedAt (zero: now).
	TSA      *TSA
	SignedAt time.Time
}

// LegacySignature is a simple-signing layer: the payload (the layer's
// content) and the layer's descriptor, with the annotations.
type LegacySignature struct {
	Payload []byte
	Layer   ocispec.Descriptor
}

// NewLegacySignature signs the payload for o.Repository@o.Digest with a
// certificate from o.CA and returns the layer with its annotations.
func NewLegacySignature(t testing.TB, o LegacyOptions) LegacySignature {
	t.Helper()
	key := o.Key
	if key == nil {
		key = newKey(t)
	}
	payload := SimpleSigningPayload(t, o.Repository, o.Digest)
	sig := signMessage(t, key, payload)
	cert := o.CA.Issue(t, key.Public(), o.Identity)
	chain := []*x509.Certificate{o.CA.Root}
	if o.CA.Intermediate != nil {
		chain = []*x509.Certificate{o.CA.Intermediate, o.CA.Root}
	}
	annotations := map[string]string{
		SignatureAnnotation:   base64.StdEncoding.EncodeToString(sig),
		CertificateAnnotation: string(certsPEM(cert)),
		ChainAnnotation:       string(certsPEM(chain...)),
	}
	if o.Rekor != nil {
		at := o.IntegratedAt
		if at.IsZero() {
			at = time.Now()
		}
		annotations[BundleAnnotation] = string(mustJSON(t, o.Rekor.Promise(t, HashedRekord(t, payload, sig, cert), at, o.LogIndex)))
	}
	if o.TSA != nil {
		at := o.SignedAt
		if at.IsZero() {
			at = time.Now()
		}
		annotations[RFC3161TimestampAnnotation] = string(mustJSON(t, struct{ SignedRFC3161Timestamp []byte }{o.TSA.Timestamp(t, sig, at)}))
	}
	layer := content.NewDescriptorFromBytes(sign.MediaTypeSimpleSigning, payload)
	layer.Annotations = annotations
	return LegacySignature{Payload: payload, Layer: layer}
}

// WithPayload returns s with another payload and the same annotations: a
// payload changed after signing.
func (s LegacySignature) WithPayload(payload []byte) LegacySignature {
	layer := content.NewDescriptorFromBytes(sign.MediaTypeSimpleSigning, payload)
	layer.Annotations = maps.Clone(s.Layer.Annotations)
	return LegacySignature{Payload: payload, Layer: layer}
}

// WithAnnotation returns s with annotation key set to value ("" removes
// it).
func (s LegacySignature) WithAnnotation(key, value string) LegacySignature {
	s.Layer.Annotations = maps.Clone(s.Layer.Annotations)
	if value == "" {
		delete(s.Layer.Annotations, key)
	} else {
		s.Layer.Annotations[key] = value
	}
	return s
}

// SimpleSigningPayload is the payload cosign signs for repository@d:
// {"critical": {"identity": {"docker-reference": …}, "image":
// {"docker-manifest-digest": …}, "type": "cosign container image
// signature"}, "optional": null}.
func SimpleSigningPayload(t testing.TB, repository string, d digest.Digest) []byte {
	t.Helper()
	type identity struct {
		DockerReference string `json:"docker-reference"`
	}
	type image struct {
		DockerManifestDigest string `json:"docker-manifest-digest"`
	}
	type critical struct {
		Identity identity `json:"identity"`
		Image    image    `json:"image"`
		Type     string   `json:"type"`
	}
	return mustJSON(t, struct {
		Critical critical          `json:"critical"`
		Optional map[string]string `json:"optional"`
	}{Critical: critical{identity{repository}, image{d.String()}, "cosign container image signature"}})
}

// TagPusher pushes content and manifests by tag (an oras-go repository).
type TagPusher interface {
	content.Pusher
	PushReference(ctx context.Context, expected ocispec.Descriptor, r io.Reader, reference string) error
}

// PushSignatureTag pushes sigs as cosign's signatures image for subject at
// its .sig tag (sha256-<hex>.sig), replacing what the tag held: an image
// manifest whose config lists the layers and whose layers are the
// signatures.
func PushSignatureTag(ctx context.Context, t testing.TB, p TagPusher, subject ocispec.Descriptor, sigs ...LegacySignature) ocispec.Descriptor {
	t.Helper()
	m := signaturesManifest(ctx, t, p, ocispec.MediaTypeImageConfig, sigs)
	b := mustJSON(t, m)
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, b)
	tag := strings.Replace(subject.Digest.String(), ":", "-", 1) + ".sig"
	if err := p.PushReference(ctx, desc, strings.NewReader(string(b)), tag); err != nil {
		t.Fatalf("push signatures to tag %s: %v", tag, err)
	}
	return desc
}

// PushSignatureReferrer pushes sigs as an OCI 1.1 referrer of subject, as
// cosign --registry-referrers-mode=oci-1-1 does: artifactType and config
// media type application/vnd.dev.cosign.artifact.sig.v1+json. An oras-go
// repository updates the referrers tag schema when the registry has no
// referrers API.
func PushSignatureReferrer(ctx context.Context, t testing.TB, p content.Pusher, subject ocispec.Descriptor, sigs ...LegacySignature) ocispec.Descriptor {
	t.Helper()
	m := signaturesManifest(ctx, t, p, sign.ArtifactTypeCosign, sigs)
	m.ArtifactType = sign.ArtifactTypeCosign
	m.Subject = &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	b := mustJSON(t, m)
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, b)
	desc.ArtifactType = sign.ArtifactTypeCosign
	push(ctx, t, p, desc, b)
	return desc
}

// signaturesManifest pushes the payloads and a config listing them, and
// returns the manifest of cosign's signatures image.
func signaturesManifest(ctx context.Context, t testing.TB, p content.Pusher, configType string, sigs []LegacySignature) ocispec.Manifest {
	t.Helper()
	type rootFS struct {
		Type    string          `json:"type"`
		DiffIDs []digest.Digest `json:"diff_ids"`
	}
	cfg := struct {
		Architecture string   `json:"architecture"`
		OS           string   `json:"os"`
		RootFS       rootFS   `json:"rootfs"`
		Config       struct{} `json:"config"`
	}{RootFS: rootFS{Type: "layers"}}
	layers := make([]ocispec.Descriptor, 0, len(sigs))
	pushed := map[digest.Digest]bool{}
	for _, s := range sigs {
		if !pushed[s.Layer.Digest] {
			push(ctx, t, p, ocispec.Descriptor{MediaType: s.Layer.MediaType, Digest: s.Layer.Digest, Size: s.Layer.Size}, s.Payload)
			pushed[s.Layer.Digest] = true
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, s.Layer.Digest)
		layers = append(layers, s.Layer)
	}
	cb := mustJSON(t, cfg)
	cd := content.NewDescriptorFromBytes(configType, cb)
	push(ctx, t, p, cd, cb)
	return ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cd,
		Layers:    layers,
	}
}

func certsPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return b
}
