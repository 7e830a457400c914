// Package acquiretest starts the acquire pipeline for tests: a cssc
// server (in the test's process, on 127.0.0.1) running the pipeline over
// an initialised data directory, with a real clamd, a vulnerability
// database imported from an OSV record the package writes and an
// enterprise key issued by a test CA, beside an "upstream" registry to
// acquire from. It also builds the Debian images the tests acquire.
package acquiretest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/cssc-project/cssc/internal/acquire"
	"github.com/cssc-project/cssc/internal/clamd/clamdtest"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/server"
	"github.com/cssc-project/cssc/internal/server/servertest"
	"github.com/cssc-project/cssc/internal/sign/signtest"
	"github.com/cssc-project/cssc/internal/vulndb"
)

// CleanStatus is a dpkg database with only bash: nothing the vulnerability
// data of ImportDB matches.
const CleanStatus = `Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Description: GNU Bourne Again SHell
`

// OpenSSLRecord is the OSV record ImportDB imports: openssl before
// 3.0.13-1~deb12u1 has a critical vulnerability (CVE-2024-0727) with a
// fix. imagetest.DpkgStatus has 3.0.11-1~deb12u2; CleanStatus has no
// openssl.
const OpenSSLRecord = `{"id":"DEBIAN-CVE-2024-0727","modified":"2024-06-01T00:00:00Z","upstream":["CVE-2024-0727"],
  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}]}]}`

// ImportDB imports OpenSSLRecord into a new vulnerability database and
// returns its directory.
func ImportDB(t testing.TB) string {
	t.Helper()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "DEBIAN-CVE-2024-0727.json"), []byte(OpenSSLRecord), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "db")
	if _, err := vulndb.Import(context.Background(), dir, vulndb.ImportOptions{}, src); err != nil {
		t.Fatalf("import vulnerability records: %v", err)
	}
	return dir
}

// Env is a running pipeline and the upstream it acquires from.
type Env struct {
	// Server runs the pipeline. Authentication is on: the admin's
	// password is servertest.AdminPassword.
	Server *servertest.Server
	// Upstream is an open registry, not yet allow-listed (AllowUpstream).
	Upstream *servertest.Server
	// Signer is the enterprise key the pipeline signs with, issued by CA.
	Signer *signtest.Signer
	CA     *signtest.CA
}

// Start starts clamd, the upstream registry and cssc serve with the
// pipeline (two workers, three attempts, 100 ms backoff) over an
// initialised data directory, so that access rules apply. mutate, when
// not nil, changes the server's configuration before it starts. Everything
// stops when the test ends.
func Start(t testing.TB, mutate func(*server.Config)) *Env {
	t.Helper()
	clam := clamdtest.Start(t, clamdtest.Options{})
	ca := signtest.NewCA(t, "cssc enterprise CA", keys.ECDSAP256)
	signer := ca.Issue(t, signtest.LeafOptions{})
	up := servertest.Start(t, servertest.Config(filepath.Join(t.TempDir(), "upstream")))
	dataDir := filepath.Join(t.TempDir(), "data")
	servertest.Init(t, dataDir)
	cfg := servertest.Config(dataDir)
	cfg.Pipeline = server.PipelineConfig{
		Signer: signer, Clamd: clam.Addr, DBDir: ImportDB(t), Workers: 2,
		MaxAttempts: 3, Backoff: 100 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv := servertest.Start(t, cfg)
	// Runs before the servers stop: a connection a client dialed but
	// never used holds a graceful shutdown for seconds (net/http treats
	// it as active until it has been idle 5 s).
	t.Cleanup(func() {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		remote.DefaultTransport.(*http.Transport).CloseIdleConnections()
	})
	return &Env{Server: srv, Upstream: up, Signer: signer, CA: ca}
}

// API calls the pipeline server's REST API as admin, with in (when not
// nil) as the JSON body, and returns the HTTP status. A successful answer
// is decoded into out (when not nil); so is an error answer when out is a
// *map[string]any.
func (e *Env) API(t testing.TB, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.Server.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", servertest.AdminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 && out != nil {
		if m, ok := out.(*map[string]any); ok {
			_ = json.Unmarshal(b, m)
		}
	}
	return resp.StatusCode
}

