package sigstore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/signtest"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
)

func TestSignatureTag(t *testing.T) {
	d := digest.Digest("sha256:" + strings.Repeat("ab", 32))
	if got, want := sigstore.SignatureTag(d), "sha256-"+strings.Repeat("ab", 32)+".sig"; got != want {
		t.Fatalf("SignatureTag = %q, want %q", got, want)
	}
}

// TestSignAndCheck signs with each key type and placement and verifies
// with the Checker: every signature written is found where it was put and
// verifies with the key.
func TestSignAndCheck(t *testing.T) {
	srv := startRegistry(t)
	tests := []struct {
		name string
		kt   keys.KeyType // "ed25519" is made here (signtest has no Ed25519)
		opts sigstore.SignOptions
		// locations expected, in Check's order (tag first, then referrers)
		locations []string
	}{
		{"ecdsa-p256 tag", keys.ECDSAP256, sigstore.SignOptions{}, []string{"tag"}},
		{"ecdsa-p384 tag", keys.ECDSAP384, sigstore.SignOptions{}, []string{"tag"}},
		{"rsa-3072 tag", keys.RSA3072, sigstore.SignOptions{}, []string{"tag"}},
		{"tag and referrer", keys.ECDSAP256, sigstore.SignOptions{Referrers: true}, []string{"tag", sigstore.LocationReferrer}},
		{"referrer only", keys.ECDSAP384, sigstore.SignOptions{Referrers: true, NoTag: true}, []string{sigstore.LocationReferrer}},
		{"ed25519 tag and referrer", "ed25519", sigstore.SignOptions{Referrers: true}, []string{"tag", sigstore.LocationReferrer}},
		{"annotations", keys.ECDSAP256, sigstore.SignOptions{Annotations: map[string]string{"team": "payments", "build": "42"}}, []string{"tag"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			target := signtest.PushImage(t, srv.Host, "team/app"+string(rune('a'+i)), "v1")
			signer := newSigner(t, tc.kt)
			descs, err := sigstore.Sign(ctx, target, signer, tc.opts)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if len(descs) != len(tc.locations) {
				t.Fatalf("Sign wrote %d manifests, want %d", len(descs), len(tc.locations))
			}
			var want []sign.Signature
			for j, loc := range tc.locations {
				if loc == "tag" {
					loc = "tag " + sigstore.SignatureTag(target.Desc.Digest)
				}
				want = append(want, sign.Signature{
					Format: sign.FormatCosign, Location: loc, Digest: descs[j].Digest.String(),
					Verified: true, Identity: keyID(t, signer.Public()),
				})
			}
			c := newChecker(t, sigstore.Options{CosignKey: writePublicKey(t, signer.Public())})
			sigs, v := check(t, c, resolve(t, target.Ref))
			if !reflect.DeepEqual(sigs, want) {
				t.Fatalf("signatures:\n got %+v\nwant %+v", sigs, want)
			}
			if want := (sign.Verdict{Checker: "sigstore", Passed: true}); v != want {
				t.Fatalf("verdict %+v, want %+v", v, want)
			}
		})
	}
}

