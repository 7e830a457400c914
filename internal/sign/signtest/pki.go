// Package signtest holds fixtures for tests of signing and verification:
// certificate authorities and signing certificates with chosen validity,
// signers that satisfy keys.Signer, Notary Project trust stores and trust
// policies, an RFC 3161 timestamp authority over HTTP and a small image
// pushed to a test registry. Everything is made on the fly, offline.
package signtest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/keys"
)

// NewKey generates a key of type kt (keys.ECDSAP256 when empty).
func NewKey(t testing.TB, kt keys.KeyType) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kt {
	case "", keys.ECDSAP256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case keys.ECDSAP384:
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case keys.RSA3072:
		k, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		t.Fatalf("signtest: unknown key type %q", kt)
	}
	if err != nil {
		t.Fatalf("signtest: generate %s key: %v", kt, err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		t.Fatalf("signtest: serial number: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

func create(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatalf("signtest: create certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("signtest: parse certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	return c
}

// CA is a self-signed root certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a root CA named name (subject CN=name,O=cssc test) with a key
// of type kt, valid from an hour ago for a day. It meets the Notary Project
// requirements for a CA (basic constraints CA, key usage certSign,
// critical).
func NewCA(t testing.TB, name string, kt keys.KeyType) *CA {
	t.Helper()
	key := NewKey(t, kt)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"cssc test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return &CA{Cert: create(t, tmpl, tmpl, key.Public(), key), Key: key}
}

// PEM is the CA certificate in PEM: what a trust store holds.
func (ca *CA) PEM() []byte { return PEM(ca.Cert) }

// LeafOptions say what signing certificate Issue makes. Zero fields take
// the defaults.
type LeafOptions struct {
	// Subject defaults to CN=signer,O=cssc test,ST=Test,C=US (C, ST and O
	// are what Notary Project trusted identities must name at least).
	Subject pkix.Name
	// KeyType defaults to keys.ECDSAP256.
	KeyType keys.KeyType
	// NotBefore defaults to an hour ago, NotAfter to a day from now. A
	// NotAfter a few seconds away makes a certificate that expires during
	// the test.
	NotBefore, NotAfter time.Time
}

// Issue makes a code-signing certificate issued by ca (key usage
// digitalSignature, critical; extended key usage codeSigning; not a CA)
// and returns it with its key as a Signer whose chain is leaf, CA.
func (ca *CA) Issue(t testing.TB, o LeafOptions) *Signer {
	t.Helper()
	if o.Subject.CommonName == "" && len(o.Subject.Names) == 0 {
		o.Subject = pkix.Name{CommonName: "signer", Organization: []string{"cssc test"}, Province: []string{"Test"}, Country: []string{"US"}}
	}
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(24 * time.Hour)
	}
	key := NewKey(t, o.KeyType)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               o.Subject,
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	leaf := create(t, tmpl, ca.Cert, key.Public(), ca.Key)
	return &Signer{Key: key, Chain: []*x509.Certificate{leaf, ca.Cert}}
}

// Signer is a key and its certificate chain (leaf first); it satisfies
// keys.Signer.
type Signer struct {
	Key   crypto.Signer
	Chain []*x509.Certificate
}

var _ keys.Signer = (*Signer)(nil)

// Public returns the public key.
func (s *Signer) Public() crypto.PublicKey { return s.Key.Public() }

// Sign signs digest with the key.
func (s *Signer) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.Key.Sign(r, digest, opts)
}

// CertificateChain returns the chain, leaf first.
func (s *Signer) CertificateChain() []*x509.Certificate {
	return append([]*x509.Certificate(nil), s.Chain...)
}

// KeyRef returns "test:" and the leaf's common name.
func (s *Signer) KeyRef() string {
	if len(s.Chain) == 0 {
		return "test:no-certificate"
	}
	return "test:" + s.Chain[0].Subject.CommonName
}

// Leaf is the signing certificate.
func (s *Signer) Leaf() *x509.Certificate { return s.Chain[0] }

// ChainPEM is the chain in PEM, leaf first (what `cssc key import --cert`
// and notation's signing key configuration take).
func (s *Signer) ChainPEM() []byte { return PEM(s.Chain...) }

// KeyPEM is the private key as unencrypted PKCS #8 PEM.
func (s *Signer) KeyPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(s.Key)
	if err != nil {
		t.Fatalf("signtest: marshal key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// PEM encodes certificates as concatenated PEM CERTIFICATE blocks.
func PEM(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}
