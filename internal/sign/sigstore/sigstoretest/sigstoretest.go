// Package sigstoretest makes Sigstore keyless material offline for tests:
// a fake Fulcio CA issuing short-lived code-signing certificates that carry
// an OIDC identity, an RFC 3161 timestamp authority, a fake Rekor log that
// signs inclusion promises, a trusted_root.json listing them, Sigstore
// bundles (v0.3) signed for an image digest and the OCI 1.1 referrer cosign
// pushes such a bundle as, and keyless cosign simple-signing layers (as
// `cosign sign` writes them by default) with the .sig tag and referrer they
// are pushed as.
//
// Everything is built with crypto/x509 here (sigstore-go's own test CA
// cannot be imported in this module); keys are ECDSA P-256.
package sigstoretest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// authorityLifetime is how long CA and TSA certificates are valid either
// side of their creation: long enough for any signing time a test picks.
const authorityLifetime = 30 * 24 * time.Hour

// CA is a fake Fulcio certificate authority: a root and, optionally, an
// intermediate that issues the leaves.
type CA struct {
	Root         *x509.Certificate
	Intermediate *x509.Certificate // nil: the root issues the leaves
	URI          string

	issuer    *x509.Certificate
	issuerKey crypto.Signer
}

// NewCA makes a CA called name (also its URI, https://name.example), with
// an intermediate when intermediate is set.
func NewCA(t testing.TB, name string, intermediate bool) *CA {
	t.Helper()
	now := time.Now()
	rootCert, rootKey := newRoot(t, name, now)
	ca := &CA{Root: rootCert, URI: "https://" + name + ".example", issuer: rootCert, issuerKey: rootKey}
	if intermediate {
		key := newKey(t)
		ca.Intermediate = createCert(t, &x509.Certificate{
			Subject:               pkix.Name{CommonName: name + " intermediate", Organization: []string{"sigstoretest"}},
			NotBefore:             now.Add(-authorityLifetime),
			NotAfter:              now.Add(authorityLifetime),
			IsCA:                  true,
			BasicConstraintsValid: true,
			MaxPathLenZero:        true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		}, rootCert, key.Public(), rootKey)
		ca.issuer, ca.issuerKey = ca.Intermediate, key
	}
	return ca
}

// Identity is whom a leaf certificate is issued to.
type Identity struct {
	// SAN is an email address, or a URI when it has a scheme.
	SAN string
	// Issuer is the OIDC issuer, in both Fulcio issuer extensions.
	Issuer string
	// NotBefore and NotAfter bound the certificate; zero values give
	// Fulcio's ten minutes from a minute ago.
	NotBefore, NotAfter time.Time
}

// Issue makes a Fulcio-style leaf certificate for pub: code signing, the
// identity as its only SAN, an empty subject, the issuer extensions.
func (ca *CA) Issue(t testing.TB, pub crypto.PublicKey, id Identity) *x509.Certificate {
	t.Helper()
	nb, na := id.NotBefore, id.NotAfter
	if nb.IsZero() {
		nb = time.Now().Add(-time.Minute)
	}
	if na.IsZero() {
		na = nb.Add(10 * time.Minute)
	}
	v2, err := asn1.MarshalWithParams(id.Issuer, "utf8")
	if err != nil {
		t.Fatalf("encode issuer extension: %v", err)
	}
	// Fulcio's OIDC issuer extensions: the deprecated V1 holds the raw
	// string, V2 a DER UTF8String.
	oidIssuerV1 := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	tmpl := &x509.Certificate{
		NotBefore:   nb,
		NotAfter:    na,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuerV1, Value: []byte(id.Issuer)},
			{Id: oidIssuerV2, Value: v2},
		},
	}
	if strings.Contains(id.SAN, "://") {
		u, err := url.Parse(id.SAN)
		if err != nil {
			t.Fatalf("parse SAN %q: %v", id.SAN, err)
		}
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{id.SAN}
	}
	return createCert(t, tmpl, ca.issuer, pub, ca.issuerKey)
}

// TSA is an RFC 3161 timestamp authority: a root and the leaf that signs.
type TSA struct {
	Root *x509.Certificate
	Leaf *x509.Certificate
	URI  string
	key  crypto.Signer
}

// NewTSA makes a TSA called name (URI https://name.example).
func NewTSA(t testing.TB, name string) *TSA {
	t.Helper()
	now := time.Now()
	rootCert, rootKey := newRoot(t, name, now)
	// RFC 3161 §2.3: the signer's only extended key usage is
	// timeStamping, and the extension is critical (crypto/x509 writes it
	// non-critical, hence the raw extension).
	oidEKU := asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamping := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		t.Fatalf("encode EKU: %v", err)
	}
	key := newKey(t)
	leaf := createCert(t, &x509.Certificate{
		Subject:         pkix.Name{CommonName: name, Organization: []string{"sigstoretest"}},
		NotBefore:       now.Add(-authorityLifetime),
		NotAfter:        now.Add(authorityLifetime),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: oidEKU, Critical: true, Value: eku}},
	}, rootCert, key.Public(), rootKey)
	return &TSA{Root: rootCert, Leaf: leaf, URI: "https://" + name + ".example", key: key}
}

// Timestamp returns a DER RFC 3161 timestamp response over the SHA-256
// of signature, saying it existed at at (kept to the second).
func (a *TSA) Timestamp(t testing.TB, signature []byte, at time.Time) []byte {
	t.Helper()
	h := sha256.Sum256(signature)
	ts := timestamp.Timestamp{
		HashAlgorithm:     crypto.SHA256,
		HashedMessage:     h[:],
		Time:              at.UTC().Truncate(time.Second),
		Policy:            asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 99, 1}, // any policy: verifiers here do not check it
		AddTSACertificate: true,
	}
	b, err := ts.CreateResponseWithOpts(a.Leaf, a.key, crypto.SHA256)
	if err != nil {
		t.Fatalf("create timestamp: %v", err)
	}
	return b
}

// TrustedRoot returns a trusted_root.json (media type
// application/vnd.dev.sigstore.trustedroot+json;version=0.1) listing the
// CAs as Fulcio certificate authorities and the TSAs as timestamp
// authorities; no transparency or CT logs (see Root for logs).
func TrustedRoot(t testing.TB, cas []*CA, tsas []*TSA) []byte {
	t.Helper()
	return Root{CAs: cas, TSAs: tsas}.JSON(t)
}

// WriteTrustedRoot writes TrustedRoot(cas, tsas) to path.
func WriteTrustedRoot(t testing.TB, path string, cas []*CA, tsas []*TSA) {
	t.Helper()
	Root{CAs: cas, TSAs: tsas}.Write(t, path)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

// createCert signs tmpl with parent's key (self-signed when parent is nil).
func createCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("serial number: %v", err)
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatalf("create certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return cert
}

// newRoot makes the self-signed root certificate of an authority called
// name.
func newRoot(t testing.TB, name string, now time.Time) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := newKey(t)
	cert := createCert(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: name + " root", Organization: []string{"sigstoretest"}},
		NotBefore:             now.Add(-authorityLifetime),
		NotAfter:              now.Add(authorityLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, key.Public(), key)
	return cert, key
}
