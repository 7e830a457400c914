package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// expirySoon is how close to NotAfter a certificate gets a warning.
const expirySoon = 14 * 24 * time.Hour

// loadKeyPair reads a PEM certificate (leaf first, then any chain) and its
// PEM private key, and checks that they belong together and that the
// certificate has not expired at now. Errors name the file at fault.
func loadKeyPair(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read TLS certificate: %w", err)
	}
	var chain [][]byte
	for rest := certPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			chain = append(chain, block.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("TLS certificate %s: no PEM CERTIFICATE block in it", certFile)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s: %w", certFile, err)
	}

	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read TLS key: %w", err)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("TLS key %s: %w", keyFile, err)
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("TLS key %s does not match certificate %s (subject %s)", keyFile, certFile, leaf.Subject)
	}
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("TLS certificate %s expired: NotAfter %s", certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

// parsePrivateKey finds the first private key block in a PEM file: PKCS #8,
// PKCS #1 (RSA) or SEC 1 (EC).
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	var sawCert bool
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			sawCert = true
		}
		if block.Type != "PRIVATE KEY" && !strings.HasSuffix(block.Type, " PRIVATE KEY") {
			continue
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
			return nil, errors.New("the key is encrypted; give an unencrypted key (and protect it with file permissions)")
		}
		return parseKeyDER(block.Bytes)
	}
	if sawCert {
		return nil, errors.New("no PEM PRIVATE KEY block in it, only a certificate (are --tls-cert and --tls-key swapped?)")
	}
	return nil, errors.New("no PEM PRIVATE KEY block in it")
}

func parseKeyDER(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		switch k := k.(type) {
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
			return k.(crypto.Signer), nil
		}
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("cannot parse the private key (want PKCS #8, PKCS #1 or SEC 1)")
}

// loadCAPool reads a PEM bundle of CA certificates; it must hold at least
// one. It also returns their subjects, for the log.
func loadCAPool(file string) (*x509.CertPool, []string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("read client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	var subjects []string
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("client CA file %s, certificate %d: %w", file, len(subjects)+1, err)
		}
		pool.AddCert(c)
		subjects = append(subjects, c.Subject.String())
	}
	if len(subjects) == 0 {
		return nil, nil, fmt.Errorf("client CA file %s holds no PEM CERTIFICATE block", file)
	}
	return pool, subjects, nil
}

// Fingerprint is the SHA-256 of a certificate's DER encoding, as
// colon-separated upper-case hex (the form `openssl x509 -fingerprint
// -sha256` prints).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// describe names a loaded certificate for the log.
func describe(file string, c *tls.Certificate) string {
	return fmt.Sprintf("%s (subject %s, valid until %s, fingerprint SHA256 %s)",
		file, c.Leaf.Subject, c.Leaf.NotAfter.UTC().Format(time.RFC3339), Fingerprint(c.Leaf.Raw))
}

func expiryWarning(c *tls.Certificate, now time.Time) string {
	switch {
	case now.Before(c.Leaf.NotBefore):
		return fmt.Sprintf("WARNING: the certificate is not valid before %s; clients will refuse it until then",
			c.Leaf.NotBefore.UTC().Format(time.RFC3339))
	case c.Leaf.NotAfter.Sub(now) < expirySoon:
		return fmt.Sprintf("WARNING: the certificate expires in %s; replace the files and the server picks the new one up",
			c.Leaf.NotAfter.Sub(now).Round(time.Minute))
	}
	return ""
}
