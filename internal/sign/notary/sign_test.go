package notary_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	_ "github.com/notaryproject/notation-core-go/signature/cose" // registers the envelope types
	_ "github.com/notaryproject/notation-core-go/signature/jws"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/notary"
	"github.com/cssc-project/cssc/internal/sign/signtest"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	f := newFixture(t)
	c := f.checker(t, strict())
	tests := []struct {
		format    sign.Format
		mediaType string
		key       keys.KeyType
		alg       signature.Algorithm
	}{
		{sign.FormatNotationJWS, sign.MediaTypeJWS, keys.ECDSAP256, signature.AlgorithmES256},
		{sign.FormatNotationJWS, sign.MediaTypeJWS, keys.ECDSAP384, signature.AlgorithmES384},
		{sign.FormatNotationJWS, sign.MediaTypeJWS, keys.RSA3072, signature.AlgorithmPS384},
		{sign.FormatNotationCOSE, sign.MediaTypeCOSE, keys.ECDSAP256, signature.AlgorithmES256},
		{sign.FormatNotationCOSE, sign.MediaTypeCOSE, keys.ECDSAP384, signature.AlgorithmES384},
		{sign.FormatNotationCOSE, sign.MediaTypeCOSE, keys.RSA3072, signature.AlgorithmPS384},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s", tc.format, tc.key), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			target := f.image(t, "round/"+strings.ReplaceAll(string(tc.format)+"-"+string(tc.key), "notation-", ""))
			key := f.ca.Issue(t, signtest.LeafOptions{KeyType: tc.key})
			meta := map[string]string{"org.example.build": "42", "org.example.stage": "release"}
			before := time.Now().Truncate(time.Second)
			desc := mustSign(t, target, key, notary.SignOptions{Format: tc.format, Annotations: meta})

			// The signature manifest, as the Notary Project stores it.
			m := fetchManifest(t, target.Repo, desc)
			if m.Config.MediaType != sign.ArtifactTypeNotation {
				t.Errorf("config media type %q, want %q", m.Config.MediaType, sign.ArtifactTypeNotation)
			}
			if m.Subject == nil || m.Subject.Digest != target.Desc.Digest || m.Subject.Size != target.Desc.Size || m.Subject.MediaType != target.Desc.MediaType {
				t.Errorf("subject %+v, want %+v", m.Subject, target.Desc)
			}
			if got, want := m.Annotations["io.cncf.notary.x509chain.thumbprint#S256"], thumbprints(t, key); got != want {
				t.Errorf("thumbprint annotation %q, want %q", got, want)
			}
			if len(m.Layers) != 1 || m.Layers[0].MediaType != tc.mediaType {
				t.Fatalf("layers %+v, want one %s", m.Layers, tc.mediaType)
			}

			// Listed as a referrer of the image with the Notary artifact type.
			var refs []ocispec.Descriptor
			if err := target.Repo.Referrers(ctx, target.Desc, "", func(r []ocispec.Descriptor) error { refs = append(refs, r...); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(refs) != 1 || refs[0].Digest != desc.Digest || refs[0].ArtifactType != sign.ArtifactTypeNotation {
				t.Errorf("referrers %+v, want the signature %s with artifact type %s", refs, desc.Digest, sign.ArtifactTypeNotation)
			}

			// The envelope: signature algorithm, payload and its metadata.
			env, err := signature.ParseEnvelope(tc.mediaType, fetchBlob(t, target.Repo, m.Layers[0]))
			if err != nil {
				t.Fatal(err)
			}
			content, err := env.Verify()
			if err != nil {
				t.Fatalf("envelope does not verify: %v", err)
			}
			if content.SignerInfo.SignatureAlgorithm != tc.alg {
				t.Errorf("signature algorithm %v, want %v", content.SignerInfo.SignatureAlgorithm, tc.alg)
			}
			if s := content.SignerInfo.SignedAttributes.SigningScheme; s != signature.SigningSchemeX509 {
				t.Errorf("signing scheme %q, want notary.x509", s)
			}
			var payload struct {
				TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
			}
			if err := json.Unmarshal(content.Payload.Content, &payload); err != nil {
				t.Fatal(err)
			}
			if payload.TargetArtifact.Digest != target.Desc.Digest || !maps.Equal(payload.TargetArtifact.Annotations, meta) {
				t.Errorf("payload target %+v, want digest %s with annotations %v", payload.TargetArtifact, target.Desc.Digest, meta)
			}

			sigs, v := check(t, c, target)
			if !v.Passed || v.Skipped || v.Checker != "notary" {
				t.Errorf("verdict %+v, want passed", v)
			}
			s := only(t, sigs)
			want := sign.Signature{
				Format: tc.format, Location: "referrer", Digest: desc.Digest.String(),
				Verified: true, Level: "strict",
				Identity: "CN=signer,O=cssc test,ST=Test,C=US", Issuer: "CN=acme root,O=cssc test",
			}
			got := s
			got.SignedAt, got.Expires = nil, nil
			if got != want {
				t.Errorf("signature\n got %+v\nwant %+v", got, want)
			}
			if s.SignedAt == nil || s.SignedAt.Before(before) || s.SignedAt.After(time.Now()) {
				t.Errorf("signed at %v, want between %v and now", s.SignedAt, before)
			}
			if e := earliestNotAfter(key); s.Expires == nil || !s.Expires.Equal(e) {
				t.Errorf("expires %v, want the chain's earliest NotAfter %v", s.Expires, e)
			}
		})
	}
}

