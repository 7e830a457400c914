package sigstore_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/server/servertest"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/signtest"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
)

// startRegistry starts a cssc server (OCI 1.1 referrers API) for the test.
func startRegistry(t *testing.T) *servertest.Server {
	t.Helper()
	srv := servertest.Start(t, servertest.Config(t.TempDir()))
	// Runs before the server stops: idle keep-alive connections would hold
	// its graceful shutdown for seconds.
	t.Cleanup(func() { http.DefaultTransport.(*http.Transport).CloseIdleConnections() })
	return srv
}

// newSigner makes a keys.Signer of type kt (with a throwaway certificate
// chain: cosign signing uses only the key); "ed25519", which signtest does
// not make, is a bare Ed25519 key.
func newSigner(t *testing.T, kt keys.KeyType) *signtest.Signer {
	t.Helper()
	if kt == "ed25519" {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return &signtest.Signer{Key: k}
	}
	return signtest.NewCA(t, "test CA", "").Issue(t, signtest.LeafOptions{KeyType: kt})
}

// writePublicKey writes pub as a PEM "PUBLIC KEY" file (what cosign.pub
// holds) and returns its path.
func writePublicKey(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func keyID(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	id, err := sigstore.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newChecker(t *testing.T, opts sigstore.Options) *sigstore.Checker {
	t.Helper()
	c, err := sigstore.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// check runs c over t and fails the test on an error.
func check(t *testing.T, c *sigstore.Checker, target *sign.Target) ([]sign.Signature, sign.Verdict) {
	t.Helper()
	sigs, v, err := c.Check(context.Background(), target)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return sigs, v
}

// resolve resolves ref afresh (a new repository client).
func resolve(t *testing.T, ref string) *sign.Target {
	t.Helper()
	target, err := sign.Resolve(context.Background(), ref, signtest.Anonymous())
	if err != nil {
		t.Fatal(err)
	}
	return target
}
