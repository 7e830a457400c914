package sigstore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/sign"
)

// SignOptions say what Sign writes.
type SignOptions struct {
	// Annotations go into the payload's "optional" section, as
	// `cosign sign -a key=value` puts them (they are signed).
	Annotations map[string]string
	// Referrers also pushes the signature as an OCI 1.1 referrer of the
	// image (artifact type application/vnd.dev.cosign.artifact.sig.v1+json),
	// where `cosign verify --experimental-oci11` looks. The registry's
	// referrers API is used, or its tag schema when it has none.
	Referrers bool
	// NoTag leaves the legacy sha256-<hex>.sig tag alone: with Referrers,
	// the signature is only a referrer, as `cosign sign
	// --registry-referrers-mode=oci-1-1` writes it.
	NoTag bool
}

// Sign signs t with key in cosign's simple-signing format and pushes the
// signature: appended to the manifest at the tag sha256-<hex>.sig (other
// signatures there are kept, as cosign keeps them; an identical signature
// by the same key is not added twice), and/or as an OCI 1.1 referrer (see
// SignOptions). It returns the descriptors of the manifests written.
//
// The payload is signed over its SHA-256 digest (ECDSA of any curve: ASN.1
// signature; RSA: PKCS #1 v1.5), or whole for Ed25519: what `cosign verify
// --key` checks, since cosign loads public keys with SHA-256. No
// transparency log entry is written: verifiers need --insecure-ignore-tlog.
//
// Appending to the .sig tag reads, extends and rewrites its manifest: two
// signers appending at the same moment can lose one signature (cosign has
// the same race). The referrer form has none.
func Sign(ctx context.Context, t *sign.Target, key keys.Signer, opts SignOptions) ([]ocispec.Descriptor, error) {
	if opts.NoTag && !opts.Referrers {
		return nil, fmt.Errorf("sign %s (cosign): nothing to write: no .sig tag and no referrer", t.DigestRef())
	}
	body, err := simpleSigningPayload(t, opts.Annotations)
	if err != nil {
		return nil, fmt.Errorf("sign %s (cosign): %w", t.DigestRef(), err)
	}
	sig, err := signPayload(key, body)
	if err != nil {
		return nil, fmt.Errorf("sign %s (cosign) with %s: %w", t.DigestRef(), key.KeyRef(), err)
	}
	layer := ocispec.Descriptor{
		MediaType:   sign.MediaTypeSimpleSigning,
		Digest:      digest.FromBytes(body),
		Size:        int64(len(body)),
		Annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
	}
	if err := pushBlob(ctx, t.Repo, layer, body); err != nil {
		return nil, fmt.Errorf("sign %s (cosign): push payload: %w", t.DigestRef(), err)
	}
	var out []ocispec.Descriptor
	if !opts.NoTag {
		d, err := appendToTag(ctx, t, layer, body, key.Public())
		if err != nil {
			return nil, fmt.Errorf("sign %s (cosign): %w", t.DigestRef(), err)
		}
		out = append(out, d)
	}
	if opts.Referrers {
		d, err := pushReferrer(ctx, t, layer)
		if err != nil {
			return nil, fmt.Errorf("sign %s (cosign): %w", t.DigestRef(), err)
		}
		out = append(out, d)
	}
	return out, nil
}

// simpleSigningPayload is the JSON cosign signs: the image's repository as
// cosign names it (docker.io images as index.docker.io/…) and its digest.
func simpleSigningPayload(t *sign.Target, annotations map[string]string) ([]byte, error) {
	ref, err := name.NewDigest(t.DigestRef())
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", t.DigestRef(), err)
	}
	var optional map[string]any
	if len(annotations) > 0 {
		optional = make(map[string]any, len(annotations))
		for k, v := range annotations {
			optional[k] = v
		}
	}
	b, err := payload.Cosign{Image: ref, Annotations: optional}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	return b, nil
}

// signPayload signs body as cosign verifies it, and checks the result with
// the verifier cosign would use: a signer that hashes otherwise (an HSM
// doing RSA-PSS) is caught here rather than by the first verifier.
func signPayload(key crypto.Signer, body []byte) ([]byte, error) {
	var sig []byte
	var err error
	switch key.Public().(type) {
	case ed25519.PublicKey:
		sig, err = key.Sign(rand.Reader, body, crypto.Hash(0))
	case *ecdsa.PublicKey, *rsa.PublicKey:
		h := sha256.Sum256(body)
		sig, err = key.Sign(rand.Reader, h[:], crypto.SHA256)
	default:
		return nil, fmt.Errorf("unsupported key type %T (want ECDSA, RSA or Ed25519)", key.Public())
	}
	if err != nil {
		return nil, err
	}
	v, err := signature.LoadVerifier(key.Public(), crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("load verifier: %w", err)
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)); err != nil {
		return nil, fmt.Errorf("the key's signature does not verify as cosign verifies it (SHA-256, PKCS #1 v1.5 for RSA): %w", err)
	}
	return sig, nil
}

