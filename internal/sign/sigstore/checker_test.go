package sigstore_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/signtest"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
	"github.com/cssc-project/cssc/internal/sign/sigstore/sigstoretest"
)

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNewRejects(t *testing.T) {
	rootPath := writeFile(t, "trusted_root.json", sigstoretest.TrustedRoot(t, []*sigstoretest.CA{sigstoretest.NewCA(t, "fulcio", false)}, nil))
	signer := newSigner(t, keys.ECDSAP256)
	tests := []struct {
		name string
		opts sigstore.Options
		want string // in the error
	}{
		{"trusted root without identity", sigstore.Options{TrustedRoot: rootPath, Issuer: "https://issuer.example"}, "--certificate-identity"},
		{"trusted root without issuer", sigstore.Options{TrustedRoot: rootPath, IdentityRegexp: ".*"}, "--certificate-oidc-issuer"},
		{"identity without trusted root", sigstore.Options{Identity: "a@example.com", Issuer: "https://issuer.example"}, "needs a trusted root"},
		{"bad identity regexp", sigstore.Options{TrustedRoot: rootPath, IdentityRegexp: "(", Issuer: "https://issuer.example"}, "certificate identity"},
		{"trusted root not JSON", sigstore.Options{TrustedRoot: writeFile(t, "root.json", []byte("not json")), Identity: "a@example.com", Issuer: "https://i.example"}, "read trusted root"},
		{"missing trusted root", sigstore.Options{TrustedRoot: filepath.Join(t.TempDir(), "absent.json"), Identity: "a@example.com", Issuer: "https://i.example"}, "read trusted root"},
		{"missing key", sigstore.Options{CosignKey: filepath.Join(t.TempDir(), "absent.pub")}, "read cosign key"},
		{"key not PEM", sigstore.Options{CosignKey: writeFile(t, "key.pub", []byte("ssh-ed25519 AAAA"))}, "no PEM block"},
		{"private key given as the key", sigstore.Options{CosignKey: writeFile(t, "key.pem", signer.KeyPEM(t))}, "neither a public key nor a certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sigstore.New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, %v; want an error containing %q", c, err, tc.want)
			}
		})
	}
}

// TestKeyFormats: the key is read from each PEM form a user may have, and
// signatures verify with it.
func TestKeyFormats(t *testing.T) {
	srv := startRegistry(t)
	ecdsaSigner := newSigner(t, keys.ECDSAP256)
	rsaSigner := newSigner(t, keys.RSA3072)
	edSigner := newSigner(t, "ed25519")
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rsaSigner.Public().(*rsa.PublicKey))})
	tests := []struct {
		name   string
		signer *signtest.Signer
		file   func(t *testing.T) string
	}{
		{"ECDSA public key", ecdsaSigner, func(t *testing.T) string { return writePublicKey(t, ecdsaSigner.Public()) }},
		{"certificate", ecdsaSigner, func(t *testing.T) string { return writeFile(t, "cert.pem", signtest.PEM(ecdsaSigner.Leaf())) }},
		{"RSA public key", rsaSigner, func(t *testing.T) string { return writePublicKey(t, rsaSigner.Public()) }},
		{"PKCS #1 RSA public key", rsaSigner, func(t *testing.T) string { return writeFile(t, "rsa.pem", pkcs1) }},
		{"Ed25519 public key", edSigner, func(t *testing.T) string { return writePublicKey(t, edSigner.Public()) }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := signtest.PushImage(t, srv.Host, "keys/app"+string(rune('a'+i)), "v1")
			d := mustSign(t, target, tc.signer, sigstore.SignOptions{})
			c := newChecker(t, sigstore.Options{CosignKey: tc.file(t)})
			if !c.Configured() {
				t.Fatal("a checker with a key is not configured")
			}
			sigs, v := check(t, c, target)
			want := []sign.Signature{tagSig(target, d[0], 0, "", keyID(t, tc.signer.Public()))}
			if !reflect.DeepEqual(sigs, want) || !v.Passed {
				t.Fatalf("signatures %+v (verdict %+v), want %+v", sigs, v, want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	root1 := writeFile(t, "root1.json", sigstoretest.TrustedRoot(t, []*sigstoretest.CA{sigstoretest.NewCA(t, "one", false)}, nil))
	root2 := writeFile(t, "root2.json", sigstoretest.TrustedRoot(t, []*sigstoretest.CA{sigstoretest.NewCA(t, "two", false)}, nil))
	key1 := writePublicKey(t, newSigner(t, keys.ECDSAP256).Public())
	key2 := writePublicKey(t, newSigner(t, keys.ECDSAP256).Public())
	base := sigstore.Options{CosignKey: key1, TrustedRoot: root1, Identity: "a@example.com", Issuer: "https://issuer.example"}
	fp := func(o sigstore.Options) string { return newChecker(t, o).Fingerprint() }

	if got := fp(sigstore.Options{}); got != "" {
		t.Fatalf("unconfigured fingerprint %q, want empty", got)
	}
	if a, b := fp(base), fp(base); a != b || len(a) != 64 {
		t.Fatalf("fingerprints of the same options: %q and %q, want equal 64-hex", a, b)
	}
	changes := map[string]func(o *sigstore.Options){
		"another key":           func(o *sigstore.Options) { o.CosignKey = key2 },
		"no key":                func(o *sigstore.Options) { o.CosignKey = "" },
		"another trusted root":  func(o *sigstore.Options) { o.TrustedRoot = root2 },
		"another identity":      func(o *sigstore.Options) { o.Identity = "b@example.com" },
		"identity as a regexp":  func(o *sigstore.Options) { o.Identity, o.IdentityRegexp = "", "a@example.com" },
		"another issuer":        func(o *sigstore.Options) { o.Issuer = "https://other.example" },
		"issuer regexp as well": func(o *sigstore.Options) { o.IssuerRegexp = ".*" },
	}
	for name, change := range changes {
		o := base
		change(&o)
		if fp(o) == fp(base) {
			t.Errorf("%s: same fingerprint", name)
		}
	}
}

// TestUnconfiguredChecker lists without verdict: it is not Configured and
// its Check reads no payload (it lists what the manifests hold).
func TestUnconfiguredChecker(t *testing.T) {
	c := newChecker(t, sigstore.Options{})
	if c.Configured() || c.Name() != "sigstore" {
		t.Fatalf("Configured %v Name %q, want false and sigstore", c.Configured(), c.Name())
	}
	srv := startRegistry(t)
	target := signtest.PushImage(t, srv.Host, "team/app", "v1")
	sigs, v, err := c.Check(context.Background(), target)
	if err != nil || len(sigs) != 0 || v.Passed {
		t.Fatalf("Check of an unsigned image: %+v %+v %v", sigs, v, err)
	}
}
