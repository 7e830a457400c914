package upstream

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

// testCAPEM returns a fresh self-signed CA certificate as PEM.
func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestValidate(t *testing.T) {
	ok := Upstream{Name: "dockerhub", Registry: "docker.io", Repositories: []string{"library/*"}}
	ca := testCAPEM(t)
	tests := []struct {
		name    string
		edit    func(*Upstream)
		wantErr string // "" for valid
	}{
		{"minimal", func(*Upstream) {}, ""},
		{"everything", func(u *Upstream) {
			u.Registry, u.SignaturePolicy, u.CABundle, u.Proxy, u.RateLimit = "127.0.0.1:5001", SignatureRequired, ca, "http://proxy.example:3128", 2.5
			u.Username, u.Password, u.CertificateIdentityRegexp = "bob", "pw", `^https://github\.com/acme/`
		}, ""},
		{"ipv6", func(u *Upstream) { u.Registry = "[::1]:5000" }, ""},
		{"bad name", func(u *Upstream) { u.Name = "Docker Hub" }, "name"},
		{"no registry", func(u *Upstream) { u.Registry = "" }, "no registry"},
		{"scheme", func(u *Upstream) { u.Registry = "https://docker.io" }, "without scheme"},
		{"path", func(u *Upstream) { u.Registry = "docker.io/library" }, "without scheme, path"},
		{"bad port", func(u *Upstream) { u.Registry = "docker.io:99999" }, "port"},
		{"bad host", func(u *Upstream) { u.Registry = "dock_er.io" }, "not a valid host name"},
		{"no repositories", func(u *Upstream) { u.Repositories = nil }, "at least one repository glob"},
		{"bad glob", func(u *Upstream) { u.Repositories = []string{"library//x"} }, "empty path segment"},
		{"bad policy", func(u *Upstream) { u.SignaturePolicy = "always" }, "signature policy"},
		{"bad regexp", func(u *Upstream) { u.CertificateOIDCIssuerRegexp = "(" }, "OIDC issuer regexp"},
		{"password without user", func(u *Upstream) { u.Password = "pw" }, "needs a username"},
		{"proxy scheme", func(u *Upstream) { u.Proxy = "proxy.example:3128" }, "proxy"},
		{"ca path", func(u *Upstream) { u.CABundle = "/etc/ssl/ca.pem" }, "not a path"},
		{"ca junk", func(u *Upstream) { u.CABundle = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }, "CA bundle"},
		{"negative rate", func(u *Upstream) { u.RateLimit = -1 }, "rate limit"},
		{"NaN rate", func(u *Upstream) { u.RateLimit = math.NaN() }, "rate limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ok
			tt.edit(&u)
			err := u.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	err := Upstream{Name: "x", Registry: "", RateLimit: -1}.Validate()
	for _, want := range []string{"no registry", "repository glob", "rate limit"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to contain %q", err, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	u := Upstream{Name: " hub ", Registry: "Index.Docker.IO"}.Normalize()
	if u.Name != "hub" || u.Registry != "docker.io" || u.SignaturePolicy != SignatureIfPresent {
		t.Fatalf("Normalize = %+v", u)
	}
}

func TestDefaultInsecure(t *testing.T) {
	for reg, want := range map[string]bool{
		"127.0.0.1:5001": true, "localhost": true, "localhost:5000": true, "[::1]:5000": true, "::1": true,
		"docker.io": false, "10.0.0.1:5000": false, "localhost.example.com": false,
	} {
		if got := DefaultInsecure(reg); got != want {
			t.Errorf("DefaultInsecure(%s) = %v, want %v", reg, got, want)
		}
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	u := Upstream{Name: "hub", Registry: "docker.io", Repositories: []string{"**"}, Username: "bob", Password: "s3cr3t-pw"}
	j, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("upstream", "u", u)
	for what, s := range map[string]string{
		"json": string(j), "%v": fmt.Sprintf("%v", u), "%+v": fmt.Sprintf("%+v", u), "slog": b.String(),
	} {
		if strings.Contains(s, "s3cr3t-pw") {
			t.Errorf("%s shows the password: %s", what, s)
		}
	}
	if user, pass := u.Credential(); user != "bob" || pass != "s3cr3t-pw" {
		t.Fatalf("Credential = %q, %q", user, pass)
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
