package secrets

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Secrets are built at test time so the repository holds no literal that
// looks like a live credential.

const (
	base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	lower  = "0123456789abcdefghijklmnopqrstuvwxyz"
)

// fakes are the test secrets, the same in every run (fixed seed) except
// the private keys, which come from crypto/rand.
type fakes struct {
	awsID, awsSecret string
	github, gitlab   string
	npm, pgPassword  string
	rsaPEM, ecPEM    string
}

var (
	fakesOnce sync.Once
	theFakes  fakes
)

func testSecrets(t testing.TB) fakes {
	t.Helper()
	fakesOnce.Do(func() {
		r := mrand.New(mrand.NewPCG(5, 2026))
		pick := func(alphabet string, n int) string {
			var b strings.Builder
			for range n {
				b.WriteByte(alphabet[r.IntN(len(alphabet))])
			}
			return b.String()
		}
		theFakes = fakes{
			awsID:      "AKIA" + pick(base32, 16),
			awsSecret:  pick(base62, 40),
			github:     "ghp" + "_" + pick(base62, 36),
			gitlab:     "glpat" + "-" + pick(base62, 20),
			npm:        "npm" + "_" + pick(lower, 36),
			pgPassword: "S3cr3t" + pick(base62, 12),
		}
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		theFakes.rsaPEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}))
		ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		der, err := x509.MarshalECPrivateKey(ek)
		if err != nil {
			panic(err)
		}
		theFakes.ecPEM = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	})
	return theFakes
}

// all lists every secret value, for the "never shown" assertions.
func (f fakes) all() []string {
	return []string{f.awsID, f.awsSecret, f.github, f.gitlab, f.npm, f.pgPassword,
		strings.TrimSpace(f.rsaPEM), strings.TrimSpace(f.ecPEM), pemBody(f.rsaPEM), pemBody(f.ecPEM)}
}

// pemBody is a PEM block's base64 lines, the key material itself.
func pemBody(p string) string {
	lines := strings.Split(strings.TrimSpace(p), "\n")
	return strings.Join(lines[1:len(lines)-1], "\n")
}

// writeFile writes content to a file in a test directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newDetector builds a Detector or fails the test.
func newDetector(t testing.TB, opts Options) *Detector {
	t.Helper()
	d, err := New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	return d
}

// layerLoc is where a layer file's findings are.
func layerLoc(path string) Finding {
	return Finding{Source: SourceLayer, Path: path, Layer: 2, LayerDigest: "sha256:" + strings.Repeat("ab", 32)}
}

// want is the finding rule makes at loc, line, for secret.
func want(d *Detector, loc Finding, rule string, line int, secret string) Finding {
	f := loc
	f.RuleID = rule
	f.Description = d.gl.Config.Rules[rule].Description
	f.Line = line
	f.Fingerprint = Fingerprint([]byte(secret))
	return f
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
