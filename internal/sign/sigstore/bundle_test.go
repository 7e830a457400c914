package sigstore_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/signtest"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
	"github.com/cssc-project/cssc/internal/sign/sigstore/sigstoretest"
)

// TestCheckBundles verifies Sigstore bundles attached as OCI 1.1 referrers
// (as cosign --new-bundle-format attaches them), keyless against a trusted
// root made offline and key-signed against a key, with every failure
// reason.
func TestCheckBundles(t *testing.T) {
	srv := startRegistry(t)
	ca := sigstoretest.NewCA(t, "fulcio", true)
	tsa := sigstoretest.NewTSA(t, "tsa")
	rogueCA := sigstoretest.NewCA(t, "rogue-fulcio", false)
	rogueTSA := sigstoretest.NewTSA(t, "rogue-tsa")
	rootPath := filepath.Join(t.TempDir(), "trusted_root.json")
	sigstoretest.WriteTrustedRoot(t, rootPath, []*sigstoretest.CA{ca}, []*sigstoretest.TSA{tsa})

	const (
		email  = "release@example.com"
		issuer = "https://accounts.example.com"
	)
	workflow := "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	who := sigstoretest.Identity{SAN: email, Issuer: issuer}
	keyless := sigstore.Options{TrustedRoot: rootPath, Identity: email, Issuer: issuer}
	signedAt := time.Now().UTC().Truncate(time.Second)
	key := signtest.NewKey(t, keys.ECDSAP256)
	keyFile := writePublicKey(t, key.Public())
	otherKeyFile := writePublicKey(t, signtest.NewKey(t, keys.ECDSAP256).Public())
	otherDigest := digest.FromString("another image")

	tests := []struct {
		name string
		// bundle makes the bundle attached to the image d.
		bundle func(d digest.Digest) []byte
		opts   sigstore.Options
		want   sign.Signature // Format, Location and Digest are filled in
	}{
		{
			name: "keyless DSSE statement",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: who, TSA: tsa, SignedAt: signedAt})
			},
			opts: keyless,
			want: sign.Signature{Verified: true, Identity: email, Issuer: issuer, Timestamp: &signedAt},
		},
		{
			name: "keyless message signature",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: who, TSA: tsa, SignedAt: signedAt, MessageSignature: true})
			},
			opts: keyless,
			want: sign.Signature{Verified: true, Identity: email, Issuer: issuer, Timestamp: &signedAt},
		},
		{
			name: "keyless, URI identity matched by regular expressions",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: sigstoretest.Identity{SAN: workflow, Issuer: issuer}, TSA: tsa, SignedAt: signedAt})
			},
			opts: sigstore.Options{TrustedRoot: rootPath, IdentityRegexp: `^https://github\.com/acme/`, IssuerRegexp: `^https://accounts\.example\.com$`},
			want: sign.Signature{Verified: true, Identity: workflow, Issuer: issuer, Timestamp: &signedAt},
		},
		{
			name: "wrong identity",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: sigstoretest.Identity{SAN: "mallory@example.com", Issuer: issuer}, TSA: tsa})
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonUntrustedIdentity, Identity: "mallory@example.com", Issuer: issuer},
		},
		{
			name: "wrong issuer",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: sigstoretest.Identity{SAN: email, Issuer: "https://evil.example.com"}, TSA: tsa})
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonUntrustedIdentity, Identity: email, Issuer: "https://evil.example.com"},
		},
		{
			name: "CA not in the trusted root",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: rogueCA, Identity: who, TSA: tsa})
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonUntrustedChain, Identity: email, Issuer: issuer},
		},
		{
			name: "certificate expired at signing time",
			bundle: func(d digest.Digest) []byte {
				old := sigstoretest.Identity{SAN: email, Issuer: issuer, NotBefore: signedAt.Add(-2 * time.Hour), NotAfter: signedAt.Add(-time.Hour)}
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: old, TSA: tsa, SignedAt: signedAt})
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonCertificateExpired, Identity: email, Issuer: issuer},
		},
		{
			name: "bundle for another image attached to this one",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: otherDigest, CA: ca, Identity: who, TSA: tsa})
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonDigestMismatch, Identity: email, Issuer: issuer},
		},
		{
			name: "message signature for another image",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: otherDigest, CA: ca, Identity: who, TSA: tsa, MessageSignature: true})
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonDigestMismatch, Identity: email, Issuer: issuer},
		},
		{
			name: "statement retargeted to this image after signing",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.Retarget(t, sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: otherDigest, CA: ca, Identity: who, TSA: tsa}), d)
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonTampered, Identity: email, Issuer: issuer},
		},
		{
			name: "message digest retargeted to this image after signing",
			bundle: func(d digest.Digest) []byte {
				b := sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: otherDigest, CA: ca, Identity: who, TSA: tsa, MessageSignature: true})
				return sigstoretest.Retarget(t, b, d)
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonTampered, Identity: email, Issuer: issuer},
		},
		{
			name: "DSSE signature changed",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.CorruptSignature(t, sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: who, TSA: tsa}))
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonTampered, Identity: email, Issuer: issuer},
		},
		{
			name: "message signature changed",
			bundle: func(d digest.Digest) []byte {
				b := sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: who, TSA: tsa, MessageSignature: true})
				return sigstoretest.CorruptSignature(t, b)
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonTampered, Identity: email, Issuer: issuer},
		},
		{
			name: "key-signed bundle, signature changed",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.CorruptSignature(t, sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, Key: key}))
			},
			opts: sigstore.Options{CosignKey: keyFile},
			want: sign.Signature{Reason: sign.ReasonWrongKey},
		},
		{
			name: "no timestamp",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: who})
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonTimestamp, Identity: email, Issuer: issuer},
		},
		{
			name: "timestamp from a TSA not in the trusted root",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: who, TSA: rogueTSA})
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonTimestamp, Identity: email, Issuer: issuer},
		},
		{
			name: "an attestation, not a signature",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: who, TSA: tsa, PredicateType: "https://slsa.dev/provenance/v1"})
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonNotChecked},
		},
		{
			name: "keyless bundle, only a key given",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: who, TSA: tsa})
			},
			opts: sigstore.Options{CosignKey: keyFile},
			want: sign.Signature{Reason: sign.ReasonNotChecked},
		},
		{
			name: "key-signed bundle",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, Key: key})
			},
			opts: sigstore.Options{CosignKey: keyFile},
			want: sign.Signature{Verified: true, Identity: keyID(t, key.Public())},
		},
		{
			name: "key-signed message signature",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, Key: key, MessageSignature: true})
			},
			opts: sigstore.Options{CosignKey: keyFile},
			want: sign.Signature{Verified: true, Identity: keyID(t, key.Public())},
		},
		{
			name: "key-signed bundle, another key",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, Key: key})
			},
			opts: sigstore.Options{CosignKey: otherKeyFile},
			want: sign.Signature{Reason: sign.ReasonWrongKey},
		},
		{
			name: "key-signed bundle for another image",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: otherDigest, Key: key})
			},
			opts: sigstore.Options{CosignKey: keyFile},
			want: sign.Signature{Reason: sign.ReasonDigestMismatch, Identity: keyID(t, key.Public())},
		},
		{
			name: "key-signed bundle, only a trusted root given",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, Key: key})
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonNotChecked},
		},
		{
			name: "not a bundle",
			bundle: func(d digest.Digest) []byte {
				return []byte(`{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}`)
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonMalformed},
		},
		{
			name: "unconfigured",
			bundle: func(d digest.Digest) []byte {
				return sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: who, TSA: tsa})
			},
			opts: sigstore.Options{},
			want: sign.Signature{Reason: sign.ReasonNotChecked},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			target := signtest.PushImage(t, srv.Host, "bundles/app"+string(rune('a'+i%26))+string(rune('a'+i/26)), "v1")
			desc := sigstoretest.PushBundle(ctx, t, target.Repo, target.Desc, tc.bundle(target.Desc.Digest))
			want := tc.want
			want.Format, want.Location, want.Digest = sign.FormatBundle, sigstore.LocationReferrer, desc.Digest.String()
			c := newChecker(t, tc.opts)
			sigs, v := check(t, c, resolve(t, target.Ref))
			t.Logf("found:%s", show(sigs))
			got := withoutDetail(t, sigs)
			if len(got) == 1 && got[0].Timestamp != nil && want.Timestamp != nil && got[0].Timestamp.Equal(*want.Timestamp) {
				got[0].Timestamp, want.Timestamp = nil, nil // equal instants; compared apart from their encoding
			}
			if !reflect.DeepEqual(got, []sign.Signature{want}) {
				t.Fatalf("signatures:\n got %s\nwant %s", show(sigs), show([]sign.Signature{want}))
			}
			if v.Passed != want.Verified {
				t.Fatalf("verdict %+v, want passed=%v", v, want.Verified)
			}
		})
	}
}

