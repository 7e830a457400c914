package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	gv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/cssc-project/cssc/internal/acquire"
	"github.com/cssc-project/cssc/internal/acquire/acquiretest"
	"github.com/cssc-project/cssc/internal/attest"
	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/server"
	"github.com/cssc-project/cssc/internal/server/servertest"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/signtest"
	"github.com/cssc-project/cssc/internal/sign/sigstore"
	"github.com/cssc-project/cssc/internal/testtools"
)

// The acquire interop tests: an image the pipeline promotes to golden/ is
// verified by the real notation and cosign CLIs, as a consumer of golden/
// would verify it, and its verification summary attestation by the
// enterprise public key. The pipeline server requires authentication
// (servertest.Init): the CLIs log in as admin.

// acqEnv is a running pipeline whose enterprise key is issued by CA, and
// the upstream it acquires from.
type acqEnv struct {
	*acquiretest.Env
	// pubKey is the enterprise public key, PEM, in a file.
	pubKey string
}

// startAcquirePipeline starts cssc serve with the pipeline signing in
// signFormat, over an initialised data directory, with a real clamd and
// the test's vulnerability data, and an upstream registry allow-listed.
func startAcquirePipeline(t *testing.T, signFormat string) *acqEnv {
	t.Helper()
	e := &acqEnv{Env: acquiretest.Start(t, func(c *server.Config) {
		c.Pipeline.SignFormat = signFormat
		c.Pipeline.Workers = 1
	})}
	e.pubKey = acquiretest.PublicKeyFile(t, e.Signer.Public())
	e.AllowUpstream(t)
	return e
}

// acquireClean pushes a clean Debian image to the upstream as demo/app:1.0,
// acquires it and returns the record of its promotion to
// golden/demo/app:1.0.
func (e *acqEnv) acquireClean(t *testing.T) *acquire.Record {
	t.Helper()
	ref := e.Upstream.Host + "/demo/app:1.0"
	want := acquiretest.Push(t, ref, acquiretest.DebianImage(t, acquiretest.CleanStatus))
	rec := e.Wait(t, e.Submit(t, ref))
	if rec.State != acquire.StatePromoted {
		t.Fatalf("acquisition of %s: %s, want promoted; reasons %q; error %q; steps %+v", ref, rec.State, rec.Reasons, rec.Error, rec.Steps)
	}
	if golden := e.Server.Host + "/golden/demo/app:1.0"; rec.GoldenRef != golden || rec.Digest != want {
		t.Fatalf("promoted to %s as %s, want %s as %s", rec.GoldenRef, rec.Digest, golden, want)
	}
	return rec
}

// golden is the golden reference of digest d in the image's repository.
func (e *acqEnv) golden(d string) string {
	return e.Server.Host + "/golden/demo/app@" + d
}

// attachedKinds maps the kinds of the record's referrers of the image
// (signatures left out) to their digests.
func attachedKinds(t *testing.T, rec *acquire.Record) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range rec.Referrers {
		if r.Kind == acquire.KindSignature || r.Subject != rec.Digest {
			continue
		}
		out[r.Kind] = r.Digest
	}
	for _, k := range []string{acquire.KindSPDX, acquire.KindCycloneDX, acquire.KindSARIF, acquire.KindScanReport, acquire.KindVSA, acquire.KindProvenance} {
		if out[k] == "" {
			t.Fatalf("no %s attached to the image; referrers %+v", k, rec.Referrers)
		}
	}
	return out
}

