// Package notary signs and verifies Notary Project signatures (JWS and
// COSE envelopes, signing scheme notary.x509) of artifacts in a registry,
// with notation-go: signatures are OCI 1.1 referrers of artifactType
// application/vnd.cncf.notary.signature, and verification follows the
// Notary Project trust policy and trust store.
package notary

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/registry"
	notationsigner "github.com/notaryproject/notation-go/signer"
	"github.com/notaryproject/tspclient-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/sign"
)

// SignOptions say how Sign signs.
type SignOptions struct {
	// Format is sign.FormatNotationJWS (the default when empty) or
	// sign.FormatNotationCOSE.
	Format sign.Format
	// Annotations are user metadata signed with the target descriptor (the
	// payload's targetArtifact annotations, as `notation sign
	// --user-metadata` adds them). Keys starting with io.cncf.notary are
	// reserved.
	Annotations map[string]string
	// Expiry, when not zero, makes the signature expire that long after
	// signing; whole seconds only.
	Expiry time.Duration
	// Timestamper, when its URL is set, adds an RFC 3161 countersignature
	// so the signature outlives its signing certificate.
	Timestamper Timestamper
	// ForceReferrersTag pushes the signature through the referrers tag
	// schema (an index tagged sha256-<hex>) even when the registry has the
	// referrers API, like notation's --force-referrers-tag. Without it the
	// tag schema is used only when the registry lacks the API.
	ForceReferrersTag bool
}

// Timestamper is an RFC 3161 timestamp authority.
type Timestamper struct {
	// URL of the TSA (http or https).
	URL string
	// RootCAs are the TSA's trust anchors: the response is verified against
	// them before the signature is pushed. Required with URL.
	RootCAs *x509.CertPool
	// HTTPClient reaches the TSA; nil means a client with a 5 s timeout.
	HTTPClient *http.Client
}

// Sign signs t (its resolved digest: t is never resolved again) with key
// and pushes the signature manifest as a referrer of t. It returns the
// signature manifest's descriptor.
//
// The key never leaves key: notation-go asks it for a raw signature (see
// keyPlugin). ECDSA P-256 and P-384 and RSA 2048–4096 keys work (RSA with
// RSASSA-PSS, as the Notary Project requires).
func Sign(ctx context.Context, t *sign.Target, key keys.Signer, opts SignOptions) (ocispec.Descriptor, error) {
	mediaType, err := envelopeMediaType(opts.Format)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	kp, err := newKeyPlugin(key)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("sign %s: %w", t.DigestRef(), err)
	}
	signer, err := notationsigner.NewPluginSigner(kp, key.KeyRef(), nil)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("sign %s: %w", t.DigestRef(), err)
	}
	sso := notation.SignerSignOptions{SignatureMediaType: mediaType, ExpiryDuration: opts.Expiry}
	switch ts := opts.Timestamper; {
	case ts.URL != "" && ts.RootCAs == nil:
		return ocispec.Descriptor{}, fmt.Errorf("sign %s: timestamp authority %s given without its root certificates", t.DigestRef(), ts.URL)
	case ts.URL != "":
		tsa, err := tspclient.NewHTTPTimestamper(ts.HTTPClient, ts.URL)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("sign %s: timestamp authority: %w", t.DigestRef(), err)
		}
		sso.Timestamper, sso.TSARootCAs = tsa, ts.RootCAs
	case ts.RootCAs != nil:
		return ocispec.Descriptor{}, fmt.Errorf("sign %s: timestamp authority root certificates given without its URL", t.DigestRef())
	}
	repo := t.Repo
	if opts.ForceReferrersTag {
		if repo, err = withoutReferrersAPI(t.Repo); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("sign %s: %w", t.DigestRef(), err)
		}
	}
	pinned := &pinnedRepository{Repository: registry.NewRepository(repo), subject: subjectOf(t.Desc)}
	_, err = notation.Sign(ctx, signer, pinned, notation.SignOptions{
		SignerSignOptions: sso,
		ArtifactReference: pinned.subject.Digest.String(),
		UserMetadata:      opts.Annotations,
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("sign %s with %s: %w", t.DigestRef(), key.KeyRef(), err)
	}
	if pinned.pushed == nil {
		return ocispec.Descriptor{}, fmt.Errorf("sign %s: no signature manifest was pushed", t.DigestRef())
	}
	return *pinned.pushed, nil
}

func envelopeMediaType(f sign.Format) (string, error) {
	switch f {
	case "", sign.FormatNotationJWS:
		return jws.MediaTypeEnvelope, nil
	case sign.FormatNotationCOSE:
		return cose.MediaTypeEnvelope, nil
	}
	return "", fmt.Errorf("notary: format %q is not a Notary Project format (want %s or %s)", f, sign.FormatNotationJWS, sign.FormatNotationCOSE)
}

// subjectOf is the descriptor a signature covers and refers to: media type,
// digest and size, as notation sees a manifest it resolved. Annotations and
// artifact type a referrers listing adds to a descriptor are not part of it.
func subjectOf(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

// withoutReferrersAPI is a copy of r that uses the referrers tag schema
// whatever the registry supports (r itself may be shared and may already
// know the registry's capability).
func withoutReferrersAPI(r *remote.Repository) (*remote.Repository, error) {
	c := &remote.Repository{
		Client:               r.Client,
		Reference:            r.Reference,
		PlainHTTP:            r.PlainHTTP,
		ManifestMediaTypes:   slices.Clone(r.ManifestMediaTypes),
		TagListPageSize:      r.TagListPageSize,
		ReferrerListPageSize: r.ReferrerListPageSize,
		TagListMaxPages:      r.TagListMaxPages,
		ReferrerListMaxPages: r.ReferrerListMaxPages,
		MaxMetadataBytes:     r.MaxMetadataBytes,
		SkipReferrersGC:      r.SkipReferrersGC,
		HandleWarning:        r.HandleWarning,
	}
	if err := c.SetReferrersCapability(false); err != nil {
		return nil, err
	}
	return c, nil
}

// pinnedRepository is the notation repository Sign hands to notation.Sign:
// it resolves only the target's digest, to the descriptor already resolved
// (no second look-up that could see another manifest), and keeps the
// descriptor of the signature manifest it pushes.
type pinnedRepository struct {
	registry.Repository
	subject ocispec.Descriptor
	pushed  *ocispec.Descriptor
}

// Resolve returns the pinned subject for its digest and refuses anything
// else.
func (p *pinnedRepository) Resolve(_ context.Context, reference string) (ocispec.Descriptor, error) {
	if reference != p.subject.Digest.String() {
		return ocispec.Descriptor{}, fmt.Errorf("resolve %q: only the resolved digest %s may be signed", reference, p.subject.Digest)
	}
	return p.subject, nil
}

// PushSignature pushes the signature and keeps the manifest's descriptor.
func (p *pinnedRepository) PushSignature(ctx context.Context, mediaType string, blob []byte, subject ocispec.Descriptor, annotations map[string]string) (ocispec.Descriptor, ocispec.Descriptor, error) {
	if subject.Digest != p.subject.Digest {
		return ocispec.Descriptor{}, ocispec.Descriptor{}, errors.New("push signature: subject is not the pinned target")
	}
	blobDesc, manifestDesc, err := p.Repository.PushSignature(ctx, mediaType, blob, subject, annotations)
	if err != nil {
		return blobDesc, manifestDesc, err
	}
	p.pushed = &manifestDesc
	return blobDesc, manifestDesc, nil
}
