package sign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// Checker verifies the signatures of one family of formats against its
// configuration (a trust policy and trust store, a public key, a trusted
// root).
type Checker interface {
	// Name is the checker's name in verdicts: "notary" or "sigstore".
	Name() string
	// Configured reports whether the user gave this checker anything to
	// verify against. An unconfigured checker still lists its formats'
	// signatures (as ReasonNotChecked) but gives no verdict.
	Configured() bool
	// Fingerprint identifies the configuration (policy, trust material,
	// identities) for the verification cache: two configurations with the
	// same fingerprint decide alike.
	Fingerprint() string
	// Check finds and verifies the signatures of t. An error means the
	// signatures could not be listed or read at all (registry down); a
	// signature that does not verify is a Signature with a Reason.
	Check(ctx context.Context, t *Target) ([]Signature, Verdict, error)
}

// Cache keeps passing verdicts by digest and configuration.
type Cache interface {
	Get(key string, now time.Time) (*Report, bool)
	Put(key string, r *Report, until time.Time) error
}

// Verifier runs every checker over an artifact and combines their verdicts:
// every configured checker must pass.
type Verifier struct {
	Checkers []Checker
	// Attached lists artifact types (e.g. application/spdx+json) of
	// artifacts attached to the image that must be signed too: at least
	// one of each type must exist and each one found must pass.
	Attached []string
	// Cache, when set, answers for a digest that passed before under the
	// same configuration; TTL bounds how long (and no entry outlives the
	// earliest expiry of a signature or certificate it relied on).
	Cache Cache
	TTL   time.Duration
	Now   func() time.Time
	// Log receives warnings (a cache that cannot be written); nil: none.
	Log *slog.Logger
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Verify verifies t. The error is for what stopped verification (no
// checker configured, registry unreachable); a failed verification is a
// Report with Passed false.
func (v *Verifier) Verify(ctx context.Context, t *Target) (*Report, error) {
	if !slices.ContainsFunc(v.Checkers, Checker.Configured) {
		return nil, fmt.Errorf("verify %s: nothing to verify against: give --policy (Notary Project), --cosign-key or --sigstore-trusted-root (Sigstore)", t.Ref)
	}
	key := v.cacheKey(t)
	now := v.now()
	if v.Cache != nil {
		// The entry's own expiry, and this run's TTL: a shorter --cache-ttl
		// than the one that stored it applies.
		if r, ok := v.Cache.Get(key, now); ok && r.Digest == t.Desc.Digest.String() && now.Sub(r.VerifiedAt) < v.TTL {
			r.Image, r.Cached = t.Ref, true
			return r, nil
		}
	}
	r, err := v.verifyOne(ctx, t)
	if err != nil {
		return nil, err
	}
	r.VerifiedAt = now
	for _, typ := range v.Attached {
		subs, ignored, err := Attached(ctx, t, typ)
		if err != nil {
			return nil, err
		}
		if len(subs) == 0 {
			why := "no artifact of type " + typ + " is attached"
			if len(ignored) > 0 {
				why += " (ignored: " + strings.Join(ignored, "; ") + ")"
			}
			r.Passed = false
			r.Attached = append(r.Attached, AttachedReport{ArtifactType: typ, Report: Report{
				Image: t.DigestRef(), Verdicts: []Verdict{{Checker: "attached", Reason: why}},
			}})
			continue
		}
		for _, sub := range subs {
			sr, err := v.verifyOne(ctx, sub)
			if err != nil {
				return nil, err
			}
			sr.VerifiedAt = now
			r.Passed = r.Passed && sr.Passed
			r.Attached = append(r.Attached, AttachedReport{ArtifactType: typ, Report: *sr})
		}
	}
	if r.Passed && v.Cache != nil && v.TTL > 0 {
		until := now.Add(v.TTL)
		for _, e := range expiries(r) {
			if e.Before(until) {
				until = e
			}
		}
		// A cache that cannot be written costs speed, not the verdict.
		if err := v.Cache.Put(key, r, until); err != nil && v.Log != nil {
			v.Log.Warn("verification cache not written", "image", t.DigestRef(), "err", err)
		}
	}
	return r, nil
}

func (v *Verifier) verifyOne(ctx context.Context, t *Target) (*Report, error) {
	r := &Report{Image: t.Ref, Digest: t.Desc.Digest.String(), MediaType: t.Desc.MediaType, Passed: true}
	for _, c := range v.Checkers {
		sigs, verdict, err := c.Check(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("verify %s (%s): %w", t.Ref, c.Name(), err)
		}
		r.Signatures = append(r.Signatures, sigs...)
		if !c.Configured() {
			continue
		}
		r.Verdicts = append(r.Verdicts, verdict)
		r.Passed = r.Passed && verdict.Passed
	}
	return r, nil
}

// expiries are the expiry times of the verified signatures a passing report
// relied on.
func expiries(r *Report) []time.Time {
	var out []time.Time
	add := func(rep *Report) {
		for _, s := range rep.Signatures {
			if s.Verified && s.Expires != nil {
				out = append(out, *s.Expires)
			}
		}
	}
	add(r)
	for i := range r.Attached {
		add(&r.Attached[i].Report)
	}
	return out
}

func (v *Verifier) cacheKey(t *Target) string {
	h := sha256.New()
	fmt.Fprintf(h, "cssc-verify-v2\n%s\n%s\n", t.Name, t.Desc.Digest)
	for _, c := range v.Checkers {
		if c.Configured() {
			fmt.Fprintf(h, "%s=%s\n", c.Name(), c.Fingerprint())
		}
	}
	fmt.Fprintf(h, "attached=%s\n", strings.Join(v.Attached, ","))
	return hex.EncodeToString(h.Sum(nil))
}

// Bounds on attached artifacts: the size of one manifest, and how many
// are read per image (anyone who can push can attach artifacts).
const (
	maxAttachedManifest = 4 << 20
	maxAttached         = 100
)

// Attached lists the artifacts attached to t whose artifact type is typ
// ("all": every type), as targets in the same repository. Signatures are
// never listed.
//
// A referrers listing (or the tag-schema index that stands in for it) is
// only a claim: each listed manifest is fetched (at most 4 MiB, its digest
// checked) and kept only if its own subject is t and it is an artifact,
// not a runnable image — so a listing rewritten to name another image's
// SBOM, or an image pushed with this subject, is neither signed by cssc
// sign --attached nor counted by cssc verify --require-attached. What is
// left out is returned as ignored, one sentence each.
func Attached(ctx context.Context, t *Target, typ string) (targets []*Target, ignored []string, err error) {
	var listed []ocispec.Descriptor
	filter := typ
	if typ == "all" {
		filter = ""
	}
	err = t.Repo.Referrers(ctx, t.Desc, filter, func(refs []ocispec.Descriptor) error {
		listed = append(listed, refs...)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list artifacts attached to %s: %w", t.DigestRef(), err)
	}
	read := 0
	for _, d := range listed {
		if IsSignatureType(d.ArtifactType) {
			continue
		}
		if read++; read > maxAttached {
			return nil, nil, fmt.Errorf("list artifacts attached to %s: more than %d are listed; cssc reads at most %d", t.DigestRef(), maxAttached, maxAttached)
		}
		m, err := fetchArtifactManifest(ctx, t, d)
		if errors.Is(err, errUnreadable) {
			ignored = append(ignored, err.Error())
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		at := m.ArtifactType
		if at == "" && m.Config != nil {
			at = m.Config.MediaType
		}
		switch {
		case m.Subject == nil || m.Subject.Digest != t.Desc.Digest:
			ignored = append(ignored, fmt.Sprintf("%s is listed as attached but its subject is not %s", d.Digest, t.Desc.Digest))
			continue
		case IsSignatureType(at) || strings.HasPrefix(at, "application/vnd.dev.sigstore.bundle"):
			continue
		case m.ArtifactType == "" && isImageConfig(at):
			ignored = append(ignored, fmt.Sprintf("%s is a runnable image, not an attached artifact", d.Digest))
			continue
		case filter != "" && at != filter:
			ignored = append(ignored, fmt.Sprintf("%s is listed as %s but its manifest says %s", d.Digest, filter, at))
			continue
		}
		mediaType := d.MediaType
		if m.MediaType != "" {
			mediaType = m.MediaType
		}
		desc := ocispec.Descriptor{MediaType: mediaType, Digest: d.Digest, Size: d.Size, ArtifactType: at, Annotations: d.Annotations}
		targets = append(targets, &Target{Ref: t.Name + "@" + d.Digest.String(), Name: t.Name, Repo: t.Repo, Desc: desc})
	}
	return targets, ignored, nil
}

// artifactManifest is what Attached reads of an attached manifest (an
// image manifest or an index).
type artifactManifest struct {
	MediaType    string              `json:"mediaType"`
	ArtifactType string              `json:"artifactType"`
	Config       *ocispec.Descriptor `json:"config"`
	Subject      *ocispec.Descriptor `json:"subject"`
}

// errUnreadable marks a listed artifact that cannot be read as one (gone,
// too large, not matching its digest, not JSON): it is left out, like one
// of another subject. A registry that cannot be reached or answers with an
// error is an error.
var errUnreadable = errors.New("unreadable attached artifact")

type unreadable struct{ msg string }

func (u unreadable) Error() string        { return u.msg }
func (u unreadable) Is(target error) bool { return target == errUnreadable }

func fetchArtifactManifest(ctx context.Context, t *Target, d ocispec.Descriptor) (artifactManifest, error) {
	var m artifactManifest
	if d.Size > maxAttachedManifest {
		return m, unreadable{fmt.Sprintf("%s is listed as attached but its manifest has %d bytes, more than the %d allowed", d.Digest, d.Size, maxAttachedManifest)}
	}
	b, err := content.FetchAll(ctx, t.Repo.Manifests(), d)
	switch {
	case err == nil:
	case errors.Is(err, errdef.ErrNotFound):
		return m, unreadable{fmt.Sprintf("%s is listed as attached but the registry does not have it", d.Digest)}
	case Unreachable(err) || HTTPError(err):
		return m, fmt.Errorf("read artifact %s attached to %s: %w", d.Digest, t.DigestRef(), err)
	default: // wrong size or digest, trailing data
		return m, unreadable{fmt.Sprintf("%s is listed as attached but its content does not match the listing: %v", d.Digest, err)}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, unreadable{fmt.Sprintf("%s is listed as attached but its manifest is not JSON: %v", d.Digest, err)}
	}
	return m, nil
}

// isImageConfig reports whether a config media type is that of a runnable
// image (OCI or Docker).
func isImageConfig(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageConfig || mediaType == "application/vnd.docker.container.image.v1+json"
}
