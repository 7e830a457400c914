package imagefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ErrNoReferrers is returned by Attached for images that were not read
// from a registry (an OCI layout, a docker save archive): they carry no
// referrers cssc can list.
var ErrNoReferrers = errors.New("attached artifacts are read from a registry; this image was not")

// Artifact is an artifact attached to an image (an OCI referrer): an SBOM,
// a signature, a scan report.
type Artifact struct {
	// Subject is the digest of the manifest it is attached to (the image,
	// or the index the image was selected from).
	Subject      string
	ArtifactType string
	Descriptor   v1.Descriptor
	img          *Image
}

// Attached lists the artifacts attached to the image, and then to the
// index it was selected from, whose artifact type is one of types (all
// when none is given). It uses the registry's referrers API, or the
// referrers tag schema when the registry has none.
func (img *Image) Attached(ctx context.Context, types ...string) ([]Artifact, error) {
	if img.remote == nil {
		return nil, ErrNoReferrers
	}
	var out []Artifact
	subjects := []string{img.Digest}
	if img.Index != "" {
		subjects = append(subjects, img.Index)
	}
	for _, subject := range subjects {
		idx, err := remote.Referrers(img.repo.Digest(subject), append(slices.Clone(img.remote), remote.WithContext(ctx))...)
		if err != nil {
			return nil, fmt.Errorf("list artifacts attached to %s: %w", subject, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("list artifacts attached to %s: %w", subject, err)
		}
		for _, d := range im.Manifests {
			at := d.ArtifactType
			if len(types) > 0 && !slices.Contains(types, at) {
				continue
			}
			out = append(out, Artifact{Subject: subject, ArtifactType: at, Descriptor: d, img: img})
		}
	}
	return out, nil
}

// Open returns the artifact's first layer whose media type is one of
// mediaTypes (any when none is given), with that media type; the blob is
// verified against its digest as it is read. max bounds its size.
func (a Artifact) Open(ctx context.Context, max int64, mediaTypes ...string) (io.ReadCloser, string, error) {
	img, err := remote.Image(a.img.repo.Digest(a.Descriptor.Digest.String()), append(slices.Clone(a.img.remote), remote.WithContext(ctx))...)
	if err != nil {
		return nil, "", fmt.Errorf("fetch artifact %s: %w", a.Descriptor.Digest, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, "", fmt.Errorf("fetch artifact %s: %w", a.Descriptor.Digest, err)
	}
	for _, l := range m.Layers {
		if len(mediaTypes) > 0 && !slices.Contains(mediaTypes, string(l.MediaType)) {
			continue
		}
		if l.Size > max {
			return nil, "", fmt.Errorf("artifact %s: its %s layer is %d bytes, more than the %d allowed", a.Descriptor.Digest, l.MediaType, l.Size, max)
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, "", fmt.Errorf("artifact %s: %w", a.Descriptor.Digest, err)
		}
		rc, err := layer.Compressed() // as stored: ggcr verifies the digest at the end
		if err != nil {
			return nil, "", fmt.Errorf("artifact %s: %w", a.Descriptor.Digest, err)
		}
		return rc, string(l.MediaType), nil
	}
	return nil, "", fmt.Errorf("artifact %s has no layer of type %v", a.Descriptor.Digest, mediaTypes)
}
