package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	selfSignedValidity = 365 * 24 * time.Hour
	// selfSignedMinLeft is how long a self-signed certificate must still be
	// valid to be reused rather than replaced.
	selfSignedMinLeft = 24 * time.Hour
)

// selfSignedCert is where the self-signed certificate is and how it came
// to be.
type selfSignedCert struct {
	certFile, keyFile string
	hosts             []string
	generated         bool
	why               string // why an existing certificate was replaced
}

func (s *selfSignedCert) describe(c *tls.Certificate) string {
	what := "reusing self-signed TLS certificate " + s.certFile
	if s.generated {
		what = "self-signed TLS certificate generated at " + s.certFile
		if s.why != "" {
			what += " (replacing the previous one: " + s.why + ")"
		}
	}
	return fmt.Sprintf("%s for %s, valid until %s, fingerprint SHA256 %s; FOR DEVELOPMENT ONLY: "+
		"clients trust it only when given this file (see docs/tls.md)",
		what, strings.Join(s.hosts, ", "), c.Leaf.NotAfter.UTC().Format(time.RFC3339), Fingerprint(c.Leaf.Raw))
}

// selfSigned reuses the self-signed certificate in dir if it is still valid
// for more than a day and names exactly hosts, and generates one otherwise.
func selfSigned(dir string, hosts []string, now time.Time) (*selfSignedCert, error) {
	hosts = normalizeHosts(hosts)
	if len(hosts) == 0 {
		hosts = defaultHosts()
	}
	s := &selfSignedCert{
		certFile: filepath.Join(dir, SelfSignedCertName),
		keyFile:  filepath.Join(dir, SelfSignedKeyName),
		hosts:    hosts,
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("self-signed certificate directory: %w", err)
	}
	if _, err := os.Stat(s.certFile); !errors.Is(err, fs.ErrNotExist) {
		s.why = reuseProblem(s.certFile, s.keyFile, hosts, now)
		if s.why == "" {
			return s, nil
		}
	}
	if err := generateSelfSigned(s.certFile, s.keyFile, hosts, now); err != nil {
		return nil, fmt.Errorf("generate self-signed certificate in %s: %w", dir, err)
	}
	s.generated = true
	return s, nil
}

// reuseProblem says why the existing pair cannot be reused, or "".
func reuseProblem(certFile, keyFile string, hosts []string, now time.Time) string {
	c, err := loadKeyPair(certFile, keyFile, now)
	if err != nil {
		return err.Error()
	}
	switch have := certHosts(c.Leaf); {
	case now.Before(c.Leaf.NotBefore):
		return "it is not valid before " + c.Leaf.NotBefore.UTC().Format(time.RFC3339)
	case c.Leaf.NotAfter.Sub(now) <= selfSignedMinLeft:
		return "it expires at " + c.Leaf.NotAfter.UTC().Format(time.RFC3339)
	case !sameSet(have, hosts):
		return "it was for " + strings.Join(have, ", ")
	}
	return ""
}

func generateSelfSigned(certFile, keyFile string, hosts []string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: "cssc self-signed " + hosts[0], Organization: []string{"cssc development"}},
		NotBefore:             now.Add(-time.Hour), // some slack for clients whose clock is behind
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	// The key first: a crash in between leaves a pair that does not match,
	// which the next start replaces.
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFileAtomic writes data to a temporary file beside path with mode,
// syncs it and renames it over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// normalizeHosts trims, lower-cases names, writes IP addresses in their
// canonical form, and drops empties and duplicates.
func normalizeHosts(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h), "["), "]")
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		} else {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
		}
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// defaultHosts are localhost, its loopback addresses and this machine's name.
func defaultHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	return normalizeHosts(hosts)
}

func certHosts(c *x509.Certificate) []string {
	hosts := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	return normalizeHosts(hosts)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
