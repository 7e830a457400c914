package sigstoretest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"google.golang.org/protobuf/encoding/protojson"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-project/cssc/internal/sign"
)

// What cosign v2 `sign --new-bundle-format` signs for an image: an in-toto
// statement about the image digest, with cosign's signature predicate type
// and no predicate, in a DSSE envelope.
const (
	StatementType     = "https://in-toto.io/Statement/v1"
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	InTotoPayloadType = "application/vnd.in-toto+json"
)

// BundleOptions describe a bundle to make.
type BundleOptions struct {
	// Digest is what is signed: the image manifest's digest.
	Digest digest.Digest
	// Key signs; nil means a new ECDSA P-256 key.
	Key crypto.Signer
	// CA, when set, issues a certificate to Key for Identity: a keyless
	// bundle. Without it the bundle is key-signed: its verification
	// material is a public key hint (KeyHint, by default the base64
	// SHA-256 of the key's DER encoding).
	CA       *CA
	Identity Identity
	KeyHint  string
	// TSA, when set, timestamps the signature at SignedAt (zero: now).
	// Without it the bundle has no timestamp.
	TSA      *TSA
	SignedAt time.Time
	// MessageSignature signs the digest itself (a messageSignature bundle)
	// rather than a DSSE statement.
	MessageSignature bool
	// PredicateType of the DSSE statement; empty means SignPredicateType.
	PredicateType string
}

// NewBundle makes a Sigstore bundle v0.3 as JSON. By default it is what
// cosign writes for `cosign sign --new-bundle-format`: a DSSE envelope
// around an in-toto statement whose subject is the digest.
func NewBundle(t testing.TB, o BundleOptions) []byte {
	t.Helper()
	key := o.Key
	if key == nil {
		key = newKey(t)
	}
	b := &protobundle.Bundle{
		MediaType:            sign.ArtifactTypeBundle,
		VerificationMaterial: &protobundle.VerificationMaterial{},
	}
	var sig []byte
	if o.MessageSignature {
		dg := digestBytes(t, o.Digest)
		var err error
		if sig, err = key.Sign(rand.Reader, dg, crypto.SHA256); err != nil {
			t.Fatalf("sign digest: %v", err)
		}
		b.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: dg},
			Signature:     sig,
		}}
	} else {
		pt := o.PredicateType
		if pt == "" {
			pt = SignPredicateType
		}
		stmt := Statement(t, o.Digest, pt)
		sig = signMessage(t, key, pae(InTotoPayloadType, stmt))
		b.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload:     stmt,
			PayloadType: InTotoPayloadType,
			Signatures:  []*protodsse.Signature{{Sig: sig}},
		}}
	}
	if o.CA != nil {
		cert := o.CA.Issue(t, key.Public(), o.Identity)
		b.VerificationMaterial.Content = &protobundle.VerificationMaterial_Certificate{
			Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw},
		}
	} else {
		hint := o.KeyHint
		if hint == "" {
			der, err := x509.MarshalPKIXPublicKey(key.Public())
			if err != nil {
				t.Fatalf("encode public key: %v", err)
			}
			h := sha256.Sum256(der)
			hint = base64.StdEncoding.EncodeToString(h[:])
		}
		b.VerificationMaterial.Content = &protobundle.VerificationMaterial_PublicKey{
			PublicKey: &protocommon.PublicKeyIdentifier{Hint: hint},
		}
	}
	if o.TSA != nil {
		at := o.SignedAt
		if at.IsZero() {
			at = time.Now()
		}
		b.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: o.TSA.Timestamp(t, sig, at)}},
		}
	}
	out, err := protojson.Marshal(b)
	if err != nil {
		t.Fatalf("encode bundle: %v", err)
	}
	return out
}

// Statement is the in-toto statement (JSON) cosign signs for an image:
// subject the digest, no predicate.
func Statement(t testing.TB, d digest.Digest, predicateType string) []byte {
	t.Helper()
	type subject struct {
		Digest map[string]string `json:"digest"`
	}
	b, err := json.Marshal(struct {
		Type          string    `json:"_type"`
		Subject       []subject `json:"subject"`
		PredicateType string    `json:"predicateType"`
	}{StatementType, []subject{{Digest: map[string]string{d.Algorithm().String(): d.Encoded()}}}, predicateType})
	if err != nil {
		t.Fatalf("encode statement: %v", err)
	}
	return b
}

// Retarget rewrites a bundle to name d instead of what it was signed for
// (the DSSE statement's subject, or the message signature's digest),
// without signing again: a bundle changed after signing.
func Retarget(t testing.TB, bundleJSON []byte, d digest.Digest) []byte {
	t.Helper()
	var b protobundle.Bundle
	if err := protojson.Unmarshal(bundleJSON, &b); err != nil {
		t.Fatalf("decode bundle: %v", err)
	}
	switch c := b.Content.(type) {
	case *protobundle.Bundle_DsseEnvelope:
		var stmt map[string]any
		if err := json.Unmarshal(c.DsseEnvelope.Payload, &stmt); err != nil {
			t.Fatalf("decode statement: %v", err)
		}
		stmt["subject"] = []any{map[string]any{"digest": map[string]string{d.Algorithm().String(): d.Encoded()}}}
		p, err := json.Marshal(stmt)
		if err != nil {
			t.Fatalf("encode statement: %v", err)
		}
		c.DsseEnvelope.Payload = p
	case *protobundle.Bundle_MessageSignature:
		c.MessageSignature.MessageDigest.Digest = digestBytes(t, d)
	default:
		t.Fatalf("bundle has no content to retarget")
	}
	out, err := protojson.Marshal(&b)
	if err != nil {
		t.Fatalf("encode bundle: %v", err)
	}
	return out
}

