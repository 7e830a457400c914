package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeyCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	t.Setenv("CSSC_KEY_PASSPHRASE", "cli test passphrase")

	code, out, stderr := run(t, "key", "generate", "--name", "enterprise", "--key-dir", dir)
	if code != 0 || !strings.HasPrefix(out, "generated key enterprise (ecdsa-p256, generation 1): CN=enterprise,O=cssc") {
		t.Fatalf("generate: code %d, out %q, err %q", code, out, stderr)
	}
	code, out, stderr = run(t, "key", "rotate", "--name", "enterprise", "--key-dir", dir)
	if code != 0 || !strings.HasPrefix(out, "rotated key enterprise (ecdsa-p256, generation 2)") {
		t.Fatalf("rotate: code %d, out %q, err %q", code, out, stderr)
	}

	// Import a key made here, with the key directory from the environment.
	keyPEM, chainPEM := testSigningPKI(t)
	kf, cf := filepath.Join(t.TempDir(), "key.pem"), filepath.Join(t.TempDir(), "chain.pem")
	if err := os.WriteFile(kf, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cf, chainPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CSSC_KEY_DIR", dir)
	code, out, stderr = run(t, "key", "import", "--name", "vendor", "--key", kf, "--cert", cf)
	if code != 0 || !strings.HasPrefix(out, "imported key vendor (ecdsa-p256, generation 1): CN=vendor signer") {
		t.Fatalf("import: code %d, out %q, err %q", code, out, stderr)
	}

	code, out, stderr = run(t, "key", "list", "--format", "json")
	if code != 0 {
		t.Fatalf("list: code %d, err %q", code, stderr)
	}
	var infos []struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		Generation int    `json:"generation"`
		Origin     string `json:"origin"`
		Older      []int  `json:"older_generations"`
	}
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("list json: %v\n%s", err, out)
	}
	if len(infos) != 2 || infos[0].Name != "enterprise" || infos[0].Generation != 2 || infos[0].Origin != "generated" ||
		len(infos[0].Older) != 1 || infos[0].Older[0] != 1 || infos[1].Name != "vendor" || infos[1].Origin != "imported" {
		t.Fatalf("list: %+v", infos)
	}
	code, out, _ = run(t, "key", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") ||
		!strings.HasPrefix(lines[1], "enterprise") || !strings.HasPrefix(lines[2], "vendor") {
		t.Fatalf("list table: code %d\n%s", code, out)
	}

	exports := []struct {
		flag   string
		blocks []string
	}{
		{"--cert", []string{"CERTIFICATE"}},
		{"--chain", []string{"CERTIFICATE", "CERTIFICATE"}},
		{"--public", []string{"PUBLIC KEY"}},
	}
	var caCert *x509.Certificate
	for _, e := range exports {
		code, out, stderr = run(t, "key", "export", "--name", "enterprise", e.flag)
		if code != 0 {
			t.Fatalf("export %s: code %d, err %q", e.flag, code, stderr)
		}
		rest := []byte(out)
		var types []string
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			types = append(types, b.Type)
			if e.flag == "--cert" {
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				caCert = c
			}
		}
		if strings.Join(types, ",") != strings.Join(e.blocks, ",") || strings.TrimSpace(string(rest)) != "" {
			t.Errorf("export %s: blocks %v, want %v", e.flag, types, e.blocks)
		}
	}
	if caCert == nil || !caCert.IsCA || caCert.Subject.CommonName != "enterprise CA" {
		t.Errorf("export --cert is not the CA certificate: %+v", caCert)
	}

	errs := []struct {
		name string
		args []string
		want string
	}{
		{"export without a kind", []string{"key", "export", "--name", "enterprise"}, "exactly one of --cert, --chain or --public"},
		{"export two kinds", []string{"key", "export", "--name", "enterprise", "--cert", "--public"}, "exactly one of"},
		{"export missing key", []string{"key", "export", "--name", "nope", "--cert"}, "no such key"},
		{"generate without name", []string{"key", "generate"}, "--name is required"},
		{"generate existing", []string{"key", "generate", "--name", "enterprise"}, "already exists"},
		{"generate bad type", []string{"key", "generate", "--name", "x", "--type", "dsa"}, `unknown key type "dsa"`},
		{"generate bad name", []string{"key", "generate", "--name", "Bad/Name"}, "invalid key name"},
		{"rotate imported", []string{"key", "rotate", "--name", "vendor"}, "import a new key"},
		{"import missing files", []string{"key", "import", "--name", "y", "--key", "/nonexistent/key.pem", "--cert", cf}, "read key"},
		{"list bad format", []string{"key", "list", "--format", "yaml"}, `--format "yaml"`},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("code %d, stderr %q, want 2 and %q", code, stderr, tc.want)
			}
		})
	}

	// Without a passphrase nothing is generated; with a world-readable
	// key file nothing is loaded.
	os.Unsetenv("CSSC_KEY_PASSPHRASE")
	code, _, stderr = run(t, "key", "generate", "--name", "nopass")
	if code != 2 || !strings.Contains(stderr, "no key passphrase") {
		t.Fatalf("generate without passphrase: code %d, %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "nopass")); !os.IsNotExist(err) {
		t.Fatalf("key created without passphrase: %v", err)
	}
	t.Setenv("CSSC_KEY_PASSPHRASE", "cli test passphrase")
	if err := os.Chmod(filepath.Join(dir, "enterprise", "2", "ca-key.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, "key", "rotate", "--name", "enterprise")
	if code != 2 || !strings.Contains(stderr, "chmod 600") {
		t.Fatalf("rotate with world-readable CA key: code %d, %q", code, stderr)
	}
	for _, out := range []string{out, stderr} {
		if strings.Contains(out, "PRIVATE KEY") {
			t.Errorf("output shows a private key: %q", out)
		}
	}
}

// testSigningPKI returns a PKCS#8 key and a leaf + root chain for it.
func testSigningPKI(t *testing.T) (keyPEM, chainPEM []byte) {
	t.Helper()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	root := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vendor root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour * 24),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "vendor signer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour * 24),
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, root, leafKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	chainPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})...)
	return keyPEM, chainPEM
}
