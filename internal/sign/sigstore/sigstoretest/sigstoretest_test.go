package sigstoretest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
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

// TestRekorPromise: the fake log's inclusion promises verify with
// sigstore-go's own SET check against the trusted root listing the log
// (log ID the SHA-256 of its DER public key), the hashedrekord body parses
// as a Rekor entry naming the signature, and a promise whose integrated
// time was changed, or signed by a log the root does not list, does not
// verify.
func TestRekorPromise(t *testing.T) {
	rekor, rogue := sigstoretest.NewRekor(t, "rekor"), sigstoretest.NewRekor(t, "rogue")
	tr, err := root.NewTrustedRootFromJSON(sigstoretest.Root{Logs: []*sigstoretest.Rekor{rekor}}.JSON(t))
	if err != nil {
		t.Fatalf("read trusted root: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(rekor.Public())
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	logs := tr.RekorLogs()
	if l := logs[hex.EncodeToString(id[:])]; len(logs) != 1 || l == nil || l.BaseURL != rekor.URI || !bytes.Equal(l.ID, rekor.LogID) {
		t.Fatalf("trusted root logs %+v, want one with ID %x", logs, id)
	}

	ca := sigstoretest.NewCA(t, "fulcio", false)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := ca.Issue(t, key.Public(), sigstoretest.Identity{SAN: "a@example.com", Issuer: "https://issuer.example"})
	payload := []byte(`{"critical":{}}`)
	h := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	body := sigstoretest.HashedRekord(t, payload, sig, cert)
	at := time.Now().Truncate(time.Second)
	entry := func(l *sigstoretest.Rekor, shift int64) *tlog.Entry {
		b := l.Promise(t, body, at, 7)
		logID, err := hex.DecodeString(b.Payload.LogID)
		if err != nil {
			t.Fatal(err)
		}
		e, err := tlog.ParseTransparencyLogEntry(&protorekor.TransparencyLogEntry{
			LogIndex:          b.Payload.LogIndex,
			LogId:             &protocommon.LogId{KeyId: logID},
			KindVersion:       &protorekor.KindVersion{Kind: "hashedrekord", Version: "0.0.1"},
			IntegratedTime:    b.Payload.IntegratedTime + shift,
			InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: b.SignedEntryTimestamp},
			CanonicalizedBody: body,
		})
		if err != nil {
			t.Fatalf("parse entry: %v", err)
		}
		return e
	}
	good := entry(rekor, 0)
	if err := tlog.ValidateEntry(good); err != nil {
		t.Fatalf("hashedrekord entry: %v", err)
	}
	if !bytes.Equal(good.Signature(), sig) || !good.IntegratedTime().Equal(at) || good.LogIndex() != 7 {
		t.Fatalf("entry signature %q, time %s, index %d; want %q, %s, 7", good.Signature(), good.IntegratedTime(), good.LogIndex(), sig, at)
	}
	if err := tlog.VerifySET(good, logs); err != nil {
		t.Fatalf("SET of the trusted log: %v", err)
	}
	if err := tlog.VerifySET(entry(rekor, -1), logs); err == nil {
		t.Fatal("SET verifies after the integrated time changed")
	}
	if err := tlog.VerifySET(entry(rogue, 0), logs); err == nil {
		t.Fatal("SET of a log not in the root verifies")
	}
}