// Submit asks the pipeline to acquire src and returns the acquisition's
// ID.
func (e *Env) Submit(t testing.TB, src string) string {
	t.Helper()
	var rec acquire.Record
	if code := e.API(t, "POST", "/api/v1/acquisitions", map[string]any{"source": src}, &rec); code != http.StatusAccepted {
		t.Fatalf("submit %s: HTTP %d", src, code)
	}
	return rec.ID
}

// Wait waits up to 3 minutes for acquisition id to reach a final state
// and returns its record.
func (e *Env) Wait(t testing.TB, id string) *acquire.Record {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		var rec acquire.Record
		if code := e.API(t, "GET", "/api/v1/acquisitions/"+id, nil, &rec); code != http.StatusOK {
			t.Fatalf("get %s: HTTP %d", id, code)
		}
		if rec.State.Final() {
			return &rec
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("acquisition %s did not finish in 3 minutes", id)
	return nil
}

// AllowUpstream allow-lists the upstream's demo/* repositories (over
// plain HTTP), trusting the cosign public key file cosignKey when given.
func (e *Env) AllowUpstream(t testing.TB, cosignKey ...string) {
	t.Helper()
	body := map[string]any{"name": "local", "registry": e.Upstream.Host, "repositories": []string{"demo/*"}, "insecure": true}
	if len(cosignKey) > 0 {
		body["cosignKey"] = cosignKey[0]
	}
	if code := e.API(t, "POST", "/api/v1/upstreams", body, nil); code != http.StatusCreated {
		t.Fatalf("add upstream: HTTP %d", code)
	}
}

// AdminCredential is the pipeline server's admin for oras-go clients (an
// auth.CredentialFunc).
func AdminCredential(context.Context, string) (auth.Credential, error) {
	return auth.Credential{Username: "admin", Password: servertest.AdminPassword}, nil
}

// DebianLayer is a Debian 12 base layer: os-release (through the usual
// symlink) and dpkgStatus as the dpkg database.
func DebianLayer(t testing.TB, dpkgStatus string) v1.Layer {
	t.Helper()
	return imagetest.Layer(t,
		imagetest.Entry{Name: "usr/lib/os-release", Body: imagetest.DebianOSRelease},
		imagetest.Entry{Name: "etc/os-release", Type: tar.TypeSymlink, Linkname: "../usr/lib/os-release"},
		imagetest.Entry{Name: "var/lib/dpkg/status", Body: dpkgStatus},
	)
}

// DebianImage is an image of DebianLayer with dpkgStatus and, when extra
// is given, a second layer of extra.
func DebianImage(t testing.TB, dpkgStatus string, extra ...imagetest.Entry) v1.Image {
	t.Helper()
	layers := []v1.Layer{DebianLayer(t, dpkgStatus)}
	if len(extra) > 0 {
		layers = append(layers, imagetest.Layer(t, extra...))
	}
	return imagetest.Image(t, layers...)
}

// Push pushes img to ref (an open registry) and returns its digest.
func Push(t testing.TB, ref string, img v1.Image) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// PublicKeyPEM is pub in PEM ("PUBLIC KEY", PKIX).
func PublicKeyPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// PublicKeyFile writes pub in PEM to a new file (as cosign --key and an
// upstream's cosignKey read it) and returns its path.
func PublicKeyFile(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(p, PublicKeyPEM(t, pub), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TrustPolicy writes a Notary Project trust policy (for notation-go)
// trusting ca for every repository, with its trust store beside it, and
// returns its path.
func TrustPolicy(t testing.TB, ca *signtest.CA) string {
	t.Helper()
	dir := t.TempDir()
	signtest.WriteTrustStore(t, dir, "ca", "enterprise", ca.Cert)
	return signtest.WritePolicy(t, filepath.Join(dir, "trustpolicy.json"), signtest.PolicyStatement{
		Name: "golden", RegistryScopes: []string{"*"},
		SignatureVerification: signtest.SignatureVerification{Level: "strict"},
		TrustStores:           []string{"ca:enterprise"}, TrustedIdentities: []string{"*"},
	})
}
