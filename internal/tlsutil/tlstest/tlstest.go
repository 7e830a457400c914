// Package tlstest makes certificate authorities and the certificates they
// issue, for tests that need real TLS: HTTPS servers, clients that trust
// them, and client certificates for mTLS. Everything is ECDSA P-256 and
// written under t.TempDir().
package tlstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority for tests.
type CA struct {
	Cert     *x509.Certificate
	Key      crypto.Signer
	CertFile string // the CA certificate, PEM
	Pool     *x509.CertPool
}

// NewCA makes a CA named cn, valid from an hour ago for a day, and writes its
// certificate to a temporary directory.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"cssc tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("tlstest: create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: parse CA certificate: %v", err)
	}
	certFile := filepath.Join(t.TempDir(), "ca.crt")
	writePEM(t, certFile, 0o644, "CERTIFICATE", der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Key: key, CertFile: certFile, Pool: pool}
}

// Server issues a server certificate for hosts (names or IP addresses;
// default 127.0.0.1 and localhost) and writes it and its key.
func (ca *CA) Server(t testing.TB, hosts ...string) (certFile, keyFile string) {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "localhost"}
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	_, certFile, keyFile = ca.Issue(t, tmpl)
	return certFile, keyFile
}

// Client issues a client certificate for subject and writes it and its key.
func (ca *CA) Client(t testing.TB, subject pkix.Name) (cert tls.Certificate, certFile, keyFile string) {
	t.Helper()
	return ca.Issue(t, &x509.Certificate{
		Subject:     subject,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// Issue signs tmpl with a fresh key and writes the certificate (cert.crt)
// and the key (cert.key, mode 0600) to a new temporary directory. The caller
// sets the subject, names and usages; a zero SerialNumber, NotBefore or
// NotAfter is filled in (random; an hour ago; in a day), and KeyUsage
// defaults to digital signature. An expired certificate is
// NotBefore/NotAfter in the past.
func (ca *CA) Issue(t testing.TB, tmpl *x509.Certificate) (cert tls.Certificate, certFile, keyFile string) {
	t.Helper()
	tc := *tmpl
	now := time.Now()
	if tc.SerialNumber == nil {
		tc.SerialNumber = serial(t)
	}
	if tc.NotBefore.IsZero() {
		tc.NotBefore = now.Add(-time.Hour)
	}
	if tc.NotAfter.IsZero() {
		tc.NotAfter = now.Add(24 * time.Hour)
	}
	if tc.KeyUsage == 0 {
		tc.KeyUsage = x509.KeyUsageDigitalSignature
	}
	tc.BasicConstraintsValid = true
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, &tc, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("tlstest: issue certificate for %s: %v", tc.Subject, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: parse issued certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("tlstest: marshal key: %v", err)
	}
	dir := t.TempDir()
	certFile = filepath.Join(dir, "cert.crt")
	keyFile = filepath.Join(dir, "cert.key")
	writePEM(t, certFile, 0o644, "CERTIFICATE", der)
	writePEM(t, keyFile, 0o600, "PRIVATE KEY", keyDER)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, certFile, keyFile
}

// ClientConfig is a client configuration that trusts only ca and, when
// client is not nil, presents it.
func (ca *CA) ClientConfig(t testing.TB, client *tls.Certificate) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	return cfg
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: generate key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatalf("tlstest: serial number: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

func writePEM(t testing.TB, path string, mode os.FileMode, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatalf("tlstest: write %s: %v", path, err)
	}
}
