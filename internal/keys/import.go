package keys

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// Import stores an existing key and its certificate chain as name. keyPEM
// is an unencrypted PKCS#8, PKCS#1 or SEC1 PEM private key (it is stored
// encrypted); chainPEM is the leaf certificate followed by its issuers. The
// key must match the leaf, the leaf must be a valid, current
// code-signing certificate that is not a CA, and each certificate must be
// signed by the next (the last may be a self-signed root or an
// intermediate).
func (s *Store) Import(name string, keyPEM, chainPEM []byte) (Info, error) {
	if err := ValidName(name); err != nil {
		return Info{}, err
	}
	if _, err := os.Lstat(s.keyDir(name)); err == nil {
		return Info{}, fmt.Errorf("key %q already exists in %s", name, s.dir)
	}
	key, err := parsePrivateKeyPEM(keyPEM)
	if err != nil {
		return Info{}, fmt.Errorf("import %s: key: %w", name, err)
	}
	certs, err := parseCertsPEM(chainPEM)
	if err != nil {
		return Info{}, fmt.Errorf("import %s: certificate chain: %w", name, err)
	}
	if err := checkChain(certs, s.now()); err != nil {
		return Info{}, fmt.Errorf("import %s: %w", name, err)
	}
	if _, err := typeOf(certs[0].PublicKey); err != nil {
		return Info{}, fmt.Errorf("import %s: %w", name, err)
	}
	if !publicKeysEqual(key.Public(), certs[0].PublicKey) {
		return Info{}, fmt.Errorf("import %s: the private key does not match the leaf certificate's public key", name)
	}
	pass, err := s.getPassphrase()
	if err != nil {
		return Info{}, fmt.Errorf("import %s: %w", name, err)
	}
	encKey, err := encryptKey(key, pass)
	if err != nil {
		return Info{}, fmt.Errorf("import %s: %w", name, err)
	}
	if err := s.writeGeneration(name, 1, generation{key: encKey, chain: encodeCerts(certs)}); err != nil {
		return Info{}, fmt.Errorf("import %s: %w", name, err)
	}
	return s.Describe(name)
}

// parsePrivateKeyPEM reads one unencrypted private key; EC PARAMETERS
// blocks (as openssl ecparam writes) are skipped.
func parsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	var found crypto.Signer
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "EC PARAMETERS" {
			continue
		}
		if found != nil {
			return nil, errors.New("more than one PEM block; give a single private key")
		}
		if blk.Type == "ENCRYPTED PRIVATE KEY" || blk.Headers["Proc-Type"] != "" {
			return nil, errors.New("the key is encrypted; give it unencrypted (it is stored encrypted with the key passphrase)")
		}
		var (
			k   any
			err error
		)
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		default:
			return nil, fmt.Errorf("PEM block %q is not a private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", blk.Type)
		}
		if err != nil {
			// The parse error does not quote key bytes.
			return nil, fmt.Errorf("parse %s: %w", blk.Type, err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("key type %T cannot sign", k)
		}
		found = signer
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("data that is not PEM in the key file")
	}
	if found == nil {
		return nil, errors.New("no PEM private key")
	}
	return found, nil
}

// checkChain checks an imported chain: a leaf that can sign code, issuers
// that each signed the certificate before them, all valid at now.
func checkChain(certs []*x509.Certificate, now time.Time) error {
	if len(certs) < 2 {
		return errors.New("certificate chain: give the leaf certificate followed by its issuing CA certificate(s)")
	}
	leaf := certs[0]
	if leaf.IsCA {
		return fmt.Errorf("leaf certificate %q is a CA certificate; the first certificate must be the signing (leaf) certificate", leaf.Subject)
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("leaf certificate %q lacks the digitalSignature key usage", leaf.Subject)
	}
	if leaf.KeyUsage&x509.KeyUsageCertSign != 0 {
		return fmt.Errorf("leaf certificate %q has the keyCertSign key usage; a signing certificate must not", leaf.Subject)
	}
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		return fmt.Errorf("leaf certificate %q has an extended key usage without codeSigning", leaf.Subject)
	}
	for i, c := range certs {
		if now.After(c.NotAfter) {
			return fmt.Errorf("certificate %d (%q) expired on %s", i+1, c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
		}
		if now.Before(c.NotBefore) {
			return fmt.Errorf("certificate %d (%q) is not valid before %s", i+1, c.Subject, c.NotBefore.UTC().Format(time.RFC3339))
		}
		if i == len(certs)-1 {
			if bytes.Equal(c.RawIssuer, c.RawSubject) {
				if err := c.CheckSignatureFrom(c); err != nil {
					return fmt.Errorf("root certificate %q: self-signature does not verify: %w", c.Subject, err)
				}
			}
			break
		}
		parent := certs[i+1]
		if !bytes.Equal(c.RawIssuer, parent.RawSubject) {
			return fmt.Errorf("certificate %d (%q) was issued by %q, not by the next certificate %q", i+1, c.Subject, c.Issuer, parent.Subject)
		}
		if err := c.CheckSignatureFrom(parent); err != nil {
			return fmt.Errorf("certificate %d (%q) is not signed by the next certificate %q: %w", i+1, c.Subject, parent.Subject, err)
		}
	}
	return nil
}
