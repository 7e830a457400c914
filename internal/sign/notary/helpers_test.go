package notary_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/cssc-project/cssc/internal/server/servertest"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/notary"
	"github.com/cssc-project/cssc/internal/sign/signtest"
)

// fixture is a registry, a CA whose certificate is the trust store
// "ca:acme", and a directory for policies.
type fixture struct {
	host  string
	ca    *signtest.CA
	store string // trust store directory (holds x509/)
	dir   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := servertest.Start(t, servertest.Config(t.TempDir()))
	t.Cleanup(func() { http.DefaultTransport.(*http.Transport).CloseIdleConnections() })
	f := &fixture{host: srv.Host, ca: signtest.NewCA(t, "acme root", ""), dir: t.TempDir()}
	f.store = filepath.Join(f.dir, "truststore")
	signtest.WriteTrustStore(t, f.store, "ca", "acme", f.ca.Cert)
	return f
}

// strict is the usual statement: every repository, strict, trust store
// ca:acme, any identity.
func strict() signtest.PolicyStatement {
	return signtest.PolicyStatement{
		Name:                  "all",
		RegistryScopes:        []string{"*"},
		SignatureVerification: signtest.SignatureVerification{Level: "strict"},
		TrustStores:           []string{"ca:acme"},
		TrustedIdentities:     []string{"*"},
	}
}

// checker writes a policy of statements and returns a checker over it and
// the fixture's trust store.
func (f *fixture) checker(t *testing.T, statements ...signtest.PolicyStatement) *notary.Checker {
	t.Helper()
	p := signtest.WritePolicy(t, filepath.Join(t.TempDir(), "trustpolicy.json"), statements...)
	c, err := notary.NewChecker(p, f.store)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	return c.WithLogger(slog.New(slog.DiscardHandler))
}

func (f *fixture) image(t *testing.T, repo string) *sign.Target {
	t.Helper()
	return signtest.PushImage(t, f.host, repo, "v1")
}

func mustSign(t *testing.T, target *sign.Target, key *signtest.Signer, opts notary.SignOptions) ocispec.Descriptor {
	t.Helper()
	d, err := notary.Sign(context.Background(), target, key, opts)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return d
}

func check(t *testing.T, c *notary.Checker, target *sign.Target) ([]sign.Signature, sign.Verdict) {
	t.Helper()
	sigs, v, err := c.Check(context.Background(), target)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return sigs, v
}

// only returns the one signature of sigs.
func only(t *testing.T, sigs []sign.Signature) sign.Signature {
	t.Helper()
	if len(sigs) != 1 {
		t.Fatalf("got %d signatures, want 1: %+v", len(sigs), sigs)
	}
	return sigs[0]
}

// byDigest finds the signature whose manifest is d.
func byDigest(t *testing.T, sigs []sign.Signature, d string) sign.Signature {
	t.Helper()
	for _, s := range sigs {
		if s.Digest == d {
			return s
		}
	}
	t.Fatalf("no signature %s among %+v", d, sigs)
	return sign.Signature{}
}

// fresh resolves target again with a repository client of its own (its
// referrers capability not yet known).
func fresh(t *testing.T, target *sign.Target) *sign.Target {
	t.Helper()
	r, err := sign.Resolve(context.Background(), target.DigestRef(), signtest.Anonymous())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fetchManifest(t *testing.T, repo *remote.Repository, d ocispec.Descriptor) ocispec.Manifest {
	t.Helper()
	b, err := content.FetchAll(context.Background(), repo.Manifests(), d)
	if err != nil {
		t.Fatalf("fetch manifest %s: %v", d.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func fetchBlob(t *testing.T, repo *remote.Repository, d ocispec.Descriptor) []byte {
	t.Helper()
	b, err := content.FetchAll(context.Background(), repo.Blobs(), d)
	if err != nil {
		t.Fatalf("fetch blob %s: %v", d.Digest, err)
	}
	return b
}

// thumbprints is what the io.cncf.notary.x509chain.thumbprint#S256
// annotation must hold for key's chain.
func thumbprints(t *testing.T, key *signtest.Signer) string {
	t.Helper()
	var tp []string
	for _, c := range key.Chain {
		s := sha256.Sum256(c.Raw)
		tp = append(tp, hex.EncodeToString(s[:]))
	}
	b, err := json.Marshal(tp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitPast sleeps until the clock is past deadline (certificates and
// signatures that expire during a test).
func waitPast(deadline time.Time) {
	for !time.Now().After(deadline) {
		time.Sleep(time.Until(deadline) + 50*time.Millisecond)
	}
}

// earliestNotAfter is the earliest NotAfter of key's chain.
func earliestNotAfter(key *signtest.Signer) time.Time {
	e := key.Chain[0].NotAfter
	for _, c := range key.Chain[1:] {
		if c.NotAfter.Before(e) {
			e = c.NotAfter
		}
	}
	return e
}
