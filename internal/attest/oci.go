package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	intoto "github.com/in-toto/attestation/go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/cssc-project/cssc/internal/sign"
)

// Media types and annotations of attached attestations.
const (
	// ArtifactTypeInToto is the artifactType of an attestation referrer.
	ArtifactTypeInToto = "application/vnd.in-toto+json"
	// MediaTypeDSSE is the media type of the referrer's one layer, the
	// DSSE envelope as JSON. It is the media type cosign gives DSSE
	// attestation layers (and that tools reading cosign attestations
	// recognise); the in-toto spec's "application/vnd.in-toto.<predicate>+dsse"
	// would need a name per predicate, which the artifactType and the
	// predicate-type annotation already give.
	MediaTypeDSSE = "application/vnd.dsse.envelope.v1+json"
	// AnnotationPredicateType carries the statement's predicate type on the
	// referrer manifest (and on its layer, where buildx-style readers look).
	AnnotationPredicateType = "in-toto.io/predicate-type"
)

// Bounds on what reading attached artifacts takes from a registry.
const (
	maxReferrerManifest = 64 << 10
	maxReferrers        = 200
)

// Attach pushes envelope (from Sign) as an OCI 1.1 referrer of t: an image
// manifest with artifactType ArtifactTypeInToto, the empty config, one
// MediaTypeDSSE layer, the predicate type in AnnotationPredicateType and
// subject t.Desc. The envelope must hold an in-toto statement of
// predicateType whose subjects include t's digest (signatures are not
// checked here): an attestation is attached only to what it describes.
func Attach(ctx context.Context, t *sign.Target, envelope []byte, predicateType string) (ocispec.Descriptor, error) {
	return AttachAnnotated(ctx, t, envelope, predicateType, nil)
}

// AttachAnnotated is Attach with extra annotations on the referrer
// manifest (e.g. which acquisition attached it).
func AttachAnnotated(ctx context.Context, t *sign.Target, envelope []byte, predicateType string, extra map[string]string) (ocispec.Descriptor, error) {
	stmt, err := unverifiedStatement(envelope)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("attach attestation to %s: %w", t.DigestRef(), err)
	}
	if stmt.GetPredicateType() != predicateType {
		return ocispec.Descriptor{}, fmt.Errorf("attach attestation to %s: statement has predicate type %q, not %q", t.DigestRef(), stmt.GetPredicateType(), predicateType)
	}
	if !hasSubject(stmt, t) {
		return ocispec.Descriptor{}, fmt.Errorf("attach attestation to %s: the statement is not about %s", t.DigestRef(), t.Desc.Digest)
	}
	layer := content.NewDescriptorFromBytes(MediaTypeDSSE, envelope)
	if err := t.Repo.Push(ctx, layer, bytes.NewReader(envelope)); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("attach attestation to %s: push envelope: %w", t.DigestRef(), err)
	}
	layer.Annotations = map[string]string{AnnotationPredicateType: predicateType}
	annotations := map[string]string{AnnotationPredicateType: predicateType}
	for k, v := range extra {
		if _, ok := annotations[k]; !ok {
			annotations[k] = v
		}
	}
	desc, err := pack(ctx, t, ArtifactTypeInToto, []ocispec.Descriptor{layer}, annotations)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("attach attestation to %s: %w", t.DigestRef(), err)
	}
	return desc, nil
}

func hasSubject(s *Statement, t *sign.Target) bool {
	alg, hex := t.Desc.Digest.Algorithm().String(), t.Desc.Digest.Encoded()
	return slices.ContainsFunc(s.GetSubject(), func(rd *intoto.ResourceDescriptor) bool {
		return rd.GetDigest()[alg] == hex
	})
}

