package sigstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/cssc-project/cssc/internal/sign"
)

// mediaTypeDockerManifest is a Docker schema 2 manifest, which cosign
// writes for .sig tags when COSIGN_DOCKER_MEDIA_TYPES is set.
const mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"

// LocationReferrer is the Location of a signature found as an OCI 1.1
// referrer (through the referrers API or its tag schema).
const LocationReferrer = "referrer"

// found is a signature found for an image, before it is verified.
type found struct {
	sig   sign.Signature     // Format, Location, Digest, Index
	layer ocispec.Descriptor // the layer holding the payload or the bundle
	// problem, when set, says why the signature cannot be read at all
	// (ReasonMalformed).
	problem string
}

// find lists every Sigstore signature of t: the layers of the manifest at
// its .sig tag, and of its referrers of the cosign signature and Sigstore
// bundle artifact types.
//
// An error means the registry could not be reached, or failed the .sig tag
// read (other than "no such tag") or the referrers listing. A signature
// artifact that cannot be read (oversized, a digest that does not match,
// not a manifest) is a found with a problem, and the others are still
// listed. Once maxSignatures are listed, the remaining referrers are not
// read: those whose artifact type says they are signatures are listed
// (Check marks everything past maxSignatures as not checked), the untyped
// ones, which only their manifest could tell, are left out.
func find(ctx context.Context, t *sign.Target) ([]found, error) {
	var out []found
	tag := SignatureTag(t.Desc.Digest)
	desc, b, err := fetchTag(ctx, t.Repo, tag)
	switch {
	case errors.Is(err, errdef.ErrNotFound):
	case sign.Unreachable(err) || sign.HTTPError(err):
		return nil, fmt.Errorf("list signatures of %s: %w", t.DigestRef(), err)
	case err != nil:
		out = append(out, found{
			sig:     sign.Signature{Format: sign.FormatCosign, Location: "tag " + tag, Digest: desc.Digest.String()},
			problem: "cannot read the signature manifest: " + err.Error(),
		})
	default:
		out = append(out, signaturesIn("tag "+tag, desc, b, sign.FormatCosign)...)
	}

	var refs []ocispec.Descriptor
	err = t.Repo.Referrers(ctx, t.Desc, "", func(page []ocispec.Descriptor) error {
		for _, d := range page {
			if signatureFormat(d.ArtifactType) != "" || untyped(d.ArtifactType) {
				refs = append(refs, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list referrers of %s: %w", t.DigestRef(), err)
	}
	untypedRead := 0
	for _, d := range refs {
		format := signatureFormat(d.ArtifactType)
		if len(out) >= maxSignatures {
			if format != "" {
				out = append(out, found{sig: sign.Signature{Format: format, Location: LocationReferrer, Digest: d.Digest.String()}})
			}
			continue
		}
		if format == "" {
			// Only its manifest says whether an untyped referrer is a
			// signature: read at most maxSignatures of them, so a listing
			// of thousands cannot make verification fetch them all.
			if untypedRead >= maxSignatures {
				continue
			}
			untypedRead++
		}
		b, err := fetchBlob(ctx, t.Repo.Manifests(), d, maxManifestBytes)
		switch {
		case err == nil:
		case sign.Unreachable(err) || (format != "" && sign.HTTPError(err)):
			return nil, fmt.Errorf("read referrer %s of %s: %w", d.Digest, t.DigestRef(), err)
		case format == "":
			// Not known to be a signature, and unreadable: not listed.
			continue
		case errors.Is(err, errdef.ErrNotFound):
			out = append(out, found{
				sig:     sign.Signature{Format: format, Location: LocationReferrer, Digest: d.Digest.String()},
				problem: "the referrers list names a manifest the registry does not have",
			})
			continue
		default:
			out = append(out, found{
				sig:     sign.Signature{Format: format, Location: LocationReferrer, Digest: d.Digest.String()},
				problem: "cannot read the signature manifest: " + err.Error(),
			})
			continue
		}
		if format == "" {
			// go-containerregistry (so cosign) writes the config media
			// type into the referrers tag schema, not the artifact type:
			// a cosign bundle there is listed as application/vnd.oci.empty.v1+json.
			var m ocispec.Manifest
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			if format = signatureFormat(m.ArtifactType); format == "" {
				continue
			}
		}
		out = append(out, signaturesIn(LocationReferrer, d, b, format)...)
	}
	return out, nil
}

// signatureFormat is the format of signatures in a referrer of
// artifactType, or "" for other referrers.
func signatureFormat(artifactType string) sign.Format {
	switch {
	case artifactType == sign.ArtifactTypeCosign:
		return sign.FormatCosign
	case strings.HasPrefix(artifactType, bundleMediaTypePrefix):
		return sign.FormatBundle
	}
	return ""
}

// untyped reports whether a referrer's listed artifact type says nothing
// of what it is, so that its manifest must be read to tell.
func untyped(artifactType string) bool {
	return artifactType == "" || artifactType == ocispec.MediaTypeEmptyJSON
}

// signaturesIn lists the signatures a signature manifest holds: one per
// layer.
func signaturesIn(location string, desc ocispec.Descriptor, b []byte, format sign.Format) []found {
	base := sign.Signature{Format: format, Location: location, Digest: desc.Digest.String()}
	m, err := parseManifest(desc.MediaType, b)
	if err != nil {
		return []found{{sig: base, problem: err.Error()}}
	}
	if len(m.Layers) == 0 {
		return []found{{sig: base, problem: "the signature manifest has no layers"}}
	}
	out := make([]found, 0, len(m.Layers))
	for i, l := range m.Layers {
		f := found{sig: base, layer: l}
		f.sig.Index = i
		switch {
		case format == sign.FormatCosign && l.MediaType != sign.MediaTypeSimpleSigning:
			f.problem = fmt.Sprintf("layer media type %q, want %s", l.MediaType, sign.MediaTypeSimpleSigning)
		case format == sign.FormatBundle && !strings.HasPrefix(l.MediaType, bundleMediaTypePrefix):
			f.problem = fmt.Sprintf("layer media type %q, want %s", l.MediaType, sign.ArtifactTypeBundle)
		}
		out = append(out, f)
	}
	return out
}

// fetchTag reads the manifest at tag; an error wrapping errdef.ErrNotFound
// means there is none. When the tag resolved but its manifest could not be
// read (too large, digest mismatch), the descriptor is returned with the
// error.
func fetchTag(ctx context.Context, repo *remote.Repository, tag string) (ocispec.Descriptor, []byte, error) {
	desc, rc, err := repo.Manifests().FetchReference(ctx, tag)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("read tag %s: %w", tag, err)
	}
	defer func() { _ = rc.Close() }()
	b, err := readAll(rc, desc, maxManifestBytes)
	if err != nil {
		return desc, nil, fmt.Errorf("read tag %s: %w", tag, err)
	}
	return desc, b, nil
}

// fetchManifestByTag reads and parses the image manifest at tag; an error
// wrapping errdef.ErrNotFound means there is none.
func fetchManifestByTag(ctx context.Context, repo *remote.Repository, tag string) (ocispec.Descriptor, *ocispec.Manifest, error) {
	desc, b, err := fetchTag(ctx, repo, tag)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	m, err := parseManifest(desc.MediaType, b)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("tag %s: %w", tag, err)
	}
	return desc, m, nil
}

// fetchBlob reads what desc describes, checking its size (at most limit)
// and digest.
func fetchBlob(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed", desc.Digest, desc.Size, limit)
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	return readAll(rc, desc, limit)
}

func readAll(r io.Reader, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed", desc.Digest, desc.Size, limit)
	}
	return content.ReadAll(r, desc)
}

// parseManifest decodes an image manifest (OCI or Docker schema 2).
func parseManifest(mediaType string, b []byte) (*ocispec.Manifest, error) {
	if mediaType != ocispec.MediaTypeImageManifest && mediaType != mediaTypeDockerManifest {
		return nil, fmt.Errorf("a %s, not an image manifest", mediaType)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode signature manifest: %w", err)
	}
	return &m, nil
}
