// Package acquire_test runs the acquire pipeline end to end: a local
// "upstream" registry filled with generated images, a real clamd with a
// signature database the test writes, a vulnerability database imported
// from OSV records the test writes, and cssc serve running the pipeline.
package acquire_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/cssc-project/cssc/internal/acquire"
	"github.com/cssc-project/cssc/internal/attest"
	"github.com/cssc-project/cssc/internal/clamd/clamdtest"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/server"
	"github.com/cssc-project/cssc/internal/server/servertest"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/notary"
	"github.com/cssc-project/cssc/internal/sign/signtest"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
	"github.com/cssc-project/cssc/internal/vulndb"
)

// records: openssl before 3.0.13-1~deb12u1 has a critical vulnerability
// with a fix (imagetest.DpkgStatus has 3.0.11-1~deb12u2).
var records = map[string]string{
	"DEBIAN-CVE-2024-0727.json": `{"id":"DEBIAN-CVE-2024-0727","modified":"2024-06-01T00:00:00Z","upstream":["CVE-2024-0727"],
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}]}]}`,
}

// cleanStatus is a dpkg database without openssl.
const cleanStatus = `Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Description: GNU Bourne Again SHell
`

// Env is a running pipeline and its upstream.
type Env struct {
	Server   *servertest.Server
	Upstream *servertest.Server
	Signer   keys.Signer
	// CosignPub is the upstream publisher's cosign public key file.
	CosignPub string
	CA        *signtest.CA
}