// TestSignWritesCosignShape checks the bytes Sign writes against what
// cosign v2.6.5 writes (observed with `cosign sign` against a registry):
// the payload, the signatures image config, the .sig manifest and the OCI
// 1.1 referrer.
func TestSignWritesCosignShape(t *testing.T) {
	srv := startRegistry(t)
	ctx := context.Background()
	target := signtest.PushImage(t, srv.Host, "team/shape", "v1")
	signer := newSigner(t, keys.ECDSAP256)
	descs, err := sigstore.Sign(ctx, target, signer, sigstore.SignOptions{Referrers: true, Annotations: map[string]string{"team": "payments"}})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if len(descs) != 2 {
		t.Fatalf("Sign wrote %d manifests, want 2", len(descs))
	}
	tagged, err := target.Repo.Resolve(ctx, sigstore.SignatureTag(target.Desc.Digest))
	if err != nil {
		t.Fatalf("resolve .sig tag: %v", err)
	}
	if tagged.Digest != descs[0].Digest {
		t.Fatalf(".sig tag holds %s, Sign returned %s", tagged.Digest, descs[0].Digest)
	}

	payload := `{"critical":{"identity":{"docker-reference":"` + target.Name + `"},"image":{"docker-manifest-digest":"` +
		target.Desc.Digest.String() + `"},"type":"cosign container image signature"},"optional":{"team":"payments"}}`
	layerDigest := digest.FromString(payload)
	config := `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"",` +
		`"rootfs":{"type":"layers","diff_ids":["` + layerDigest.String() + `"]},"config":{}}`

	for i, want := range []struct {
		artifactType, configType string
		subject                  bool
	}{
		{"", ocispec.MediaTypeImageConfig, false},
		{sign.ArtifactTypeCosign, sign.ArtifactTypeCosign, true},
	} {
		m := fetchManifest(t, target, descs[i])
		if m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != want.artifactType || m.Config.MediaType != want.configType {
			t.Fatalf("manifest %d: mediaType %q artifactType %q config %q, want %q %q %q", i,
				m.MediaType, m.ArtifactType, m.Config.MediaType, ocispec.MediaTypeImageManifest, want.artifactType, want.configType)
		}
		if got := string(fetch(t, target, m.Config)); got != config {
			t.Fatalf("manifest %d: config\n got %s\nwant %s", i, got, config)
		}
		if want.subject != (m.Subject != nil) || (m.Subject != nil && (m.Subject.Digest != target.Desc.Digest || m.Subject.Size != target.Desc.Size || m.Subject.MediaType != target.Desc.MediaType)) {
			t.Fatalf("manifest %d: subject %+v, want the image %+v: %v", i, m.Subject, target.Desc, want.subject)
		}
		if len(m.Layers) != 1 || m.Layers[0].MediaType != sign.MediaTypeSimpleSigning || m.Layers[0].Digest != layerDigest {
			t.Fatalf("manifest %d: layers %+v, want one %s layer %s", i, m.Layers, sign.MediaTypeSimpleSigning, layerDigest)
		}
		if got := string(fetch(t, target, m.Layers[0])); got != payload {
			t.Fatalf("manifest %d: payload\n got %s\nwant %s", i, got, payload)
		}
		if _, err := base64.StdEncoding.DecodeString(m.Layers[0].Annotations[sigstore.SignatureAnnotation]); err != nil || len(m.Layers[0].Annotations) != 1 {
			t.Fatalf("manifest %d: layer annotations %v, want only a base64 %s", i, m.Layers[0].Annotations, sigstore.SignatureAnnotation)
		}
	}
}

// TestSignAppends: a second signer's signature is appended to the .sig
// manifest, both are listed, each verifies only with its own key, and
// signing the same payload with the same key again adds nothing.
func TestSignAppends(t *testing.T) {
	srv := startRegistry(t)
	ctx := context.Background()
	target := signtest.PushImage(t, srv.Host, "team/app", "v1")
	first, second := newSigner(t, keys.ECDSAP256), newSigner(t, keys.RSA3072)
	d1, err := sigstore.Sign(ctx, target, first, sigstore.SignOptions{})
	if err != nil {
		t.Fatalf("Sign (first): %v", err)
	}
	d2, err := sigstore.Sign(ctx, target, second, sigstore.SignOptions{})
	if err != nil {
		t.Fatalf("Sign (second): %v", err)
	}
	if d1[0].Digest == d2[0].Digest {
		t.Fatal("the second signature did not change the .sig manifest")
	}
	d3, err := sigstore.Sign(ctx, target, first, sigstore.SignOptions{})
	if err != nil {
		t.Fatalf("Sign (first again): %v", err)
	}
	if d3[0].Digest != d2[0].Digest {
		t.Fatalf("signing again with the same key rewrote the .sig manifest (%s, was %s)", d3[0].Digest, d2[0].Digest)
	}
	loc := "tag " + sigstore.SignatureTag(target.Desc.Digest)
	manifest := d2[0].Digest.String()
	for _, tc := range []struct {
		name   string
		signer *signtest.Signer
		want   []sign.Signature
	}{
		{"first key", first, []sign.Signature{
			{Format: sign.FormatCosign, Location: loc, Digest: manifest, Index: 0, Verified: true, Identity: keyID(t, first.Public())},
			{Format: sign.FormatCosign, Location: loc, Digest: manifest, Index: 1, Reason: sign.ReasonWrongKey},
		}},
		{"second key", second, []sign.Signature{
			{Format: sign.FormatCosign, Location: loc, Digest: manifest, Index: 0, Reason: sign.ReasonWrongKey},
			{Format: sign.FormatCosign, Location: loc, Digest: manifest, Index: 1, Verified: true, Identity: keyID(t, second.Public())},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChecker(t, sigstore.Options{CosignKey: writePublicKey(t, tc.signer.Public())})
			sigs, v := check(t, c, target)
			if got := withoutDetail(t, sigs); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("signatures:\n got %+v\nwant %+v", got, tc.want)
			}
			if !v.Passed {
				t.Fatalf("verdict %+v, want passed", v)
			}
		})
	}
}

