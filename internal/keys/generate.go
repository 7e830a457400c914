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
	"strings"
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

// newCA makes a self-signed CA certificate whose subject is the signing
// certificate's with " CA" appended to its common name.
func newCA(subject pkix.Name, key crypto.Signer, now time.Time) (*x509.Certificate, error) {
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
		Subject:               caSubject(subject),
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
func newLeaf(subject pkix.Name, key crypto.PublicKey, ca *x509.Certificate, caKey crypto.Signer, now time.Time) (*x509.Certificate, error) {
	if !now.Before(ca.NotAfter) {
		return nil, fmt.Errorf("the CA certificate %s expired on %s", ca.Subject, ca.NotAfter.UTC().Format(time.RFC3339))
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
		Subject:               subject,
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
// (1 year), as the Notary Project certificate requirements ask. The
// signing certificate's subject is CN=name,O=cssc; GenerateWithSubject
// chooses it.
func (s *Store) Generate(name string, t KeyType) (Info, error) {
	return s.GenerateWithSubject(name, t, pkix.Name{})
}

// GenerateWithSubject is Generate with the signing certificate's subject
// (the CA's is the same with " CA" appended to the common name). An empty
// subject is CN=name,O=cssc; a subject without a common name gets CN=name.
// A Notary Project trust policy can pin a signer by subject only if it
// has at least C, ST and O.
func (s *Store) GenerateWithSubject(name string, t KeyType, subject pkix.Name) (Info, error) {
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
	if len(subject.Names) == 0 && subject.String() == "" {
		subject = pkix.Name{Organization: []string{"cssc"}}
	}
	if subject.CommonName == "" {
		subject.CommonName = name
	}
	now := s.now()
	caKey, err := newKey(t)
	if err != nil {
		return Info{}, fmt.Errorf("generate %s: %w", name, err)
	}
	ca, err := newCA(subject, caKey, now)
	if err != nil {
		return Info{}, fmt.Errorf("generate %s: %w", name, err)
	}
	leafKey, err := newKey(t)
	if err != nil {
		return Info{}, fmt.Errorf("generate %s: %w", name, err)
	}
	leaf, err := newLeaf(subject, leafKey.Public(), ca, caKey, now)
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
	// The new signing certificate keeps the subject of the current one, so
	// trust policies that pin it keep trusting the key after rotation.
	leaf, err := newLeaf(subjectOf(certs[0]), leafKey.Public(), ca, caKey, s.now())
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

// caSubject is the CA's subject for a signing certificate's subject.
func caSubject(leaf pkix.Name) pkix.Name {
	ca := leaf
	ca.Names, ca.ExtraNames = nil, nil
	ca.CommonName = leaf.CommonName + " CA"
	return ca
}

// subjectOf is a certificate's subject as a template can reuse it.
func subjectOf(c *x509.Certificate) pkix.Name {
	n := c.Subject
	n.Names = nil
	return n
}

// ParseSubject parses a distinguished name written as the Notary Project
// trust policy writes them, e.g. "C=US, ST=WA, O=Acme, CN=release": comma-
// separated KEY=VALUE pairs with KEY one of C, ST, L, O, OU, CN (each once;
// no escaped commas).
func ParseSubject(dn string) (pkix.Name, error) {
	var n pkix.Name
	seen := map[string]bool{}
	for _, part := range strings.Split(dn, ",") {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.ToUpper(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || v == "" {
			return pkix.Name{}, fmt.Errorf("subject %q: %q is not KEY=VALUE", dn, strings.TrimSpace(part))
		}
		if strings.ContainsAny(v, `\"+;<>#=`) {
			return pkix.Name{}, fmt.Errorf("subject %q: value %q has a character that needs escaping; not supported", dn, v)
		}
		if seen[k] {
			return pkix.Name{}, fmt.Errorf("subject %q: %s given twice", dn, k)
		}
		seen[k] = true
		switch k {
		case "C":
			n.Country = []string{v}
		case "ST":
			n.Province = []string{v}
		case "L":
			n.Locality = []string{v}
		case "O":
			n.Organization = []string{v}
		case "OU":
			n.OrganizationalUnit = []string{v}
		case "CN":
			n.CommonName = v
		default:
			return pkix.Name{}, fmt.Errorf("subject %q: unknown attribute %s (C, ST, L, O, OU or CN)", dn, k)
		}
	}
	return n, nil
}
