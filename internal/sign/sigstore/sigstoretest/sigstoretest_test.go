package sigstoretest_test

import (
	"encoding/asn1"
	"encoding/hex"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/cssc-project/cssc/internal/sign/sigstore/sigstoretest"
)

// TestBundlesVerifyWithSigstoreGo: the bundles and the trusted root verify
// with sigstore-go itself, with the certificate's identity, issuer and the
// TSA's time as made.
func TestBundlesVerifyWithSigstoreGo(t *testing.T) {
	ca, tsa := sigstoretest.NewCA(t, "fulcio", true), sigstoretest.NewTSA(t, "tsa")
	tr, err := root.NewTrustedRootFromJSON(sigstoretest.TrustedRoot(t, []*sigstoretest.CA{ca}, []*sigstoretest.TSA{tsa}))
	if err != nil {
		t.Fatalf("read trusted root: %v", err)
	}
	if n, m := len(tr.FulcioCertificateAuthorities()), len(tr.TimestampingAuthorities()); n != 1 || m != 1 {
		t.Fatalf("trusted root lists %d CAs and %d TSAs, want 1 and 1", n, m)
	}
	d := digest.FromString("image manifest")
	dg, _ := hex.DecodeString(d.Encoded())
	at := time.Now().UTC().Truncate(time.Second)
	who := sigstoretest.Identity{SAN: "https://ci.example.com/workflows/release", Issuer: "https://token.example.com"}
	id, err := verify.NewShortCertificateIdentity(who.Issuer, "", who.SAN, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, message := range []bool{false, true} {
		b := sigstoretest.NewBundle(t, sigstoretest.BundleOptions{Digest: d, CA: ca, Identity: who, TSA: tsa, SignedAt: at, MessageSignature: message})
		var sb bundle.Bundle
		if err := sb.UnmarshalJSON(b); err != nil {
			t.Fatalf("message=%v: decode bundle: %v", message, err)
		}
		v, err := verify.NewVerifier(tr, verify.WithObserverTimestamps(1))
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(&sb, verify.NewPolicy(verify.WithArtifactDigest("sha256", dg), verify.WithCertificateIdentity(id)))
		if err != nil {
			t.Fatalf("message=%v: sigstore-go rejects the bundle: %v", message, err)
		}
		cs := res.Signature.Certificate
		if cs.SubjectAlternativeName != who.SAN || cs.Issuer != who.Issuer {
			t.Fatalf("message=%v: certificate says %s / %s, want %s / %s", message, cs.SubjectAlternativeName, cs.Issuer, who.SAN, who.Issuer)
		}
		if len(res.VerifiedTimestamps) != 1 || !res.VerifiedTimestamps[0].Timestamp.Equal(at) || res.VerifiedTimestamps[0].URI != tsa.URI {
			t.Fatalf("message=%v: timestamps %+v, want one from %s at %s", message, res.VerifiedTimestamps, tsa.URI, at)
		}
	}
}

// TestIssueExtensions: a leaf carries the OIDC issuer in both Fulcio
// extensions, V1 raw and V2 as a DER UTF8String, and the email SAN.
func TestIssueExtensions(t *testing.T) {
	ca := sigstoretest.NewCA(t, "fulcio", false)
	key := sigstoretest.NewCA(t, "key holder", false).Root.PublicKey
	cert := ca.Issue(t, key, sigstoretest.Identity{SAN: "dev@example.com", Issuer: "https://issuer.example.com"})
	var v1, v2 string
	for _, e := range cert.Extensions {
		switch {
		case e.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}):
			v1 = string(e.Value)
		case e.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}):
			if err := certificate.ParseDERString(e.Value, &v2); err != nil {
				t.Fatalf("V2 issuer: %v", err)
			}
		}
	}
	if v1 != "https://issuer.example.com" || v2 != v1 {
		t.Fatalf("issuer extensions V1 %q V2 %q, want both https://issuer.example.com", v1, v2)
	}
	if len(cert.EmailAddresses) != 1 || cert.EmailAddresses[0] != "dev@example.com" || len(cert.URIs) != 0 {
		t.Fatalf("SAN %v %v, want the email only", cert.EmailAddresses, cert.URIs)
	}
}
