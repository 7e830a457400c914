package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Validity of generated certificates.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// clockSkew backdates NotBefore so a verifier whose clock is a little
	// behind accepts a fresh certificate.
	clockSkew = 5 * time.Minute
)

func newKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return nil, checkType(t)
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// subjectKeyID is the SHA-256 of the public key, truncated to 20 bytes
// (RFC 7093 method 1).
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

// newCA makes a self-signed CA certificate for the key name.
func newCA(name string, key crypto.Signer, now time.Time) (*x509.Certificate, error) {
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name + " CA", Organization: []string{"cssc"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// newLeaf makes a code-signing certificate for key, issued by ca. Its
// validity ends with the CA's at the latest.
func newLeaf(name string, key crypto.PublicKey, ca *x509.Certificate, caKey crypto.Signer, now time.Time) (*x509.Certificate, error) {
	if !now.Before(ca.NotAfter) {
		return nil, fmt.Errorf("the CA certificate of %q expired on %s", name, ca.NotAfter.UTC().Format(time.RFC3339))
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(key)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	notAfter := now.Add(leafValidity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"cssc"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key, caKey)
	if err != nil {
		return nil, fmt.Errorf("create signing certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// Generate creates the key name of type t (ECDSAP256 if empty): a
// self-signed CA (10 years) and a code-signing certificate issued by it
// (1 year), as the Notary Project certificate requirements ask.
func (s *Store) Generate(name string, t KeyType) (Info, error) {
	if err := ValidName(name); err != nil {
		return Info{}, err
	}
	if t == "" {
		t = ECDSAP256
	}
	if err := checkType(t); err != nil {
		return Info{}, err
	}
	if _, err := os.Lstat(s.keyDir(name)); err == nil {
		return Info{}, fmt.Errorf("key %q already exists in %s", name, s.dir)
	}
	pass, err := s.getPassphrase()
	if err != nil {
		return Info{}, fmt.Errorf("generate %s: %w", name, err)
	}
	now := s.now()
	caKey, err := newKey(t)
	if err != nil {
		return Info{}, fmt.Errorf("generate %s: %w", name, err)
	}
	ca, err := newCA(name, caKey, now)
	if err != nil {
		return Info{}, fmt.Errorf("generate %s: %w", name, err)
	}
	leafKey, err := newKey(t)
	if err != nil {
		return Info{}, fmt.Errorf("generate %s: %w", name, err)
	}
	leaf, err := newLeaf(name, leafKey.Public(), ca, caKey, now)
	if err != nil {
		return Info{}, fmt.Errorf("generate %s: %w", name, err)
	}
	encKey, err := encryptKey(leafKey, pass)
	if err != nil {
		return Info{}, fmt.Errorf("generate %s: %w", name, err)
	}
	encCA, err := encryptKey(caKey, pass)
	if err != nil {
		return Info{}, fmt.Errorf("generate %s: %w", name, err)
	}
	g := generation{key: encKey, chain: encodeCerts([]*x509.Certificate{leaf, ca}), caKey: encCA}
	if err := s.writeGeneration(name, 1, g); err != nil {
		return Info{}, fmt.Errorf("generate %s: %w", name, err)
	}
	return s.Describe(name)
}

// checkType validates a key type Generate makes without generating a key.
func checkType(t KeyType) error {
	switch t {
	case ECDSAP256, ECDSAP384, RSA3072:
		return nil
	}
	return fmt.Errorf("unknown key type %q (%s, %s or %s)", t, ECDSAP256, ECDSAP384, RSA3072)
}

// Rotate gives a generated key a new signing key and certificate issued by
// the same CA, as a new generation that becomes current; older generations
// stay for verification. Imported keys cannot be rotated here.
func (s *Store) Rotate(name string) (Info, error) {
	gen, err := s.current(name)
	if err != nil {
		return Info{}, fmt.Errorf("rotate: %w", err)
	}
	caKeyPath := filepath.Join(s.genDir(name, gen), caKeyFile)
	caKeyPEM, err := os.ReadFile(caKeyPath)
	if errors.Is(err, os.ErrNotExist) {
		return Info{}, fmt.Errorf("rotate %s: the key was imported (the store has no CA key for it); import a new key and certificate instead", name)
	}
	if err != nil {
		return Info{}, fmt.Errorf("rotate %s: %w", name, err)
	}
	certs, err := s.chain(name, gen)
	if err != nil {
		return Info{}, fmt.Errorf("rotate: %w", err)
	}
	ca := certs[len(certs)-1]
	typ, err := typeOf(certs[0].PublicKey)
	if err != nil {
		return Info{}, fmt.Errorf("rotate %s: %w", name, err)
	}
	pass, err := s.getPassphrase()
	if err != nil {
		return Info{}, fmt.Errorf("rotate %s: %w", name, err)
	}
	caKey, err := readKey(caKeyPath, pass)
	if err != nil {
		return Info{}, fmt.Errorf("rotate %s: %w", name, err)
	}
	if !publicKeysEqual(caKey.Public(), ca.PublicKey) {
		return Info{}, fmt.Errorf("rotate %s: %s does not match the CA certificate in %s", name, caKeyPath, chainFile)
	}
	leafKey, err := newKey(typ)
	if err != nil {
		return Info{}, fmt.Errorf("rotate %s: %w", name, err)
	}
	leaf, err := newLeaf(name, leafKey.Public(), ca, caKey, s.now())
	if err != nil {
		return Info{}, fmt.Errorf("rotate %s: %w", name, err)
	}
	encKey, err := encryptKey(leafKey, pass)
	if err != nil {
		return Info{}, fmt.Errorf("rotate %s: %w", name, err)
	}
	gens, err := s.generations(name)
	if err != nil {
		return Info{}, fmt.Errorf("rotate: %w", err)
	}
	next := gens[len(gens)-1] + 1
	g := generation{key: encKey, chain: encodeCerts([]*x509.Certificate{leaf, ca}), caKey: caKeyPEM}
	if err := s.writeGeneration(name, next, g); err != nil {
		return Info{}, fmt.Errorf("rotate %s: %w", name, err)
	}
	return s.Describe(name)
}

// publicKeysEqual compares two public keys of the standard library types.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}