// A tag resolved before signing stays resolved: moving the tag to another
// image meanwhile does not change what is signed.
func TestSignUsesResolvedDigest(t *testing.T) {
	f := newFixture(t)
	target := f.image(t, "moving")
	other := f.image(t, "moving") // same tag, now another image
	if other.Desc.Digest == target.Desc.Digest {
		t.Fatal("the two images have the same digest")
	}
	desc := mustSign(t, target, f.ca.Issue(t, signtest.LeafOptions{}), notary.SignOptions{})
	if m := fetchManifest(t, target.Repo, desc); m.Subject == nil || m.Subject.Digest != target.Desc.Digest {
		t.Fatalf("signature subject %+v, want %s", m.Subject, target.Desc.Digest)
	}
	c := f.checker(t, strict())
	if sigs, v := check(t, c, other); len(sigs) != 0 || v.Passed {
		t.Errorf("the image now tagged: %d signatures, verdict %+v; want none, failed", len(sigs), v)
	}
	if _, v := check(t, c, target); !v.Passed {
		t.Errorf("signed image: verdict %+v, want passed", v)
	}
}

func TestSignErrors(t *testing.T) {
	f := newFixture(t)
	target := f.image(t, "errors")
	key := f.ca.Issue(t, signtest.LeafOptions{})
	other := f.ca.Issue(t, signtest.LeafOptions{})
	mismatched := &signtest.Signer{Key: other.Key, Chain: key.Chain}
	tests := []struct {
		name string
		key  *signtest.Signer
		opts notary.SignOptions
		want string
	}{
		{"cosign format", key, notary.SignOptions{Format: sign.FormatCosign}, `format "cosign" is not a Notary Project format`},
		{"reserved annotation", key, notary.SignOptions{Annotations: map[string]string{"io.cncf.notary.x": "y"}}, "reserved prefix"},
		{"key not the certificate's", mismatched, notary.SignOptions{}, "does not match the public key of its certificate"},
		{"no chain", &signtest.Signer{Key: key.Key}, notary.SignOptions{}, "has no certificate chain"},
		{"TSA without roots", key, notary.SignOptions{Timestamper: notary.Timestamper{URL: "http://127.0.0.1:1/"}}, "without its root certificates"},
		{"sub-second expiry", key, notary.SignOptions{Expiry: 1500 * time.Millisecond}, "granularity of seconds"},
		{"negative expiry", key, notary.SignOptions{Expiry: -time.Hour}, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notary.Sign(context.Background(), target, tc.key, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Sign: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	var refs []ocispec.Descriptor
	if err := target.Repo.Referrers(context.Background(), target.Desc, "", func(r []ocispec.Descriptor) error { refs = append(refs, r...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(refs) != 0 {
		t.Errorf("failed signings pushed %d referrers", len(refs))
	}
}
