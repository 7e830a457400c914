package keys

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
)

// Signer is a signing key and its certificate chain. The local store
// implements it; a KMS, HSM or Vault transit signer can implement it later
// without touching callers.
type Signer interface {
	crypto.Signer
	CertificateChain() []*x509.Certificate // leaf first
	KeyRef() string                        // "local:NAME#N" — never the key material
}

// localSigner is a key from the store. It prints as its reference, so
// logging or formatting it never shows the key.
type localSigner struct {
	key   crypto.Signer
	chain []*x509.Certificate
	ref   string
}

// Signer loads the current generation of name, decrypting its key.
func (s *Store) Signer(name string) (Signer, error) {
	gen, err := s.current(name)
	if err != nil {
		return nil, fmt.Errorf("load signer: %w", err)
	}
	certs, err := s.chain(name, gen)
	if err != nil {
		return nil, fmt.Errorf("load signer: %w", err)
	}
	pass, err := s.getPassphrase()
	if err != nil {
		return nil, fmt.Errorf("load signer %s: %w", name, err)
	}
	key, err := readKey(filepath.Join(s.genDir(name, gen), keyFile), pass)
	if err != nil {
		return nil, fmt.Errorf("load signer %s: %w", name, err)
	}
	if !publicKeysEqual(key.Public(), certs[0].PublicKey) {
		return nil, fmt.Errorf("load signer %s: %s does not match the leaf certificate in %s", name, keyFile, chainFile)
	}
	return &localSigner{key: key, chain: certs, ref: fmt.Sprintf("local:%s#%d", name, gen)}, nil
}

// Public returns the public key.
func (l *localSigner) Public() crypto.PublicKey { return l.key.Public() }

// Sign signs digest with the key (see crypto.Signer).
func (l *localSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := l.key.Sign(rand, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", l.ref, err)
	}
	return sig, nil
}

// CertificateChain returns the leaf certificate and its issuers.
func (l *localSigner) CertificateChain() []*x509.Certificate {
	return append([]*x509.Certificate(nil), l.chain...)
}

// KeyRef returns "local:NAME#N".
func (l *localSigner) KeyRef() string { return l.ref }

// String returns the key reference, never the key.
func (l *localSigner) String() string { return l.ref }

// GoString returns the key reference, never the key.
func (l *localSigner) GoString() string { return l.ref }

// LogValue logs the key reference, never the key.
func (l *localSigner) LogValue() slog.Value { return slog.StringValue(l.ref) }