// TestSignReferrersTagSchema signs as a referrer on a client that uses the
// referrers tag schema (a registry without the referrers API): the
// sha256-<hex> index lists the signature and the Checker finds it there.
func TestSignReferrersTagSchema(t *testing.T) {
	srv := startRegistry(t)
	ctx := context.Background()
	target := signtest.PushImage(t, srv.Host, "team/app", "v1")
	if err := target.Repo.SetReferrersCapability(false); err != nil {
		t.Fatal(err)
	}
	signer := newSigner(t, keys.ECDSAP256)
	descs, err := sigstore.Sign(ctx, target, signer, sigstore.SignOptions{Referrers: true, NoTag: true})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	tag := strings.Replace(target.Desc.Digest.String(), ":", "-", 1)
	idxDesc, err := target.Repo.Resolve(ctx, tag)
	if err != nil {
		t.Fatalf("the referrers tag %s: %v", tag, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(fetch(t, target, idxDesc), &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != descs[0].Digest || idx.Manifests[0].ArtifactType != sign.ArtifactTypeCosign {
		t.Fatalf("referrers tag index lists %+v, want the signature %s of type %s", idx.Manifests, descs[0].Digest, sign.ArtifactTypeCosign)
	}

	fresh := resolve(t, target.Ref)
	if err := fresh.Repo.SetReferrersCapability(false); err != nil {
		t.Fatal(err)
	}
	c := newChecker(t, sigstore.Options{CosignKey: writePublicKey(t, signer.Public())})
	sigs, v := check(t, c, fresh)
	want := []sign.Signature{{Format: sign.FormatCosign, Location: sigstore.LocationReferrer, Digest: descs[0].Digest.String(), Verified: true, Identity: keyID(t, signer.Public())}}
	if !reflect.DeepEqual(sigs, want) || !v.Passed {
		t.Fatalf("signatures %+v (verdict %+v), want %+v", sigs, v, want)
	}
}

func TestSignRefusesNothingToWrite(t *testing.T) {
	srv := startRegistry(t)
	target := signtest.PushImage(t, srv.Host, "team/app", "v1")
	_, err := sigstore.Sign(context.Background(), target, newSigner(t, keys.ECDSAP256), sigstore.SignOptions{NoTag: true})
	if err == nil || !strings.Contains(err.Error(), "nothing to write") {
		t.Fatalf("Sign with NoTag and no Referrers: err %v, want nothing to write", err)
	}
}

// TestCheckSimpleSigningNegatives: each way a cosign signature can fail,
// with the reason reported.
func TestCheckSimpleSigningNegatives(t *testing.T) {
	srv := startRegistry(t)
	ctx := context.Background()
	signer := newSigner(t, keys.ECDSAP256)
	keyFile := writePublicKey(t, signer.Public())
	id := keyID(t, signer.Public())

	tests := []struct {
		name string
		// setup signs or forges signatures for target and returns the
		// signatures the Checker must report.
		setup   func(t *testing.T, target *sign.Target) []sign.Signature
		opts    sigstore.Options
		verdict sign.Verdict
	}{
		{
			name: "wrong key",
			setup: func(t *testing.T, target *sign.Target) []sign.Signature {
				d := mustSign(t, target, newSigner(t, keys.ECDSAP256), sigstore.SignOptions{})
				return []sign.Signature{tagSig(target, d[0], 0, sign.ReasonWrongKey, "")}
			},
			opts:    sigstore.Options{CosignKey: keyFile},
			verdict: sign.Verdict{Checker: "sigstore", Reason: "none of the 1 Sigstore signatures verified"},
		},
		{
			name: "signature of another image copied over",
			setup: func(t *testing.T, target *sign.Target) []sign.Signature {
				other := signtest.PushImage(t, srv.Host, repoOf(target), "other")
				d := mustSign(t, other, signer, sigstore.SignOptions{})
				m := fetchManifest(t, other, d[0])
				forged := pushSigManifest(t, target, m.Layers)
				return []sign.Signature{tagSig(target, forged, 0, sign.ReasonDigestMismatch, id)}
			},
			opts:    sigstore.Options{CosignKey: keyFile},
			verdict: sign.Verdict{Checker: "sigstore", Reason: "none of the 1 Sigstore signatures verified"},
		},
		{
			name: "payload changed after signing",
			setup: func(t *testing.T, target *sign.Target) []sign.Signature {
				d := mustSign(t, target, signer, sigstore.SignOptions{Annotations: map[string]string{"approved": "no"}})
				layer := fetchManifest(t, target, d[0]).Layers[0]
				changed := bytes.Replace(fetch(t, target, layer), []byte(`"no"`), []byte(`"ok"`), 1)
				forgedLayer := pushBlob(t, target, sign.MediaTypeSimpleSigning, changed)
				forgedLayer.Annotations = layer.Annotations
				forged := pushSigManifest(t, target, []ocispec.Descriptor{forgedLayer})
				return []sign.Signature{tagSig(target, forged, 0, sign.ReasonWrongKey, "")}
			},
			opts:    sigstore.Options{CosignKey: keyFile},
			verdict: sign.Verdict{Checker: "sigstore", Reason: "none of the 1 Sigstore signatures verified"},
		},
		{
			name: "a layer that is not a signature, beside a good one",
			setup: func(t *testing.T, target *sign.Target) []sign.Signature {
				d := mustSign(t, target, signer, sigstore.SignOptions{})
				good := fetchManifest(t, target, d[0]).Layers[0]
				junk := pushBlob(t, target, "application/octet-stream", []byte("junk"))
				noAnnotation := good
				noAnnotation.Annotations = nil
				forged := pushSigManifest(t, target, []ocispec.Descriptor{junk, good, noAnnotation})
				return []sign.Signature{
					tagSig(target, forged, 0, sign.ReasonMalformed, ""),
					tagSig(target, forged, 1, "", id),
					tagSig(target, forged, 2, sign.ReasonMalformed, ""),
				}
			},
			opts:    sigstore.Options{CosignKey: keyFile},
			verdict: sign.Verdict{Checker: "sigstore", Passed: true},
		},
		{
			name: "no signature at all",
			setup: func(t *testing.T, target *sign.Target) []sign.Signature {
				return nil
			},
			opts:    sigstore.Options{CosignKey: keyFile},
			verdict: sign.Verdict{Checker: "sigstore", Reason: "no Sigstore signature found"},
		},
		{
			name: "unconfigured",
			setup: func(t *testing.T, target *sign.Target) []sign.Signature {
				d := mustSign(t, target, signer, sigstore.SignOptions{Referrers: true})
				return []sign.Signature{
					tagSig(target, d[0], 0, sign.ReasonNotChecked, ""),
					{Format: sign.FormatCosign, Location: sigstore.LocationReferrer, Digest: d[1].Digest.String(), Reason: sign.ReasonNotChecked},
				}
			},
			opts:    sigstore.Options{},
			verdict: sign.Verdict{Checker: "sigstore", Reason: "not configured"},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := signtest.PushImage(t, srv.Host, "neg/app"+string(rune('a'+i)), "v1")
			want := tc.setup(t, target)
			c := newChecker(t, tc.opts)
			sigs, v, err := c.Check(ctx, target)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got := withoutDetail(t, sigs); !reflect.DeepEqual(got, want) {
				t.Fatalf("signatures:\n got %+v\nwant %+v", sigs, want)
			}
			if v != tc.verdict {
				t.Fatalf("verdict %+v, want %+v", v, tc.verdict)
			}
		})
	}
}

// TestCheckRegistryDown: signatures that cannot be listed are an error,
// never an empty (unsigned) result.
func TestCheckRegistryDown(t *testing.T) {
	srv := startRegistry(t)
	target := signtest.PushImage(t, srv.Host, "team/app", "v1")
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	srv.Stop()
	c := newChecker(t, sigstore.Options{CosignKey: writePublicKey(t, newSigner(t, keys.ECDSAP256).Public())})
	sigs, _, err := c.Check(context.Background(), target)
	if err == nil {
		t.Fatalf("Check against a stopped registry: %+v, want an error", sigs)
	}
}

// withoutDetail returns sigs with Detail cleared, after checking that
// every signature that did not verify says why.
func withoutDetail(t *testing.T, sigs []sign.Signature) []sign.Signature {
	t.Helper()
	var out []sign.Signature
	for _, s := range sigs {
		if !s.Verified && s.Detail == "" {
			t.Errorf("signature %+v failed (%s) without a detail", s, s.Reason)
		}
		s.Detail = ""
		out = append(out, s)
	}
	return out
}

// tagSig is the signature expected at index i of the .sig manifest d:
// verified when reason is empty.
func tagSig(target *sign.Target, d ocispec.Descriptor, i int, reason sign.Reason, identity string) sign.Signature {
	return sign.Signature{
		Format: sign.FormatCosign, Location: "tag " + sigstore.SignatureTag(target.Desc.Digest), Digest: d.Digest.String(),
		Index: i, Verified: reason == "", Reason: reason, Identity: identity,
	}
}

func mustSign(t *testing.T, target *sign.Target, signer keys.Signer, opts sigstore.SignOptions) []ocispec.Descriptor {
	t.Helper()
	d, err := sigstore.Sign(context.Background(), target, signer, opts)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return d
}

// repoOf is the repository path of target (without the host).
func repoOf(target *sign.Target) string {
	return target.Name[strings.Index(target.Name, "/")+1:]
}

func fetch(t *testing.T, target *sign.Target, d ocispec.Descriptor) []byte {
	t.Helper()
	b, err := content.FetchAll(context.Background(), target.Repo, d)
	if err != nil {
		t.Fatalf("fetch %s: %v", d.Digest, err)
	}
	return b
}

func fetchManifest(t *testing.T, target *sign.Target, d ocispec.Descriptor) ocispec.Manifest {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(fetch(t, target, d), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func pushBlob(t *testing.T, target *sign.Target, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := content.NewDescriptorFromBytes(mediaType, b)
	if err := target.Repo.Blobs().Push(context.Background(), d, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return d
}

// pushSigManifest replaces the target's .sig manifest with one holding
// layers (whose blobs are in the repository).
func pushSigManifest(t *testing.T, target *sign.Target, layers []ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	cfg := pushBlob(t, target, ocispec.MediaTypeImageConfig, []byte("{}"))
	b, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, b)
	if err := target.Repo.PushReference(context.Background(), d, bytes.NewReader(b), sigstore.SignatureTag(target.Desc.Digest)); err != nil {
		t.Fatal(err)
	}
	return d
}