// TestCheckBundleTagSchema: a bundle attached through the referrers tag
// schema (a registry without the referrers API) is found and verified.
func TestCheckBundleTagSchema(t *testing.T) {
	srv := startRegistry(t)
	ca, tsa := sigstoretest.NewCA(t, "fulcio", false), sigstoretest.NewTSA(t, "tsa")
	rootPath := filepath.Join(t.TempDir(), "trusted_root.json")
	sigstoretest.WriteTrustedRoot(t, rootPath, []*sigstoretest.CA{ca}, []*sigstoretest.TSA{tsa})
	target := signtest.PushImage(t, srv.Host, "team/app", "v1")
	if err := target.Repo.SetReferrersCapability(false); err != nil {
		t.Fatal(err)
	}
	who := sigstoretest.Identity{SAN: "ci@example.com", Issuer: "https://issuer.example.com"}
	desc := sigstoretest.PushBundle(context.Background(), t, target.Repo, target.Desc,
		sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: target.Desc.Digest, CA: ca, Identity: who, TSA: tsa}))

	fresh := resolve(t, target.Ref)
	if err := fresh.Repo.SetReferrersCapability(false); err != nil {
		t.Fatal(err)
	}
	c := newChecker(t, sigstore.Options{TrustedRoot: rootPath, Identity: who.SAN, Issuer: who.Issuer})
	sigs, v := check(t, c, fresh)
	if len(sigs) != 1 || !sigs[0].Verified || sigs[0].Digest != desc.Digest.String() || sigs[0].Location != sigstore.LocationReferrer || !v.Passed {
		t.Fatalf("signatures %s (verdict %+v), want the bundle %s verified", show(sigs), v, desc.Digest)
	}
}