// pack pushes a referrer manifest of t (layers pushed already; none gives
// the empty layer, as oras attach does for an artifact with no files).
func pack(ctx context.Context, t *sign.Target, artifactType string, layers []ocispec.Descriptor, annotations map[string]string) (ocispec.Descriptor, error) {
	subject := ocispec.Descriptor{MediaType: t.Desc.MediaType, Digest: t.Desc.Digest, Size: t.Desc.Size}
	desc, err := oras.PackManifest(ctx, t.Repo, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{
		Subject:             &subject,
		Layers:              layers,
		ManifestAnnotations: annotations,
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push %s manifest: %w", artifactType, err)
	}
	return desc, nil
}

// Attestation is an attestation attached to an image.
type Attestation struct {
	// Desc is the referrer manifest.
	Desc ocispec.Descriptor
	// PredicateType is the manifest's AnnotationPredicateType.
	PredicateType string
	// Envelope is the DSSE envelope, not verified: pass it to Verify.
	Envelope []byte
}

// Attestations lists the attestations attached to t through the referrers
// API (artifactType ArtifactTypeInToto), keeping those of predicateType
// ("" keeps all). A listed manifest whose subject is not t is left out; one
// that cannot be read or is not shaped as Attach makes it is an error.
func Attestations(ctx context.Context, t *sign.Target, predicateType string) ([]Attestation, error) {
	var out []Attestation
	err := eachReferrer(ctx, t, ArtifactTypeInToto, func(d ocispec.Descriptor, m ocispec.Manifest) error {
		pt := m.Annotations[AnnotationPredicateType]
		if predicateType != "" && pt != predicateType {
			return nil
		}
		if len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeDSSE {
			return fmt.Errorf("attestation %s does not hold one %s layer", d.Digest, MediaTypeDSSE)
		}
		l := m.Layers[0]
		if l.Size > MaxEnvelopeBytes {
			return fmt.Errorf("attestation %s: envelope has %d bytes, more than the %d allowed", d.Digest, l.Size, MaxEnvelopeBytes)
		}
		env, err := content.FetchAll(ctx, t.Repo, l)
		if err != nil {
			return fmt.Errorf("fetch attestation %s: %w", d.Digest, err)
		}
		out = append(out, Attestation{Desc: d, PredicateType: pt, Envelope: env})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list attestations of %s: %w", t.DigestRef(), err)
	}
	return out, nil
}

// eachReferrer calls fn with each referrer of t of artifactType and its
// manifest, fetched and checked against its descriptor. Referrers whose
// manifest names another subject or artifact type are skipped.
func eachReferrer(ctx context.Context, t *sign.Target, artifactType string, fn func(ocispec.Descriptor, ocispec.Manifest) error) error {
	var listed []ocispec.Descriptor
	err := t.Repo.Referrers(ctx, t.Desc, artifactType, func(refs []ocispec.Descriptor) error {
		listed = append(listed, refs...)
		if len(listed) > maxReferrers {
			return fmt.Errorf("more than %d %s referrers", maxReferrers, artifactType)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list referrers: %w", err)
	}
	for _, d := range listed {
		if d.ArtifactType != artifactType {
			continue
		}
		if d.MediaType != ocispec.MediaTypeImageManifest {
			return fmt.Errorf("referrer %s is a %s, not an image manifest", d.Digest, d.MediaType)
		}
		if d.Size > maxReferrerManifest {
			return fmt.Errorf("referrer %s has %d bytes, more than the %d allowed", d.Digest, d.Size, maxReferrerManifest)
		}
		b, err := content.FetchAll(ctx, t.Repo, d)
		if err != nil {
			return fmt.Errorf("fetch referrer %s: %w", d.Digest, err)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("parse referrer %s: %w", d.Digest, err)
		}
		if m.Subject == nil || m.Subject.Digest != t.Desc.Digest || m.ArtifactType != artifactType {
			continue
		}
		if err := fn(d, m); err != nil {
			return err
		}
	}
	return nil
}

// AttachArtifact pushes data as the one layer (of mediaType) of an OCI 1.1
// referrer of t with artifactType and the manifest annotations given (an
// SBOM, a SARIF report: what `oras attach` makes of one file).
func AttachArtifact(ctx context.Context, t *sign.Target, artifactType, mediaType string, data []byte, annotations map[string]string) (ocispec.Descriptor, error) {
	layer := content.NewDescriptorFromBytes(mediaType, data)
	if err := t.Repo.Push(ctx, layer, bytes.NewReader(data)); err != nil {
		if !errors.Is(err, errdef.ErrAlreadyExists) {
			return ocispec.Descriptor{}, fmt.Errorf("attach %s to %s: push content: %w", artifactType, t.DigestRef(), err)
		}
	}
	desc, err := pack(ctx, t, artifactType, []ocispec.Descriptor{layer}, annotations)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("attach %s to %s: %w", artifactType, t.DigestRef(), err)
	}
	return desc, nil
}
