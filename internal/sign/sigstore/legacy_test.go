package sigstore_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestCheckLegacyKeyless verifies keyless simple-signing layers (what
// `cosign sign` writes by default: certificate, chain, Rekor bundle and/or
// RFC 3161 timestamp in annotations) in the .sig tag, against a trusted
// root made offline, with every failure reason.
func TestCheckLegacyKeyless(t *testing.T) {
	srv := startRegistry(t)
	ca := sigstoretest.NewCA(t, "fulcio", true)
	tsa := sigstoretest.NewTSA(t, "tsa")
	rekor := sigstoretest.NewRekor(t, "rekor")
	rogueCA := sigstoretest.NewCA(t, "rogue-fulcio", false)
	rogueTSA := sigstoretest.NewTSA(t, "rogue-tsa")
	rogueRekor := sigstoretest.NewRekor(t, "rogue-rekor")
	rootPath := filepath.Join(t.TempDir(), "trusted_root.json")
	sigstoretest.Root{CAs: []*sigstoretest.CA{ca}, TSAs: []*sigstoretest.TSA{tsa}, Logs: []*sigstoretest.Rekor{rekor}}.Write(t, rootPath)

	const (
		email  = "release@example.com"
		issuer = "https://accounts.example.com"
	)
	who := sigstoretest.Identity{SAN: email, Issuer: issuer}
	keyless := sigstore.Options{TrustedRoot: rootPath, Identity: email, Issuer: issuer}
	now := time.Now().UTC().Truncate(time.Second)
	integratedAt, signedAt := now.Add(-30*time.Second), now.Add(-20*time.Second)
	expired := sigstoretest.Identity{SAN: email, Issuer: issuer, NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)}
	key := signtest.NewKey(t, keys.ECDSAP256)
	keyFile := writePublicKey(t, key.Public())
	otherDigest := digest.FromString("another image")

	type image struct {
		name string
		d    digest.Digest
	}
	// opts is a signature of img logged in the trusted Rekor log.
	opts := func(img image) sigstoretest.LegacyOptions {
		return sigstoretest.LegacyOptions{Repository: img.name, Digest: img.d, CA: ca, Identity: who, Rekor: rekor, IntegratedAt: integratedAt, LogIndex: 42}
	}
	logged := func(img image) sigstoretest.LegacySignature { return sigstoretest.NewLegacySignature(t, opts(img)) }
	claims := sign.Signature{Identity: email, Issuer: issuer} // what the certificate says

	tests := []struct {
		name string
		sig  func(img image) sigstoretest.LegacySignature
		opts sigstore.Options
		want sign.Signature // Format, Location, Digest filled in
	}{
		{
			name: "logged in Rekor (signed entry timestamp)",
			sig:  logged,
			opts: keyless,
			want: sign.Signature{Verified: true, Identity: email, Issuer: issuer, Timestamp: &integratedAt},
		},
		{
			name: "RFC 3161 timestamp only",
			sig: func(img image) sigstoretest.LegacySignature {
				o := opts(img)
				o.Rekor, o.TSA, o.SignedAt = nil, tsa, signedAt
				return sigstoretest.NewLegacySignature(t, o)
			},
			opts: keyless,
			want: sign.Signature{Verified: true, Identity: email, Issuer: issuer, Timestamp: &signedAt},
		},
		{
			name: "both, the earliest reported",
			sig: func(img image) sigstoretest.LegacySignature {
				o := opts(img)
				o.TSA, o.SignedAt = tsa, signedAt
				return sigstoretest.NewLegacySignature(t, o)
			},
			opts: keyless,
			want: sign.Signature{Verified: true, Identity: email, Issuer: issuer, Timestamp: &integratedAt},
		},
		{
			name: "identity and issuer by regular expressions",
			sig:  logged,
			opts: sigstore.Options{TrustedRoot: rootPath, IdentityRegexp: `^release@example\.com$`, IssuerRegexp: `^https://accounts\.`},
			want: sign.Signature{Verified: true, Identity: email, Issuer: issuer, Timestamp: &integratedAt},
		},
		{
			name: "no timestamp at all",
			sig: func(img image) sigstoretest.LegacySignature {
				o := opts(img)
				o.Rekor = nil
				return sigstoretest.NewLegacySignature(t, o)
			},
			opts: keyless,
			want: with(claims, sign.ReasonTimestamp),
		},
		{
			name: "logged in a Rekor log not in the trusted root",
			sig: func(img image) sigstoretest.LegacySignature {
				o := opts(img)
				o.Rekor = rogueRekor
				return sigstoretest.NewLegacySignature(t, o)
			},
			opts: keyless,
			want: with(claims, sign.ReasonTimestamp),
		},
		{
			name: "integrated time changed after the log signed it",
			sig: func(img image) sigstoretest.LegacySignature {
				s := logged(img)
				var b sigstoretest.RekorBundle
				if err := json.Unmarshal([]byte(s.Layer.Annotations[sigstoretest.BundleAnnotation]), &b); err != nil {
					t.Fatal(err)
				}
				b.Payload.IntegratedTime -= 60
				return s.WithAnnotation(sigstoretest.BundleAnnotation, string(mustMarshal(t, b)))
			},
			opts: keyless,
			want: with(claims, sign.ReasonTimestamp),
		},
		{
			name: "the log entry of another signature",
			sig: func(img image) sigstoretest.LegacySignature {
				other := logged(img)
				return logged(img).WithAnnotation(sigstoretest.BundleAnnotation, other.Layer.Annotations[sigstoretest.BundleAnnotation])
			},
			opts: keyless,
			want: with(claims, sign.ReasonTimestamp),
		},
		{
			name: "timestamp from a TSA not in the trusted root",
			sig: func(img image) sigstoretest.LegacySignature {
				o := opts(img)
				o.Rekor, o.TSA = nil, rogueTSA
				return sigstoretest.NewLegacySignature(t, o)
			},
			opts: keyless,
			want: with(claims, sign.ReasonTimestamp),
		},
		{
			name: "certificate expired when logged",
			sig: func(img image) sigstoretest.LegacySignature {
				o := opts(img)
				o.Identity = expired
				return sigstoretest.NewLegacySignature(t, o)
			},
			opts: keyless,
			want: with(claims, sign.ReasonCertificateExpired),
		},
		{
			name: "certificate expired when timestamped",
			sig: func(img image) sigstoretest.LegacySignature {
				o := opts(img)
				o.Identity, o.Rekor, o.TSA, o.SignedAt = expired, nil, tsa, signedAt
				return sigstoretest.NewLegacySignature(t, o)
			},
			opts: keyless,
			want: with(claims, sign.ReasonCertificateExpired),
		},
		{
			name: "CA not in the trusted root (logged)",
			sig: func(img image) sigstoretest.LegacySignature {
				o := opts(img)
				o.CA = rogueCA
				return sigstoretest.NewLegacySignature(t, o)
			},
			opts: keyless,
			want: with(claims, sign.ReasonUntrustedChain),
		},
		{
			name: "CA not in the trusted root (timestamped)",
			sig: func(img image) sigstoretest.LegacySignature {
				o := opts(img)
				o.CA, o.Rekor, o.TSA = rogueCA, nil, tsa
				return sigstoretest.NewLegacySignature(t, o)
			},
			opts: keyless,
			want: with(claims, sign.ReasonUntrustedChain),
		},
		{
			name: "wrong identity",
			sig:  logged,
			opts: sigstore.Options{TrustedRoot: rootPath, Identity: "mallory@example.com", Issuer: issuer},
			want: with(claims, sign.ReasonUntrustedIdentity),
		},
		{
			name: "wrong issuer",
			sig:  logged,
			opts: sigstore.Options{TrustedRoot: rootPath, Identity: email, Issuer: "https://evil.example.com"},
			want: with(claims, sign.ReasonUntrustedIdentity),
		},
		{
			name: "signature of another image copied over",
			sig:  func(img image) sigstoretest.LegacySignature { return logged(image{img.name, otherDigest}) },
			opts: keyless,
			want: with(claims, sign.ReasonDigestMismatch),
		},
		{
			name: "payload changed after signing",
			sig: func(img image) sigstoretest.LegacySignature {
				return logged(image{img.name, otherDigest}).WithPayload(sigstoretest.SimpleSigningPayload(t, img.name, img.d))
			},
			opts: keyless,
			want: with(claims, sign.ReasonTampered),
		},
		{
			name: "certificate annotation not PEM",
			sig: func(img image) sigstoretest.LegacySignature {
				return logged(img).WithAnnotation(sigstoretest.CertificateAnnotation, "not a certificate")
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonMalformed},
		},
		{
			name: "chain annotation not PEM",
			sig: func(img image) sigstoretest.LegacySignature {
				return logged(img).WithAnnotation(sigstoretest.ChainAnnotation, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonMalformed},
		},
		{
			name: "Rekor bundle annotation not JSON",
			sig: func(img image) sigstoretest.LegacySignature {
				return logged(img).WithAnnotation(sigstoretest.BundleAnnotation, "{")
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonMalformed},
		},
		{
			name: "RFC 3161 annotation without a timestamp",
			sig: func(img image) sigstoretest.LegacySignature {
				return logged(img).WithAnnotation(sigstoretest.RFC3161TimestampAnnotation, `{"SignedRFC3161Timestamp": null}`)
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonMalformed},
		},
		{
			name: "no signature annotation",
			sig: func(img image) sigstoretest.LegacySignature {
				return logged(img).WithAnnotation(sigstoretest.SignatureAnnotation, "")
			},
			opts: keyless,
			want: sign.Signature{Reason: sign.ReasonMalformed},
		},
		{
			name: "only a key given",
			sig:  logged,
			opts: sigstore.Options{CosignKey: keyFile},
			want: sign.Signature{Reason: sign.ReasonNotChecked},
		},
		{
			name: "signed with the given key, certificate from a CA not in the root",
			sig: func(img image) sigstoretest.LegacySignature {
				o := opts(img)
				o.Key, o.CA = key, rogueCA
				return sigstoretest.NewLegacySignature(t, o)
			},
			opts: sigstore.Options{CosignKey: keyFile, TrustedRoot: rootPath, Identity: email, Issuer: issuer},
			want: sign.Signature{Verified: true, Identity: keyID(t, key.Public())},
		},
		{
			name: "unconfigured",
			sig:  logged,
			opts: sigstore.Options{},
			want: sign.Signature{Reason: sign.ReasonNotChecked},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			target := signtest.PushImage(t, srv.Host, fmt.Sprintf("legacy/app%d", i), "v1")
			desc := sigstoretest.PushSignatureTag(ctx, t, target.Repo, target.Desc, tc.sig(image{target.Name, target.Desc.Digest}))
			want := tc.want
			want.Format, want.Location, want.Digest = sign.FormatCosign, "tag "+sigstore.SignatureTag(target.Desc.Digest), desc.Digest.String()
			sigs, v := check(t, newChecker(t, tc.opts), resolve(t, target.Ref))
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

// TestCheckLegacyKeylessReferrer: a keyless simple-signing layer pushed as
// an OCI 1.1 referrer (cosign --registry-referrers-mode=oci-1-1), through
// the referrers API and through its tag schema, verifies as in the .sig
// tag.
func TestCheckLegacyKeylessReferrer(t *testing.T) {
	srv := startRegistry(t)
	ca, rekor := sigstoretest.NewCA(t, "fulcio", false), sigstoretest.NewRekor(t, "rekor")
	rootPath := filepath.Join(t.TempDir(), "trusted_root.json")
	sigstoretest.Root{CAs: []*sigstoretest.CA{ca}, Logs: []*sigstoretest.Rekor{rekor}}.Write(t, rootPath)
	who := sigstoretest.Identity{SAN: "https://ci.example.com/release", Issuer: "https://token.example.com"}
	c := newChecker(t, sigstore.Options{TrustedRoot: rootPath, Identity: who.SAN, Issuer: who.Issuer})
	for i, apiless := range []bool{false, true} {
		t.Run(fmt.Sprintf("tag schema=%v", apiless), func(t *testing.T) {
			target := signtest.PushImage(t, srv.Host, fmt.Sprintf("legacyref/app%d", i), "v1")
			if err := target.Repo.SetReferrersCapability(!apiless); err != nil {
				t.Fatal(err)
			}
			at := time.Now().UTC().Truncate(time.Second)
			s := sigstoretest.NewLegacySignature(t, sigstoretest.LegacyOptions{
				Repository: target.Name, Digest: target.Desc.Digest, CA: ca, Identity: who, Rekor: rekor, IntegratedAt: at,
			})
			desc := sigstoretest.PushSignatureReferrer(context.Background(), t, target.Repo, target.Desc, s)
			fresh := resolve(t, target.Ref)
			if apiless {
				if _, err := target.Repo.Resolve(context.Background(), "sha256-"+target.Desc.Digest.Encoded()); err != nil {
					t.Fatalf("no referrers tag schema tag: %v", err)
				}
				if err := fresh.Repo.SetReferrersCapability(false); err != nil {
					t.Fatal(err)
				}
			}
			sigs, v := check(t, c, fresh)
			want := sign.Signature{Format: sign.FormatCosign, Location: sigstore.LocationReferrer, Digest: desc.Digest.String(),
				Verified: true, Identity: who.SAN, Issuer: who.Issuer, Timestamp: &at}
			if len(sigs) != 1 || sigs[0].Timestamp == nil || !sigs[0].Timestamp.Equal(at) {
				t.Fatalf("signatures %s, want one timestamped %s", show(sigs), at)
			}
			sigs[0].Timestamp = &at
			if !reflect.DeepEqual(sigs[0], want) || !v.Passed {
				t.Fatalf("signatures %s (verdict %+v), want %s", show(sigs), v, show([]sign.Signature{want}))
			}
		})
	}
}

// with is the failed signature s with reason r.
func with(s sign.Signature, r sign.Reason) sign.Signature {
	s.Reason = r
	return s
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