func importDB(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	for n, body := range records {
		if err := os.WriteFile(filepath.Join(src, n), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "db")
	if _, err := vulndb.Import(context.Background(), dir, vulndb.ImportOptions{}, src); err != nil {
		t.Fatal(err)
	}
	return dir
}

func debian(t *testing.T, status string, extra ...imagetest.Entry) v1.Image {
	t.Helper()
	base := []imagetest.Entry{
		{Name: "usr/lib/os-release", Body: imagetest.DebianOSRelease},
		{Name: "etc/os-release", Type: tar.TypeSymlink, Linkname: "../usr/lib/os-release"},
		{Name: "var/lib/dpkg/status", Body: status},
	}
	layers := []v1.Layer{imagetest.Layer(t, base...)}
	if len(extra) > 0 {
		layers = append(layers, imagetest.Layer(t, extra...))
	}
	return imagetest.Image(t, layers...)
}

func push(t *testing.T, ref string, img v1.Image) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// cosignSign signs host/repo@dgst upstream in cosign's format.
func cosignSign(t *testing.T, host, repo, dgst string, key keys.Signer) {
	t.Helper()
	tg, err := sign.Resolve(context.Background(), host+"/"+repo+"@"+dgst, signtest.Anonymous())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sigstore.Sign(context.Background(), tg, key, sigstore.SignOptions{}); err != nil {
		t.Fatal(err)
	}
}

func publicKeyPEM(t *testing.T, k keys.Signer, dir string) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "upstream-cosign.pub")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startPipeline starts cssc serve with the pipeline over an initialised
// data directory (so access rules apply), a real clamd and the test's
// vulnerability data.
func startPipeline(t *testing.T, mutate func(*server.Config)) *Env {
	t.Helper()
	clam := clamdtest.Start(t, clamdtest.Options{})
	ca := signtest.NewCA(t, "cssc enterprise CA", keys.ECDSAP256)
	signer := ca.Issue(t, signtest.LeafOptions{})
	up := servertest.Start(t, servertest.Config(filepath.Join(t.TempDir(), "upstream")))
	dataDir := filepath.Join(t.TempDir(), "data")
	servertest.Init(t, dataDir)
	cfg := servertest.Config(dataDir)
	cfg.Pipeline = server.PipelineConfig{
		Signer: signer, Clamd: clam.Addr, DBDir: importDB(t), Workers: 2,
		MaxAttempts: 3, Backoff: 100 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv := servertest.Start(t, cfg)
	return &Env{Server: srv, Upstream: up, Signer: signer, CA: ca}
}

// api calls the server's REST API as admin.
func (e *Env) api(t *testing.T, method, path string, in, out any) int {
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
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
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

func (e *Env) submit(t *testing.T, src string) string {
	t.Helper()
	var rec acquire.Record
	if code := e.api(t, "POST", "/api/v1/acquisitions", map[string]any{"source": src}, &rec); code != http.StatusAccepted {
		t.Fatalf("submit %s: HTTP %d", src, code)
	}
	return rec.ID
}

func (e *Env) wait(t *testing.T, id string) *acquire.Record {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		var rec acquire.Record
		if code := e.api(t, "GET", "/api/v1/acquisitions/"+id, nil, &rec); code != http.StatusOK {
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

func kinds(rec *acquire.Record, subject string) []string {
	var out []string
	for _, r := range rec.Referrers {
		if r.Subject == subject {
			out = append(out, r.Kind)
		}
	}
	slices.Sort(out)
	return out
}

// webhook collects the notifications it receives.
type webhook struct {
	mu     sync.Mutex
	events []map[string]any
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev map[string]any
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.mu.Unlock()
}

// kinds lists the kind of every notification about source.
func (h *webhook) kinds(source string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, ev := range h.events {
		if ev["source"] == source {
			out = append(out, fmt.Sprint(ev["kind"]))
		}
	}
	return out
}

func TestAcquireEndToEnd(t *testing.T) {
	ctx := context.Background()
	hook := &webhook{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	e := startPipeline(t, func(c *server.Config) { c.Pipeline.NotifyWebhooks = []string{hookSrv.URL} })
	publisher := e.CA.Issue(t, signtest.LeafOptions{})
	impostor := e.CA.Issue(t, signtest.LeafOptions{})
	e.CosignPub = publicKeyPEM(t, publisher, t.TempDir())
	up := e.Upstream.Host

	// The upstream's images.
	images := map[string]string{}
	images["clean"] = push(t, up+"/demo/clean:1.0", debian(t, cleanStatus))
	images["vulnerable"] = push(t, up+"/demo/vulnerable:1.0", debian(t, imagetest.DpkgStatus))
	images["malware"] = push(t, up+"/demo/malware:1.0", debian(t, cleanStatus, imagetest.Entry{Name: "tmp/eicar.com", Body: string(clamdtest.EICAR())}))
	images["signed"] = push(t, up+"/demo/signed:1.0", debian(t, cleanStatus, imagetest.Entry{Name: "etc/motd", Body: "signed\n"}))
	cosignSign(t, up, "demo/signed", images["signed"], publisher)
	images["badsig"] = push(t, up+"/demo/badsig:1.0", debian(t, cleanStatus, imagetest.Entry{Name: "etc/motd", Body: "bad\n"}))
	cosignSign(t, up, "demo/badsig", images["badsig"], impostor)

	// Not allow-listed yet: refused with a clear message.
	var refusal map[string]any
	if code := e.api(t, "POST", "/api/v1/acquisitions", map[string]any{"source": up + "/demo/clean:1.0"}, &refusal); code != http.StatusForbidden {
		t.Fatalf("acquire from an upstream not allow-listed: HTTP %d, want 403", code)
	}
	if msg := fmt.Sprint(refusal["error"]); !strings.Contains(msg, "not from an allow-listed upstream") {
		t.Errorf("refusal says %q", msg)
	}
	if code := e.api(t, "POST", "/api/v1/upstreams", map[string]any{
		"name": "local", "registry": up, "repositories": []string{"demo/*"}, "insecure": true,
		"signaturePolicy": "if-present", "cosignKey": e.CosignPub,
	}, nil); code != http.StatusCreated {
		t.Fatalf("add upstream: HTTP %d", code)
	}
	// A typo-squatted name is refused with the near allow-listed one.
	if code := e.api(t, "POST", "/api/v1/acquisitions", map[string]any{"source": up + "/demo-/clean:1.0"}, &refusal); code != http.StatusForbidden {
		t.Fatalf("typo-squatted name: HTTP %d, want 403", code)
	}

	ids := map[string]string{}
	for _, n := range []string{"clean", "vulnerable", "malware", "signed", "badsig"} {
		ids[n] = e.submit(t, up+"/demo/"+n+":1.0")
	}
	want := map[string]struct {
		state  acquire.State
		reason string
	}{
		"clean":      {acquire.StatePromoted, ""},
		"signed":     {acquire.StatePromoted, ""},
		"vulnerable": {acquire.StateBlocked, "CVE-2024-0727"},
		"malware":    {acquire.StateBlocked, "malware"},
		"badsig":     {acquire.StateBlocked, "upstream signature did not verify"},
	}
	recs := map[string]*acquire.Record{}
	for n, w := range want {
		rec := e.wait(t, ids[n])
		recs[n] = rec
		if rec.State != w.state {
			t.Errorf("%s: state %s, want %s; reasons %q; steps %+v", n, rec.State, w.state, rec.Reasons, rec.Steps)
			continue
		}
		if w.reason != "" && !slices.ContainsFunc(rec.Reasons, func(r string) bool { return strings.Contains(r, w.reason) }) {
			t.Errorf("%s: reasons %q, want one mentioning %q", n, rec.Reasons, w.reason)
		}
		if rec.UpstreamDigest != images[n] || rec.Digest != images[n] {
			t.Errorf("%s: digests %s / %s, want the upstream's %s", n, rec.UpstreamDigest, rec.Digest, images[n])
		}
		if rec.RiskScore == nil {
			t.Errorf("%s: no risk score", n)
		}
		wantQ := e.Server.Host + "/quarantine/demo/" + n + ":1.0"
		if rec.QuarantineRef != wantQ {
			t.Errorf("%s: quarantine_ref %s, want %s", n, rec.QuarantineRef, wantQ)
		}
	}
	if s := recs["signed"].Signatures; s == nil || !s.Verified {
		t.Errorf("signed: upstream signature not verified: %+v", s)
	}
	// Every outcome was notified once.
	for n, w := range want {
		kind := "acquisition." + string(w.state)
		if got := hook.kinds(up + "/demo/" + n + ":1.0"); !slices.Equal(got, []string{kind}) {
			t.Errorf("%s: notifications %v, want [%s]", n, got, kind)
		}
	}

	// golden/ holds exactly the compliant images, each with its referrers,
	// signed with the enterprise key.
	admin := sign.RemoteOptions{Credential: adminCredential, HTTPClient: http.DefaultClient}
	policyPath := trustPolicy(t, e.CA)
	checker, err := notary.NewChecker(policyPath, filepath.Dir(policyPath))
	if err != nil {
		t.Fatal(err)
	}
	for n, rec := range recs {
		golden := e.Server.Host + "/golden/demo/" + n + ":1.0"
		tg, err := sign.Resolve(ctx, golden, admin)
		if rec.State != acquire.StatePromoted {
			if err == nil {
				t.Errorf("%s: blocked, yet %s exists", n, golden)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: promoted, but %s: %v", n, golden, err)
			continue
		}
		if rec.GoldenRef != golden || tg.Desc.Digest.String() != images[n] {
			t.Errorf("%s: golden %s = %s, record says %s", n, golden, tg.Desc.Digest, rec.GoldenRef)
		}
		wantKinds := []string{"lifecycle", "provenance", "sarif", "sbom-cyclonedx", "sbom-spdx", "scan-report", "signature", "vsa"}
		if got := kinds(rec, images[n]); !slices.Equal(got, wantKinds) {
			t.Errorf("%s: attached %v, want %v", n, got, wantKinds)
		}
		// Every attached artifact is in golden and signed there.
		for _, r := range rec.Referrers {
			if r.Kind == acquire.KindSignature {
				continue
			}
			at, err := sign.Resolve(ctx, e.Server.Host+"/golden/demo/"+n+"@"+r.Digest, admin)
			if err != nil {
				t.Errorf("%s: %s %s not in golden: %v", n, r.Kind, r.Digest, err)
				continue
			}
			at.Name = tg.Name
			if _, v, err := checker.Check(ctx, at); err != nil || !v.Passed {
				t.Errorf("%s: %s not verified with the enterprise trust policy: %+v %v", n, r.Kind, v, err)
			}
		}
		_, v, err := checker.Check(ctx, tg)
		if err != nil || !v.Passed {
			t.Errorf("%s: golden image not verified (notation-go): %+v %v", n, v, err)
		}
	}

	// Blocked images stay in quarantine, which ordinary users cannot pull.
	var user map[string]any
	if code := e.api(t, "POST", "/api/v1/users", map[string]any{"name": "dev", "password": "dev-password-12345", "grants": []map[string]string{{"role": "pull", "scope": "**"}}}, &user); code != http.StatusCreated {
		t.Fatalf("create user: HTTP %d %v", code, user)
	}
	dev := sign.RemoteOptions{HTTPClient: http.DefaultClient, Credential: staticCredential("dev", "dev-password-12345")}
	if _, err := sign.Resolve(ctx, e.Server.Host+"/quarantine/demo/vulnerable:1.0", dev); err == nil {
		t.Error("an ordinary user pulled a blocked image from quarantine/")
	}
	if _, err := sign.Resolve(ctx, e.Server.Host+"/golden/demo/clean:1.0", dev); err != nil {
		t.Errorf("an ordinary user cannot pull a golden image: %v", err)
	}

	// Acquiring the same digest again under the same policy and data is a
	// no-op that gives the same answer.
	again := e.wait(t, e.submit(t, up+"/demo/clean:1.0"))
	if again.State != acquire.StatePromoted || again.SameAs != ids["clean"] {
		t.Errorf("re-acquisition: state %s same_as %q, want promoted same as %s", again.State, again.SameAs, ids["clean"])
	}

	// An exception lets the vulnerable image pass when decided again.
	if code := e.api(t, "POST", "/api/v1/exceptions", map[string]any{
		"vulnerability": "CVE-2024-0727", "image": "demo/vulnerable", "reason": "not reachable in our use",
		"approver": "sec@example.com", "expires": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}, nil); code != http.StatusCreated {
		t.Fatalf("add exception: HTTP %d", code)
	}
	if code := e.api(t, "POST", "/api/v1/acquisitions/"+ids["vulnerable"]+"/retry", nil, nil); code != http.StatusAccepted {
		t.Fatalf("retry: HTTP %d", code)
	}
	if rec := e.wait(t, ids["vulnerable"]); rec.State != acquire.StatePromoted {
		t.Errorf("vulnerable with an exception: %s %q", rec.State, rec.Reasons)
	}
}

func staticCredential(user, pass string) auth.CredentialFunc {
	return func(context.Context, string) (auth.Credential, error) {
		return auth.Credential{Username: user, Password: pass}, nil
	}
}

var adminCredential = staticCredential("admin", servertest.AdminPassword)

// trustPolicy writes a Notary Project trust policy trusting ca for every
// repository, with its trust store beside it.
func trustPolicy(t *testing.T, ca *signtest.CA) string {
	t.Helper()
	dir := t.TempDir()
	signtest.WriteTrustStore(t, dir, "ca", "enterprise", ca.Cert)
	return signtest.WritePolicy(t, filepath.Join(dir, "trustpolicy.json"), signtest.PolicyStatement{
		Name: "golden", RegistryScopes: []string{"*"},
		SignatureVerification: signtest.SignatureVerification{Level: "strict"},
		TrustStores:           []string{"ca:enterprise"}, TrustedIdentities: []string{"*"},
	})
}

// fetchConfig reads an image's configuration from the pipeline server as
// admin.
func fetchConfig(t *testing.T, e *Env, ref string) *v1.ConfigFile {
	t.Helper()
	r, err := name.ParseReference(e.Server.Host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithAuth(&authn.Basic{Username: "admin", Password: servertest.AdminPassword}))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

func getJSON(t *testing.T, e *Env, path string, v any) {
	t.Helper()
	if code := e.api(t, "GET", path, nil, v); code != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", path, code)
	}
}

// attachArtifact pushes doc as an OCI 1.1 referrer of host/repo@dgst.
func attachArtifact(t *testing.T, host, repo, dgst, artifactType string, doc []byte) {
	t.Helper()
	tg, err := sign.Resolve(context.Background(), host+"/"+repo+"@"+dgst, signtest.Anonymous())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.AttachArtifact(context.Background(), tg, artifactType, artifactType, doc, nil); err != nil {
		t.Fatal(err)
	}
}