// TestCheckMixed: one image with a cosign signature and a keyless bundle;
// a checker with both a key and a trusted root verifies both, one with
// only the key lists the bundle as not checked and still passes.
func TestCheckMixed(t *testing.T) {
	srv := startRegistry(t)
	ca, tsa := sigstoretest.NewCA(t, "fulcio", false), sigstoretest.NewTSA(t, "tsa")
	rootPath := filepath.Join(t.TempDir(), "trusted_root.json")
	sigstoretest.WriteTrustedRoot(t, rootPath, []*sigstoretest.CA{ca}, []*sigstoretest.TSA{tsa})
	target := signtest.PushImage(t, srv.Host, "team/app", "v1")
	signer := newSigner(t, keys.ECDSAP256)
	mustSign(t, target, signer, sigstore.SignOptions{})
	who := sigstoretest.Identity{SAN: "ci@example.com", Issuer: "https://issuer.example.com"}
	sigstoretest.PushBundle(context.Background(), t, target.Repo, target.Desc,
		sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: target.Desc.Digest, CA: ca, Identity: who, TSA: tsa}))
	keyFile := writePublicKey(t, signer.Public())

	for _, tc := range []struct {
		name string
		opts sigstore.Options
		want []bool // verified, per signature: the .sig layer, then the bundle
	}{
		{"key and trusted root", sigstore.Options{CosignKey: keyFile, TrustedRoot: rootPath, Identity: who.SAN, Issuer: who.Issuer}, []bool{true, true}},
		{"key only", sigstore.Options{CosignKey: keyFile}, []bool{true, false}},
		{"trusted root only", sigstore.Options{TrustedRoot: rootPath, Identity: who.SAN, Issuer: who.Issuer}, []bool{false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sigs, v := check(t, newChecker(t, tc.opts), target)
			var got []bool
			for _, s := range sigs {
				got = append(got, s.Verified)
			}
			if !reflect.DeepEqual(got, tc.want) || !v.Passed {
				t.Fatalf("verified %v (verdict %+v), want %v: %s", got, v, tc.want, show(sigs))
			}
			for _, s := range sigs {
				if !s.Verified && s.Reason != sign.ReasonNotChecked {
					t.Fatalf("a signature the options do not cover: %s, want %s", s.Reason, sign.ReasonNotChecked)
				}
			}
		})
	}
}

func show(sigs []sign.Signature) string {
	var out string
	for _, s := range sigs {
		ts := "<nil>"
		if s.Timestamp != nil {
			ts = s.Timestamp.String()
		}
		out += "\n  " + string(s.Format) + " " + s.Location + " " + s.Digest + " verified=" + map[bool]string{true: "yes", false: "no"}[s.Verified] +
			" reason=" + string(s.Reason) + " identity=" + s.Identity + " issuer=" + s.Issuer + " timestamp=" + ts + " detail=" + s.Detail
	}
	return out
}