// runToolErr runs an external CLI with env and returns its combined output
// and error.
func runToolErr(env []string, bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// notationEnv writes a notation configuration (under a new
// XDG_CONFIG_HOME) whose trust policy trusts ca for every repository, and
// returns the environment to run notation with, logged in as admin.
func notationEnv(t *testing.T, ca *signtest.CA) []string {
	t.Helper()
	dir := t.TempDir()
	xdg := filepath.Join(dir, "xdg")
	writeFile(t, filepath.Join(xdg, "notation", "truststore", "x509", "ca", "enterprise", "ca.pem"), string(ca.PEM()))
	writeFile(t, filepath.Join(xdg, "notation", "trustpolicy.json"), trustPolicy("ca:enterprise"))
	return append(os.Environ(), "XDG_CONFIG_HOME="+xdg, "HOME="+dir, "DOCKER_CONFIG="+filepath.Join(dir, "docker"),
		"NOTATION_USERNAME=admin", "NOTATION_PASSWORD="+servertest.AdminPassword)
}

func TestAcquireGoldenVerifiedByNotation(t *testing.T) {
	notation := testtools.Path(t, "notation")
	e := startAcquirePipeline(t, "") // notation-jws, the default
	rec := e.acquireClean(t)
	attached := attachedKinds(t, rec)
	env := notationEnv(t, e.CA)

	ref := e.golden(rec.Digest)
	out := runTool(t, env, notation, "verify", "--insecure-registry", ref)
	t.Logf("notation verify %s:\n%s", ref, out)
	if !strings.Contains(out, "Successfully verified signature for "+ref) {
		t.Fatalf("notation verify %s: %s", ref, out)
	}
	// Everything attached is signed too.
	for kind, d := range attached {
		ref := e.golden(d)
		out := runTool(t, env, notation, "verify", "--insecure-registry", ref)
		if !strings.Contains(out, "Successfully verified signature for "+ref) {
			t.Errorf("notation verify of the attached %s %s: %s", kind, ref, out)
		}
	}

	// A trust policy trusting another CA does not accept the image.
	other := notationEnv(t, signtest.NewCA(t, "another CA", keys.ECDSAP256))
	out, err := runToolErr(other, notation, "verify", "--insecure-registry", ref)
	if err == nil || strings.Contains(out, "Successfully verified") {
		t.Fatalf("notation verify trusting another CA: %v\n%s", err, out)
	}
	t.Logf("notation verify trusting another CA: %v\n%s", err, out)

	checkVSA(t, e, rec, attached[acquire.KindVSA])
}

func TestAcquireGoldenVerifiedByCosign(t *testing.T) {
	cosign := testtools.Path(t, "cosign")
	e := startAcquirePipeline(t, "cosign")
	rec := e.acquireClean(t)
	ref := e.golden(rec.Digest)

	// The signature is an OCI 1.1 referrer only: no .sig tag in golden/.
	admin := sign.RemoteOptions{HTTPClient: http.DefaultClient, Credential: acquiretest.AdminCredential}
	sigTag := e.Server.Host + "/golden/demo/app:" + sigstore.SignatureTag(digest.Digest(rec.Digest))
	if _, err := sign.Resolve(context.Background(), sigTag, admin); err == nil {
		t.Fatalf("%s exists: the signature is not referrer-only, as this test expects", sigTag)
	}

	dir := t.TempDir()
	dockerConfig := filepath.Join(dir, "docker")
	cred := base64.StdEncoding.EncodeToString([]byte("admin:" + servertest.AdminPassword))
	writeFile(t, filepath.Join(dockerConfig, "config.json"), `{"auths":{"`+e.Server.Host+`":{"auth":"`+cred+`"}}}`)
	env := append(os.Environ(), "HOME="+dir, "DOCKER_CONFIG="+dockerConfig, "XDG_CONFIG_HOME="+filepath.Join(dir, "xdg"))
	// An empty trusted root: a key-signed signature needs none, and with
	// one given cosign does not try to fetch Sigstore's over the internet.
	// --experimental-oci11: the signature is only a referrer.
	root := filepath.Join(dir, "trusted_root.json")
	writeFile(t, root, `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`)
	verify := []string{"verify", "--trusted-root", root, "--insecure-ignore-tlog", "--allow-http-registry", "--experimental-oci11"}
	out := runTool(t, env, cosign, append(verify, "--key", e.pubKey, "--output", "json", ref)...)
	t.Logf("cosign verify %s:\n%s", ref, out)
	checkCosignOutput(t, out, e.Server.Host+"/golden/demo/app", rec.Digest)

	// Another key: cosign refuses.
	otherKey := acquiretest.PublicKeyFile(t, signtest.NewKey(t, keys.ECDSAP256).Public())
	if out, err := runToolErr(env, cosign, append(verify, "--key", otherKey, ref)...); err == nil {
		t.Fatalf("cosign verify with another key passed:\n%s", out)
	}

	// sigstore-go, through cssc's own checker, agrees.
	checker, err := sigstore.New(sigstore.Options{CosignKey: e.pubKey})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := sign.Resolve(context.Background(), ref, admin)
	if err != nil {
		t.Fatal(err)
	}
	sigs, v, err := checker.Check(context.Background(), tg)
	if err != nil || !v.Passed {
		t.Fatalf("cssc sigstore check of %s: %+v %+v %v", ref, v, sigs, err)
	}

	checkVSA(t, e, rec, attachedKinds(t, rec)[acquire.KindVSA])
}

// checkCosignOutput checks cosign verify's JSON output: a list of
// verified simple-signing payloads, about digest.
// checkCosignOutput checks that cosign verified payloads about digest
// that name repo (the golden repository the image is served from: a
// verifier such as containers/image's sigstoreSigned rule compares the
// payload's docker-reference with where it pulls from).
func checkCosignOutput(t *testing.T, out, repo, digest string) {
	t.Helper()
	// cosign prints its notes on stderr, which runTool combines: the JSON
	// list is the last line.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var payloads []struct {
		Critical struct {
			Identity struct {
				Reference string `json:"docker-reference"`
			} `json:"identity"`
			Image struct {
				Digest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &payloads); err != nil {
		t.Fatalf("cosign verify output is not a list of payloads: %v\n%s", err, out)
	}
	if len(payloads) == 0 {
		t.Fatalf("cosign verify listed no verified signature:\n%s", out)
	}
	for _, p := range payloads {
		if p.Critical.Image.Digest != digest || p.Critical.Type != "cosign container image signature" {
			t.Fatalf("cosign verified a payload about %s (%s), want %s:\n%s", p.Critical.Image.Digest, p.Critical.Type, digest, out)
		}
		if p.Critical.Identity.Reference != repo {
			t.Errorf("the signed payload names %s, want the golden repository %s", p.Critical.Identity.Reference, repo)
		}
	}
}

// checkVSA finds the verification summary attached to the golden image
// through the referrers API, checks that it is the record's (vsaDigest),
// verifies its DSSE envelope with the enterprise public key, and checks
// what it says: PASSED, about the golden digest, under the record's
// policy.
func checkVSA(t *testing.T, e *acqEnv, rec *acquire.Record, vsaDigest string) {
	t.Helper()
	ctx := context.Background()
	tg, err := sign.Resolve(ctx, e.golden(rec.Digest), sign.RemoteOptions{HTTPClient: http.DefaultClient, Credential: acquiretest.AdminCredential})
	if err != nil {
		t.Fatal(err)
	}
	atts, err := attest.Attestations(ctx, tg, attest.PredicateVSA)
	if err != nil {
		t.Fatal(err)
	}
	var env []byte
	for _, a := range atts {
		if a.Desc.Digest.String() == vsaDigest {
			env = a.Envelope
		}
	}
	if env == nil {
		t.Fatalf("the record's VSA %s is not among the %d VSAs attached to %s in golden/", vsaDigest, len(atts), tg.DigestRef())
	}
	// Another key does not verify it.
	if _, err := attest.Verify(ctx, env, signtest.NewKey(t, keys.ECDSAP256).Public()); err == nil {
		t.Fatal("the VSA verified with another key")
	}
	st, err := attest.Verify(ctx, env, e.Signer.Public())
	if err != nil {
		t.Fatalf("verify the VSA with the enterprise key: %v", err)
	}
	v, err := attest.ParseVSA(st)
	if err != nil {
		t.Fatal(err)
	}
	if v.GetVerificationResult() != attest.ResultPassed {
		t.Errorf("VSA verificationResult %q, want %q", v.GetVerificationResult(), attest.ResultPassed)
	}
	pd := rec.PolicyDigest
	if !strings.Contains(pd, ":") {
		pd = "sha256:" + pd
	}
	alg, hex, _ := strings.Cut(pd, ":")
	if rec.PolicyDigest == "" || len(v.GetPolicy().GetDigest()) != 1 || v.GetPolicy().GetDigest()[alg] != hex {
		t.Errorf("VSA policy digest %v, want the record's %q", v.GetPolicy().GetDigest(), rec.PolicyDigest)
	}
	want, err := gv1.NewHash(rec.Digest)
	if err != nil {
		t.Fatal(err)
	}
	subjects := st.GetSubject()
	if len(subjects) != 1 || subjects[0].GetDigest()[want.Algorithm] != want.Hex {
		t.Errorf("VSA subjects %v, want the golden image %s", subjects, rec.Digest)
	}
}