// PushBundle pushes bundleJSON as an OCI 1.1 referrer of subject, in the
// shape cosign v2 writes (WriteAttestationNewBundleFormat): an image
// manifest with artifactType application/vnd.dev.sigstore.bundle.v0.3+json,
// the empty config ({}) carrying the same artifactType, the bundle as its
// only layer, and cosign's annotations. The pusher (an oras-go repository)
// updates the referrers tag schema when the registry has no referrers API.
func PushBundle(ctx context.Context, t testing.TB, p content.Pusher, subject ocispec.Descriptor, bundleJSON []byte) ocispec.Descriptor {
	t.Helper()
	var b protobundle.Bundle
	if err := protojson.Unmarshal(bundleJSON, &b); err != nil {
		t.Fatalf("decode bundle: %v", err)
	}
	kind, predicateType := "message-signature", ""
	if env := b.GetDsseEnvelope(); env != nil {
		kind = "dsse-envelope"
		var stmt struct {
			PredicateType string `json:"predicateType"`
		}
		if err := json.Unmarshal(env.Payload, &stmt); err != nil {
			t.Fatalf("decode statement: %v", err)
		}
		predicateType = stmt.PredicateType
	}
	cfg := ocispec.DescriptorEmptyJSON
	push(ctx, t, p, cfg, cfg.Data)
	cfg.Data = nil
	cfg.ArtifactType = sign.ArtifactTypeBundle
	layer := content.NewDescriptorFromBytes(sign.ArtifactTypeBundle, bundleJSON)
	push(ctx, t, p, layer, bundleJSON)
	annotations := map[string]string{
		ocispec.AnnotationCreated:     time.Now().UTC().Format(time.RFC3339),
		"dev.sigstore.bundle.content": kind,
	}
	if predicateType != "" {
		annotations["dev.sigstore.bundle.predicateType"] = predicateType
	}
	m, err := json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: sign.ArtifactTypeBundle,
		Config:       cfg,
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations:  annotations,
	})
	if err != nil {
		t.Fatalf("encode bundle manifest: %v", err)
	}
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, m)
	desc.ArtifactType = sign.ArtifactTypeBundle
	push(ctx, t, p, desc, m)
	return desc
}

func push(ctx context.Context, t testing.TB, p content.Pusher, desc ocispec.Descriptor, b []byte) {
	t.Helper()
	if err := p.Push(ctx, desc, bytes.NewReader(b)); err != nil {
		t.Fatalf("push %s: %v", desc.MediaType, err)
	}
}

// pae is DSSE's pre-authentication encoding, what a DSSE signature signs.
func pae(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
}

// signMessage signs msg as Sigstore verifies a key's signature: over its
// SHA-256 (ECDSA, RSA PKCS #1 v1.5), or whole for Ed25519.
func signMessage(t testing.TB, key crypto.Signer, msg []byte) []byte {
	t.Helper()
	var sig []byte
	var err error
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		sig, err = key.Sign(rand.Reader, msg, crypto.Hash(0))
	} else {
		h := sha256.Sum256(msg)
		sig, err = key.Sign(rand.Reader, h[:], crypto.SHA256)
	}
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return sig
}

func digestBytes(t testing.TB, d digest.Digest) []byte {
	t.Helper()
	if d.Algorithm() != digest.SHA256 {
		t.Fatalf("digest %s: only sha256 is supported here", d)
	}
	b, err := hex.DecodeString(d.Encoded())
	if err != nil {
		t.Fatalf("digest %s: %v", d, err)
	}
	return b
}

// CorruptSignature flips a bit of the bundle's signature (the DSSE
// envelope's or the message signature's): a signature changed after
// signing, which also voids any timestamp over it.
func CorruptSignature(t testing.TB, bundleJSON []byte) []byte {
	t.Helper()
	var b protobundle.Bundle
	if err := protojson.Unmarshal(bundleJSON, &b); err != nil {
		t.Fatalf("decode bundle: %v", err)
	}
	var sig []byte
	switch c := b.Content.(type) {
	case *protobundle.Bundle_DsseEnvelope:
		sig = c.DsseEnvelope.Signatures[0].Sig
	case *protobundle.Bundle_MessageSignature:
		sig = c.MessageSignature.Signature
	}
	if len(sig) == 0 {
		t.Fatalf("bundle has no signature to corrupt")
	}
	sig[len(sig)/2] ^= 0x01
	out, err := protojson.Marshal(&b)
	if err != nil {
		t.Fatalf("encode bundle: %v", err)
	}
	return out
}
