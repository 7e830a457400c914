package sigstore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// parsePublicKey reads the first PEM block of b: a public key (PKIX
// "PUBLIC KEY", as cosign.pub is, or PKCS #1 "RSA PUBLIC KEY") or a
// certificate, whose key is taken. ECDSA, RSA and Ed25519 keys are
// accepted.
func parsePublicKey(b []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block (want a PEM public key or certificate)")
	}
	var pub crypto.PublicKey
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			pub = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block %q is neither a public key nor a certificate", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		return pub, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T (want ECDSA, RSA or Ed25519)", pub)
}

// KeyID identifies a public key in reports: "sha256:" and the hex SHA-256
// of its DER (PKIX SubjectPublicKeyInfo) encoding, which is what
// `openssl pkey -pubin -outform DER | sha256sum` prints for cosign.pub.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	h := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(h[:]), nil
}