// appendToTag adds layer to the signatures at the image's .sig tag.
func appendToTag(ctx context.Context, t *sign.Target, layer ocispec.Descriptor, body []byte, pub crypto.PublicKey) (ocispec.Descriptor, error) {
	tag := SignatureTag(t.Desc.Digest)
	var layers []ocispec.Descriptor
	desc, m, err := fetchManifestByTag(ctx, t.Repo, tag)
	switch {
	case errors.Is(err, errdef.ErrNotFound):
	case err != nil:
		return ocispec.Descriptor{}, err
	default:
		if dupe(m.Layers, layer, body, pub) {
			return desc, nil
		}
		layers = m.Layers
	}
	if len(layers) >= maxLayers {
		return ocispec.Descriptor{}, fmt.Errorf("tag %s already holds %d signatures (cosign's limit is %d)", tag, len(layers), maxLayers)
	}
	layers = append(append([]ocispec.Descriptor(nil), layers...), layer)
	cfg, err := pushSignaturesConfig(ctx, t.Repo, layers, ocispec.MediaTypeImageConfig)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	b, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfg,
		Layers:    layers,
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("encode signature manifest: %w", err)
	}
	out := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, b)
	if err := t.Repo.PushReference(ctx, out, bytes.NewReader(b), tag); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push signature manifest to tag %s: %w", tag, err)
	}
	return out, nil
}

// dupe reports whether layers already hold body (the payload of layer)
// signed by pub: ECDSA signatures differ each time, so the signatures
// themselves cannot be compared.
func dupe(layers []ocispec.Descriptor, layer ocispec.Descriptor, body []byte, pub crypto.PublicKey) bool {
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return false
	}
	for _, l := range layers {
		if l.Digest != layer.Digest {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(l.Annotations[SignatureAnnotation])
		if err != nil {
			continue
		}
		if v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)) == nil {
			return true
		}
	}
	return false
}

// pushReferrer pushes layer as an OCI 1.1 referrer of t, in the shape cosign
// v2 writes with --registry-referrers-mode=oci-1-1: the signatures image's
// config and layers, config media type and artifactType both
// application/vnd.dev.cosign.artifact.sig.v1+json, subject the image.
func pushReferrer(ctx context.Context, t *sign.Target, layer ocispec.Descriptor) (ocispec.Descriptor, error) {
	layers := []ocispec.Descriptor{layer}
	cfg, err := pushSignaturesConfig(ctx, t.Repo, layers, sign.ArtifactTypeCosign)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	subject := ocispec.Descriptor{MediaType: t.Desc.MediaType, Digest: t.Desc.Digest, Size: t.Desc.Size}
	b, err := json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: sign.ArtifactTypeCosign,
		Config:       cfg,
		Layers:       layers,
		Subject:      &subject,
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("encode signature referrer: %w", err)
	}
	out := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, b)
	out.ArtifactType = sign.ArtifactTypeCosign
	if err := t.Repo.Push(ctx, out, bytes.NewReader(b)); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push signature referrer: %w", err)
	}
	return out, nil
}

// signaturesConfig is the config of cosign's signatures image: an empty
// image config whose rootfs lists the layers (each uncompressed, so its
// diff ID is its digest), as go-containerregistry's mutate.Append writes
// it for cosign.
type signaturesConfig struct {
	Architecture string         `json:"architecture"`
	Created      time.Time      `json:"created"`
	History      []historyEntry `json:"history"`
	OS           string         `json:"os"`
	RootFS       rootFS         `json:"rootfs"`
	Config       struct{}       `json:"config"`
}

type historyEntry struct {
	Created time.Time `json:"created"`
}

type rootFS struct {
	Type    string          `json:"type"`
	DiffIDs []digest.Digest `json:"diff_ids"`
}

// pushSignaturesConfig pushes the config for layers and returns its
// descriptor with mediaType (cosign puts the artifact type there for
// referrers).
func pushSignaturesConfig(ctx context.Context, repo *remote.Repository, layers []ocispec.Descriptor, mediaType string) (ocispec.Descriptor, error) {
	cfg := signaturesConfig{RootFS: rootFS{Type: "layers"}}
	for _, l := range layers {
		cfg.History = append(cfg.History, historyEntry{})
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.Digest)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("encode signatures config: %w", err)
	}
	desc := content.NewDescriptorFromBytes(mediaType, b)
	if err := pushBlob(ctx, repo, desc, b); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push signatures config: %w", err)
	}
	return desc, nil
}

// pushBlob uploads b unless the repository has it already.
func pushBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, b []byte) error {
	blob := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: desc.Digest, Size: desc.Size}
	ok, err := repo.Blobs().Exists(ctx, blob)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	err = repo.Blobs().Push(ctx, blob, bytes.NewReader(b))
	if errors.Is(err, errdef.ErrAlreadyExists) {
		return nil
	}
	return err
}
