// Package acquire_test runs the acquire pipeline end to end: a local
// "upstream" registry filled with generated images, a real clamd with a
// signature database the test writes, a vulnerability database imported
// from OSV records the test writes, and cssc serve running the pipeline.
package acquire_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	"github.com/cssc-project/cssc/internal/acquire/acquiretest"
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
)

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
	e := acquiretest.Start(t, func(c *server.Config) { c.Pipeline.NotifyWebhooks = []string{hookSrv.URL} })
	publisher := e.CA.Issue(t, signtest.LeafOptions{})
	impostor := e.CA.Issue(t, signtest.LeafOptions{})
	cosignPub := acquiretest.PublicKeyFile(t, publisher.Public())
	up := e.Upstream.Host

	// The upstream's images.
	images := map[string]string{}
	images["clean"] = acquiretest.Push(t, up+"/demo/clean:1.0", acquiretest.DebianImage(t, acquiretest.CleanStatus))
	images["vulnerable"] = acquiretest.Push(t, up+"/demo/vulnerable:1.0", acquiretest.DebianImage(t, imagetest.DpkgStatus))
	images["malware"] = acquiretest.Push(t, up+"/demo/malware:1.0", acquiretest.DebianImage(t, acquiretest.CleanStatus, imagetest.Entry{Name: "tmp/eicar.com", Body: string(clamdtest.EICAR())}))
	images["signed"] = acquiretest.Push(t, up+"/demo/signed:1.0", acquiretest.DebianImage(t, acquiretest.CleanStatus, imagetest.Entry{Name: "etc/motd", Body: "signed\n"}))
	cosignSign(t, up, "demo/signed", images["signed"], publisher)
	images["badsig"] = acquiretest.Push(t, up+"/demo/badsig:1.0", acquiretest.DebianImage(t, acquiretest.CleanStatus, imagetest.Entry{Name: "etc/motd", Body: "bad\n"}))
	cosignSign(t, up, "demo/badsig", images["badsig"], impostor)

	// Not allow-listed yet: refused with a clear message.
	var refusal map[string]any
	if code := e.API(t, "POST", "/api/v1/acquisitions", map[string]any{"source": up + "/demo/clean:1.0"}, &refusal); code != http.StatusForbidden {
		t.Fatalf("acquire from an upstream not allow-listed: HTTP %d, want 403", code)
	}
	if msg := fmt.Sprint(refusal["error"]); !strings.Contains(msg, "not from an allow-listed upstream") {
		t.Errorf("refusal says %q", msg)
	}
	if code := e.API(t, "POST", "/api/v1/upstreams", map[string]any{
		"name": "local", "registry": up, "repositories": []string{"demo/*"}, "insecure": true,
		"signaturePolicy": "if-present", "cosignKey": cosignPub,
	}, nil); code != http.StatusCreated {
		t.Fatalf("add upstream: HTTP %d", code)
	}
	// A typo-squatted name is refused with the near allow-listed one.
	if code := e.API(t, "POST", "/api/v1/acquisitions", map[string]any{"source": up + "/demo-/clean:1.0"}, &refusal); code != http.StatusForbidden {
		t.Fatalf("typo-squatted name: HTTP %d, want 403", code)
	}

	ids := map[string]string{}
	for _, n := range []string{"clean", "vulnerable", "malware", "signed", "badsig"} {
		ids[n] = e.Submit(t, up+"/demo/"+n+":1.0")
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
		rec := e.Wait(t, ids[n])
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
	admin := sign.RemoteOptions{Credential: acquiretest.AdminCredential, HTTPClient: http.DefaultClient}
	policyPath := acquiretest.TrustPolicy(t, e.CA)
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
	if code := e.API(t, "POST", "/api/v1/users", map[string]any{"name": "dev", "password": "dev-password-12345", "grants": []map[string]string{{"role": "pull", "scope": "**"}}}, &user); code != http.StatusCreated {
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
	again := e.Wait(t, e.Submit(t, up+"/demo/clean:1.0"))
	if again.State != acquire.StatePromoted || again.SameAs != ids["clean"] {
		t.Errorf("re-acquisition: state %s same_as %q, want promoted same as %s", again.State, again.SameAs, ids["clean"])
	}

	// An exception lets the vulnerable image pass when decided again.
	if code := e.API(t, "POST", "/api/v1/exceptions", map[string]any{
		"vulnerability": "CVE-2024-0727", "image": "demo/vulnerable", "reason": "not reachable in our use",
		"approver": "sec@example.com", "expires": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}, nil); code != http.StatusCreated {
		t.Fatalf("add exception: HTTP %d", code)
	}
	if code := e.API(t, "POST", "/api/v1/acquisitions/"+ids["vulnerable"]+"/retry", nil, nil); code != http.StatusAccepted {
		t.Fatalf("retry: HTTP %d", code)
	}
	if rec := e.Wait(t, ids["vulnerable"]); rec.State != acquire.StatePromoted {
		t.Errorf("vulnerable with an exception: %s %q", rec.State, rec.Reasons)
	}
}

func staticCredential(user, pass string) auth.CredentialFunc {
	return func(context.Context, string) (auth.Credential, error) {
		return auth.Credential{Username: user, Password: pass}, nil
	}
}

// fetchConfig reads an image's configuration from the pipeline server as
// admin.
func fetchConfig(t *testing.T, e *acquiretest.Env, ref string) *v1.ConfigFile {
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

func getJSON(t *testing.T, e *acquiretest.Env, path string, v any) {
	t.Helper()
	if code := e.API(t, "GET", path, nil, v); code != http.StatusOK {
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
