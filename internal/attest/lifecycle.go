package attest

import (
	"context"
	"fmt"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-project/cssc/internal/sign"
)

// The lifecycle convention of Microsoft (Azure Container Registry, MCR),
// written with `oras attach --artifact-type … --annotation …` and no files.
const (
	// ArtifactTypeLifecycle is the artifactType of a lifecycle referrer.
	ArtifactTypeLifecycle = "application/vnd.microsoft.artifact.lifecycle"
	// AnnotationEndOfLife holds the end-of-life date on the referrer
	// manifest, in RFC 3339.
	AnnotationEndOfLife = "vnd.microsoft.artifact.lifecycle.end-of-life.date"
)

// AttachLifecycle pushes a lifecycle referrer of t saying it reaches its
// end of life at eol (written in RFC 3339, UTC, to the second). The
// manifest is what `oras attach` makes for an artifact without files: the
// empty config and the empty blob as its one layer.
func AttachLifecycle(ctx context.Context, t *sign.Target, eol time.Time) (ocispec.Descriptor, error) {
	return AttachLifecycleAnnotated(ctx, t, eol, nil)
}

// AttachLifecycleAnnotated is AttachLifecycle with extra annotations on
// the referrer manifest.
func AttachLifecycleAnnotated(ctx context.Context, t *sign.Target, eol time.Time, extra map[string]string) (ocispec.Descriptor, error) {
	if eol.IsZero() {
		return ocispec.Descriptor{}, fmt.Errorf("attach lifecycle to %s: no end-of-life date", t.DigestRef())
	}
	annotations := map[string]string{AnnotationEndOfLife: eol.UTC().Format(time.RFC3339)}
	for k, v := range extra {
		if _, ok := annotations[k]; !ok {
			annotations[k] = v
		}
	}
	desc, err := pack(ctx, t, ArtifactTypeLifecycle, nil, annotations)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("attach lifecycle to %s: %w", t.DigestRef(), err)
	}
	return desc, nil
}

// ReadLifecycle returns the latest end-of-life date among the lifecycle
// referrers of t, or nil when it has none. A lifecycle referrer without the
// date or with one that is neither RFC 3339 nor YYYY-MM-DD (the form
// Microsoft's guidance also names) is an error, not "no end of life".
func ReadLifecycle(ctx context.Context, t *sign.Target) (*time.Time, error) {
	var latest *time.Time
	err := eachReferrer(ctx, t, ArtifactTypeLifecycle, func(d ocispec.Descriptor, m ocispec.Manifest) error {
		s, ok := m.Annotations[AnnotationEndOfLife]
		if !ok {
			return fmt.Errorf("lifecycle %s has no %s annotation", d.Digest, AnnotationEndOfLife)
		}
		eol, err := parseEndOfLife(s)
		if err != nil {
			return fmt.Errorf("lifecycle %s: %w", d.Digest, err)
		}
		if latest == nil || eol.After(*latest) {
			latest = &eol
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read lifecycle of %s: %w", t.DigestRef(), err)
	}
	return latest, nil
}

func parseEndOfLife(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("end-of-life date %q is neither RFC 3339 nor YYYY-MM-DD", s)
}
