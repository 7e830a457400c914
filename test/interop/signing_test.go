package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	gv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/cssc-project/cssc/internal/cli"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/sign/signtest"
	"github.com/cssc-project/cssc/internal/testtools"
)

// The signing interop tests: signatures made by cssc sign are accepted by
// the real notation and cosign CLIs, and signatures those CLIs make are
// accepted by cssc verify, against a cssc server (and, for the referrers
// tag schema, the CNCF distribution registry, which has no referrers API).

// signEnv is a key store with one generated key, its CA exported into a
// notation configuration (trust store and a trust policy that trusts it
// for every repository), and its public key exported for cosign.
type signEnv struct {
	keyDir     string
	xdg        string // XDG_CONFIG_HOME for notation (and cssc verify's defaults)
	trustStore string
	policy     string // trust policy trusting the key's CA
	publicKey  string // the key's public key, PEM
	env        []string
}

const signKey = "enterprise"

func newSignEnv(t *testing.T) *signEnv {
	t.Helper()
	dir := t.TempDir()
	e := &signEnv{keyDir: filepath.Join(dir, "keys"), xdg: filepath.Join(dir, "xdg")}
	t.Setenv("CSSC_KEY_PASSPHRASE", "interop test passphrase")
	t.Setenv("XDG_CONFIG_HOME", e.xdg)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	e.env = append(os.Environ(), "XDG_CONFIG_HOME="+e.xdg, "HOME="+dir, "DOCKER_CONFIG="+filepath.Join(dir, "docker"))
	csscOK(t, "key", "generate", "--name", signKey, "--type", "ecdsa-p256", "--key-dir", e.keyDir)
	ca := csscOK(t, "key", "export", "--name", signKey, "--cert", "--key-dir", e.keyDir)
	e.publicKey = filepath.Join(dir, "enterprise.pub")
	writeFile(t, e.publicKey, csscOK(t, "key", "export", "--name", signKey, "--public", "--key-dir", e.keyDir))
	e.trustStore = filepath.Join(e.xdg, "notation", "truststore")
	writeFile(t, filepath.Join(e.trustStore, "x509", "ca", "cssc", "ca.pem"), ca)
	// notation v1.3.2 reads trustpolicy.json (later releases prefer
	// trustpolicy.oci.json).
	e.policy = filepath.Join(e.xdg, "notation", "trustpolicy.json")
	writeFile(t, e.policy, trustPolicy("ca:cssc"))
	return e
}

// trustPolicy is a strict Notary Project trust policy for every
// repository, trusting the given trust stores and any identity.
func trustPolicy(stores ...string) string {
	b, _ := json.Marshal(map[string]any{
		"version": "1.0",
		"trustPolicies": []map[string]any{{
			"name":                  "everything",
			"registryScopes":        []string{"*"},
			"signatureVerification": map[string]string{"level": "strict"},
			"trustStores":           stores,
			"trustedIdentities":     []string{"*"},
		}},
	})
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// cssc runs the cssc command line in-process.
func cssc(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Execute(context.Background(), append(args, "--log-level", "warn"), &out, &errb)
	return out.String(), errb.String(), code
}

func csscOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := cssc(t, args...)
	if code != 0 {
		t.Fatalf("cssc %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// runTool runs an external CLI with env and fails the test with its output
// unless it exits 0.
func runTool(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pushRandom pushes a random image to host/repo:tag and returns its digest
// reference.
func pushRandom(t *testing.T, host, repoTag string) string {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().String() + "@" + d.String()
}

// verifyJSON runs cssc verify --output json and decodes the report.
func verifyJSON(t *testing.T, args ...string) (sign.Report, int) {
	t.Helper()
	out, errs, code := cssc(t, append([]string{"verify", "--output", "json", "--no-cache"}, args...)...)
	var r sign.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("cssc verify %s: exit %d, output not a report: %v\n%s%s", strings.Join(args, " "), code, err, out, errs)
	}
	return r, code
}

// verifiedFormats lists "format@location" of the verified signatures.
func verifiedFormats(r sign.Report) []string {
	var out []string
	for _, s := range r.Signatures {
		if s.Verified {
			out = append(out, string(s.Format)+"@"+strings.Fields(s.Location)[0])
		}
	}
	return out
}

func TestCsscSignVerifiedByNotation(t *testing.T) {
	notation := testtools.Path(t, "notation")
	srv := start(t)
	e := newSignEnv(t)
	for _, tc := range []struct {
		format, envelope string
		extra            []string
	}{
		{"notation-jws", sign.MediaTypeJWS, nil},
		{"notation-cose", sign.MediaTypeCOSE, nil},
		{"notation-jws", sign.MediaTypeJWS, []string{"--force-referrers-tag"}},
	} {
		t.Run(tc.format+strings.Join(tc.extra, ""), func(t *testing.T) {
			ref := pushRandom(t, srv.Host, "notary/"+tc.format+":v1")
			csscOK(t, append([]string{"sign", ref, "--key", signKey, "--key-dir", e.keyDir, "--format", tc.format, "--annotation", "team=platform"}, tc.extra...)...)
			out := runTool(t, e.env, notation, "verify", "--insecure-registry", ref)
			if !strings.Contains(out, "Successfully verified signature for "+ref) {
				t.Fatalf("notation verify: %s", out)
			}
			// The user metadata is signed: notation can require it.
			runTool(t, e.env, notation, "verify", "--insecure-registry", "--user-metadata", "team=platform", ref)
			repo := orasRepo(t, srv, strings.TrimPrefix(strings.Split(ref, "@")[0], srv.Host+"/"))
			desc, err := repo.Resolve(context.Background(), strings.Split(ref, "@")[1])
			if err != nil {
				t.Fatal(err)
			}
			sigs := referrers(t, repo, desc, sign.ArtifactTypeNotation)
			if len(sigs) != 1 {
				t.Fatalf("%d notation signatures, want 1", len(sigs))
			}
			var m ocispec.Manifest
			fetchJSON(t, repo, sigs[0], &m)
			if len(m.Layers) != 1 || m.Layers[0].MediaType != tc.envelope {
				t.Fatalf("signature layers %+v, want one %s", m.Layers, tc.envelope)
			}
			if m.Annotations["io.cncf.notary.x509chain.thumbprint#S256"] == "" {
				t.Fatalf("signature manifest has no thumbprint annotation: %v", m.Annotations)
			}
			_, tagErr := repo.Resolve(context.Background(), strings.Replace(desc.Digest.String(), ":", "-", 1))
			if forced := len(tc.extra) > 0; forced != (tagErr == nil) {
				t.Fatalf("referrers tag schema used %v (tag lookup: %v), want %v", tagErr == nil, tagErr, forced)
			}
		})
	}
}

func fetchJSON(t *testing.T, repo *orasremote.Repository, d ocispec.Descriptor, v any) {
	t.Helper()
	b, err := content.FetchAll(context.Background(), repo, d)
	if err != nil {
		t.Fatalf("fetch %s: %v", d.Digest, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", d.Digest, err)
	}
}

func TestCsscSignVerifiedByCosign(t *testing.T) {
	cosign := testtools.Path(t, "cosign")
	srv := start(t)
	e := newSignEnv(t)
	for _, tc := range []struct {
		name      string
		signArgs  []string
		cosignArg []string
	}{
		{"legacy tag", nil, nil},
		{"oci 1.1 referrer", []string{"--referrers"}, []string{"--experimental-oci11"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := pushRandom(t, srv.Host, "cosign/app:"+strings.ReplaceAll(tc.name, " ", "-"))
			csscOK(t, append([]string{"sign", ref, "--key", signKey, "--key-dir", e.keyDir, "--format", "cosign", "--annotation", "team=platform"}, tc.signArgs...)...)
			args := append([]string{"verify", "--key", e.publicKey, "--insecure-ignore-tlog", "--allow-http-registry", "-a", "team=platform"}, tc.cosignArg...)
			runTool(t, e.env, cosign, append(args, ref)...)
		})
	}
}

func TestNotationSignVerifiedByCssc(t *testing.T) {
	notation := testtools.Path(t, "notation")
	srv := start(t)
	e := newSignEnv(t)
	// notation's own test key: a key and self-signed certificate in its
	// configuration, the certificate added to its trust store as ca/wabbit.
	runTool(t, e.env, notation, "cert", "generate-test", "--default", "wabbit")
	writeFile(t, e.policy, trustPolicy("ca:wabbit"))
	for _, forceTag := range []bool{true, false} {
		t.Run(fmt.Sprintf("force-referrers-tag=%v", forceTag), func(t *testing.T) {
			ref := pushRandom(t, srv.Host, fmt.Sprintf("notation/app:tag-%v", forceTag))
			runTool(t, e.env, notation, "sign", "--insecure-registry", fmt.Sprintf("--force-referrers-tag=%v", forceTag), ref)
			r, code := verifyJSON(t, ref, "--policy", e.policy, "--trust-store", e.trustStore)
			if code != 0 || !r.Passed || strings.Join(verifiedFormats(r), ",") != "notation-jws@referrer" {
				t.Fatalf("cssc verify: exit %d, %+v", code, r)
			}
			if id := r.Signatures[0].Identity; !strings.Contains(id, "CN=wabbit") {
				t.Fatalf("identity %q, want notation's test certificate CN=wabbit", id)
			}
			// With no flag, notation's own trust policy and trust store.
			r, code = verifyJSON(t, ref)
			if code != 0 || !r.Passed {
				t.Fatalf("cssc verify with notation's default configuration: exit %d, %+v", code, r)
			}
		})
	}
}

func TestCosignSignVerifiedByCssc(t *testing.T) {
	cosign := testtools.Path(t, "cosign")
	srv := start(t)
	e := newSignEnv(t)
	keyDir := t.TempDir()
	env := append(e.env, "COSIGN_PASSWORD=interop")
	cmd := exec.Command(cosign, "generate-key-pair")
	cmd.Dir, cmd.Env = keyDir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		location string
	}{
		{"legacy tag", nil, nil, "tag"},
		{"oci 1.1 referrer", []string{"COSIGN_EXPERIMENTAL=1"}, []string{"--registry-referrers-mode=oci-1-1"}, "referrer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := pushRandom(t, srv.Host, "cosign-cli/app:"+strings.ReplaceAll(tc.name, " ", "-"))
			args := append([]string{"sign", "--key", filepath.Join(keyDir, "cosign.key"), "--tlog-upload=false", "--allow-http-registry", "-y"}, tc.args...)
			runTool(t, append(env, tc.env...), cosign, append(args, ref)...)
			r, code := verifyJSON(t, ref, "--cosign-key", filepath.Join(keyDir, "cosign.pub"))
			if code != 0 || !r.Passed || strings.Join(verifiedFormats(r), ",") != "cosign@"+tc.location {
				t.Fatalf("cssc verify: exit %d, %+v", code, r)
			}
			// Another key: not verified, and the reason says why.
			r, code = verifyJSON(t, ref, "--cosign-key", e.publicKey)
			if code != 1 || r.Passed || len(r.Signatures) != 1 || r.Signatures[0].Reason != sign.ReasonWrongKey {
				t.Fatalf("cssc verify with another key: exit %d, %+v", code, r)
			}
		})
	}
}

// startDistribution starts the CNCF distribution registry (no referrers
// API) on 127.0.0.1 and returns its host:port.
func startDistribution(t *testing.T) string {
	t.Helper()
	bin := testtools.Path(t, "registry")
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	cfg := filepath.Join(dir, "config.yml")
	writeFile(t, cfg, fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/root\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", dir, addr))
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start distribution registry: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("distribution registry did not listen on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSignWithoutReferrersAPI(t *testing.T) {
	notation := testtools.Path(t, "notation")
	host := startDistribution(t)
	e := newSignEnv(t)
	ref := pushRandom(t, host, "plain/app:v1")
	csscOK(t, "sign", ref, "--key", signKey, "--key-dir", e.keyDir)
	d := strings.Split(ref, "@")[1]
	repo, err := orasremote.NewRepository(strings.Split(ref, "@")[0])
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	if _, err := repo.Resolve(context.Background(), strings.Replace(d, ":", "-", 1)); err != nil {
		t.Fatalf("no referrers tag %s: %v", strings.Replace(d, ":", "-", 1), err)
	}
	runTool(t, e.env, notation, "verify", "--insecure-registry", ref)
	r, code := verifyJSON(t, ref, "--policy", e.policy, "--trust-store", e.trustStore)
	if code != 0 || strings.Join(verifiedFormats(r), ",") != "notation-jws@referrer" {
		t.Fatalf("cssc verify: exit %d, %+v", code, r)
	}
}

func TestVerifyBothFamiliesAndAttached(t *testing.T) {
	srv := start(t)
	e := newSignEnv(t)
	ref := pushRandom(t, srv.Host, "combined/app:v1")
	repo := orasRepo(t, srv, "combined/app")
	desc, err := repo.Resolve(context.Background(), strings.Split(ref, "@")[1])
	if err != nil {
		t.Fatal(err)
	}
	sbom := attach(t, repo, desc, "application/spdx+json", "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`))
	both := []string{"--policy", e.policy, "--trust-store", e.trustStore, "--cosign-key", e.publicKey}

	// Notary only so far: the Sigstore side has nothing and fails.
	csscOK(t, "sign", ref, "--key", signKey, "--key-dir", e.keyDir, "--attached", "application/spdx+json")
	r, code := verifyJSON(t, append([]string{ref}, both...)...)
	if code != 1 || r.Passed || len(r.Verdicts) != 2 || !r.Verdicts[0].Passed || r.Verdicts[1].Passed {
		t.Fatalf("notary-signed image with both checks: exit %d, %+v", code, r)
	}
	// Only --cosign-key: the Notary signature is listed, not checked.
	r, code = verifyJSON(t, ref, "--cosign-key", e.publicKey)
	if code != 1 || len(r.Verdicts) != 1 || len(r.Signatures) != 1 || r.Signatures[0].Reason != sign.ReasonNotChecked {
		t.Fatalf("--cosign-key on a notary-signed image: exit %d, %+v", code, r)
	}

	csscOK(t, "sign", ref, "--key", signKey, "--key-dir", e.keyDir, "--format", "cosign", "--attached", "all")
	r, code = verifyJSON(t, append([]string{ref, "--require-attached", "application/spdx+json"}, both...)...)
	if code != 0 || !r.Passed || strings.Join(verifiedFormats(r), ",") != "notation-jws@referrer,cosign@tag" {
		t.Fatalf("signed twice, both checks: exit %d, %+v", code, r)
	}
	if len(r.Attached) != 1 || r.Attached[0].Digest != sbom.Digest.String() || !r.Attached[0].Passed {
		t.Fatalf("attached SBOM report: %+v", r.Attached)
	}

	// A second SBOM nobody signed: requiring signed SBOMs now fails.
	attach(t, repo, desc, "application/spdx+json", "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3","name":"unsigned"}`))
	r, code = verifyJSON(t, ref, "--policy", e.policy, "--trust-store", e.trustStore, "--require-attached", "application/spdx+json")
	if code != 1 || r.Passed || len(r.Attached) != 2 {
		t.Fatalf("unsigned attached SBOM: exit %d, %+v", code, r)
	}
	// No artifact of a required type at all.
	r, code = verifyJSON(t, ref, "--policy", e.policy, "--trust-store", e.trustStore, "--require-attached", "application/vnd.cyclonedx+json")
	if code != 1 || r.Passed {
		t.Fatalf("missing attached CycloneDX SBOM: exit %d, %+v", code, r)
	}
}

func TestVerifyCache(t *testing.T) {
	srv := start(t)
	e := newSignEnv(t)
	ref := pushRandom(t, srv.Host, "cache/app:v1")
	csscOK(t, "sign", ref, "--key", signKey, "--key-dir", e.keyDir)
	cacheDir := t.TempDir()
	verify := func() sign.Report {
		out, errs, code := cssc(t, "verify", ref, "--policy", e.policy, "--trust-store", e.trustStore, "--cache-dir", cacheDir, "--output", "json")
		var r sign.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 {
			t.Fatalf("cssc verify: exit %d %v\n%s%s", code, err, out, errs)
		}
		return r
	}
	if r := verify(); r.Cached {
		t.Fatal("first verification answered from the cache")
	}
	if r := verify(); !r.Cached || !r.Passed || len(r.Signatures) != 1 {
		t.Fatalf("second verification not cached: %+v", r)
	}
	// Another trust store content is another configuration.
	other := newSignEnv(t)
	ca, err := os.ReadFile(filepath.Join(other.trustStore, "x509", "ca", "cssc", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(e.trustStore, "x509", "ca", "cssc", "ca.pem"), string(ca))
	out, _, code := cssc(t, "verify", ref, "--policy", e.policy, "--trust-store", e.trustStore, "--cache-dir", cacheDir, "--output", "json")
	if code != 1 || strings.Contains(out, `"cached": true`) {
		t.Fatalf("after the trust store changed: exit %d (want 1, not from the cache)\n%s", code, out)
	}
}

func TestSignKeyProtection(t *testing.T) {
	srv := start(t)
	e := newSignEnv(t)
	ref := pushRandom(t, srv.Host, "keys/app:v1")
	t.Setenv("CSSC_KEY_PASSPHRASE", "")
	os.Unsetenv("CSSC_KEY_PASSPHRASE")
	_, errs, code := cssc(t, "sign", ref, "--key", signKey, "--key-dir", e.keyDir)
	if code != 2 || !strings.Contains(errs, "CSSC_KEY_PASSPHRASE") {
		t.Fatalf("sign without a passphrase: exit %d, %s", code, errs)
	}
	t.Setenv("CSSC_KEY_PASSPHRASE", "not the passphrase")
	_, errs, code = cssc(t, "sign", ref, "--key", signKey, "--key-dir", e.keyDir)
	if code != 2 || !strings.Contains(errs, "passphrase") {
		t.Fatalf("sign with a wrong passphrase: exit %d, %s", code, errs)
	}
	t.Setenv("CSSC_KEY_PASSPHRASE", "interop test passphrase")
	keyFile := filepath.Join(e.keyDir, signKey, "1", "key.pem")
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code = cssc(t, "sign", ref, "--key", signKey, "--key-dir", e.keyDir)
	if code != 2 || !strings.Contains(errs, "other users can read it") {
		t.Fatalf("sign with a world-readable key: exit %d, %s", code, errs)
	}
	// Nothing was pushed by the refused attempts.
	repo := orasRepo(t, srv, "keys/app")
	desc, err := repo.Resolve(context.Background(), strings.Split(ref, "@")[1])
	if err != nil {
		t.Fatal(err)
	}
	if sigs := referrers(t, repo, desc, ""); len(sigs) != 0 {
		t.Fatalf("refused signing left %d referrers", len(sigs))
	}
}

func TestTimestampedSignature(t *testing.T) {
	notation := testtools.Path(t, "notation")
	srv := start(t)
	e := newSignEnv(t)
	tsaURL, _, rootPEM := signtest.StartTSA(t)
	rootFile := filepath.Join(t.TempDir(), "tsa-root.pem")
	writeFile(t, rootFile, string(rootPEM))
	writeFile(t, filepath.Join(e.trustStore, "x509", "tsa", "testtsa", "root.pem"), string(rootPEM))
	b, _ := json.Marshal(map[string]any{
		"version": "1.0",
		"trustPolicies": []map[string]any{{
			"name": "timestamped", "registryScopes": []string{"*"},
			"signatureVerification": map[string]string{"level": "strict", "verifyTimestamp": "always"},
			"trustStores":           []string{"ca:cssc", "tsa:testtsa"}, "trustedIdentities": []string{"*"},
		}},
	})
	writeFile(t, e.policy, string(b))
	ref := pushRandom(t, srv.Host, "tsa/app:v1")
	// The timestamp authority's root is needed to check its answer.
	_, errs, code := cssc(t, "sign", ref, "--key", signKey, "--key-dir", e.keyDir, "--timestamp-url", tsaURL)
	if code != 2 || !strings.Contains(errs, "--timestamp-root-cert") {
		t.Fatalf("--timestamp-url alone: exit %d, %s", code, errs)
	}
	csscOK(t, "sign", ref, "--key", signKey, "--key-dir", e.keyDir, "--timestamp-url", tsaURL, "--timestamp-root-cert", rootFile)
	runTool(t, e.env, notation, "verify", "--insecure-registry", ref)
	r, code := verifyJSON(t, ref, "--policy", e.policy, "--trust-store", e.trustStore)
	if code != 0 || len(r.Signatures) != 1 || r.Signatures[0].Timestamp == nil {
		t.Fatalf("cssc verify of a timestamped signature: exit %d, %+v", code, r)
	}
	// An untimestamped signature fails this policy, for that reason.
	ref2 := pushRandom(t, srv.Host, "tsa/app:v2")
	csscOK(t, "sign", ref2, "--key", signKey, "--key-dir", e.keyDir)
	r, code = verifyJSON(t, ref2, "--policy", e.policy, "--trust-store", e.trustStore)
	if code != 1 || len(r.Signatures) != 1 || r.Signatures[0].Reason != sign.ReasonTimestamp {
		t.Fatalf("cssc verify of an untimestamped signature under verifyTimestamp always: exit %d, %+v", code, r)
	}
}

// TestAttachedMustBelong: a referrers listing is only a claim. On a
// registry without the referrers API the listing is a tag anyone with push
// rights can rewrite; and anyone can push a manifest naming an image as
// its subject. Neither may get something signed or counted as signed.
func TestAttachedMustBelong(t *testing.T) {
	host := startDistribution(t)
	e := newSignEnv(t)
	ctx := context.Background()
	repo, err := orasremote.NewRepository(host + "/team/app")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	resolve := func(ref string) ocispec.Descriptor {
		d, err := repo.Resolve(ctx, strings.Split(ref, "@")[1])
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	x := pushRandom(t, host, "team/app:x")
	y := pushRandom(t, host, "team/app:y")
	xd, yd := resolve(x), resolve(y)
	ySBOM := attach(t, repo, yd, "application/spdx+json", "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3","name":"y"}`))
	csscOK(t, "sign", y, "--key", signKey, "--key-dir", e.keyDir, "--attached", "application/spdx+json")

	// Rewrite x's referrers tag so that it lists y's signed SBOM.
	// And an entry whose size does not match what the registry serves.
	wrongSize := ySBOM
	wrongSize.Size += 10
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{ySBOM, wrongSize}}
	b, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oras.TagBytes(ctx, repo, ocispec.MediaTypeImageIndex, b, strings.Replace(xd.Digest.String(), ":", "-", 1)); err != nil {
		t.Fatal(err)
	}
	csscOK(t, "sign", x, "--key", signKey, "--key-dir", e.keyDir)
	r, code := verifyJSON(t, x, "--policy", e.policy, "--trust-store", e.trustStore, "--require-attached", "application/spdx+json")
	if code != 1 || r.Passed || len(r.Attached) != 1 || !strings.Contains(r.Attached[0].Verdicts[0].Reason, "subject is not") ||
		!strings.Contains(r.Attached[0].Verdicts[0].Reason, "does not match the listing") {
		t.Fatalf("x with y's SBOM listed: exit %d, %+v", code, r)
	}

	// An image pushed with x as its subject is not signed by --attached all.
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	withSubject := mutate.Subject(img, gv1.Descriptor{MediaType: types.MediaType(xd.MediaType), Digest: gv1.Hash{Algorithm: "sha256", Hex: xd.Digest.Encoded()}, Size: xd.Size}).(gv1.Image)
	zref, err := name.ParseReference(host+"/team/app:z", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(zref, withSubject); err != nil {
		t.Fatal(err)
	}
	zd, err := withSubject.Digest()
	if err != nil {
		t.Fatal(err)
	}
	_, errs, code := cssc(t, "sign", x, "--key", signKey, "--key-dir", e.keyDir, "--attached", "all")
	if code != 2 || !strings.Contains(errs, "no artifact of that type") {
		t.Fatalf("sign --attached all with only an image attached: exit %d, %s", code, errs)
	}
	z := ocispec.Descriptor{MediaType: string(types.OCIManifestSchema1), Digest: digest.Digest(zd.String())}
	if sigs := referrers(t, repo, z, sign.ArtifactTypeNotation); len(sigs) != 0 {
		t.Fatalf("the runnable image %s was signed", zd)
	}
}

// TestPinnedIdentity: a key generated with a full subject can be pinned in
// a trust policy's trustedIdentities, by notation and by cssc alike.
func TestPinnedIdentity(t *testing.T) {
	notation := testtools.Path(t, "notation")
	srv := start(t)
	e := newSignEnv(t)
	csscOK(t, "key", "generate", "--name", "release", "--key-dir", e.keyDir, "--subject", "C=DE, ST=Bavaria, O=Acme, CN=release")
	ca := csscOK(t, "key", "export", "--name", "release", "--cert", "--key-dir", e.keyDir)
	writeFile(t, filepath.Join(e.trustStore, "x509", "ca", "release", "ca.pem"), ca)
	pinned := func(identity string) string {
		b, _ := json.Marshal(map[string]any{"version": "1.0", "trustPolicies": []map[string]any{{
			"name": "pinned", "registryScopes": []string{"*"},
			"signatureVerification": map[string]string{"level": "strict"},
			"trustStores":           []string{"ca:release"}, "trustedIdentities": []string{identity},
		}}})
		return string(b)
	}
	ref := pushRandom(t, srv.Host, "pinned/app:v1")
	csscOK(t, "sign", ref, "--key", "release", "--key-dir", e.keyDir)

	writeFile(t, e.policy, pinned("x509.subject: C=DE, ST=Bavaria, O=Acme, CN=release"))
	runTool(t, e.env, notation, "verify", "--insecure-registry", ref)
	r, code := verifyJSON(t, ref, "--policy", e.policy, "--trust-store", e.trustStore)
	if code != 0 || !r.Passed || r.Signatures[0].Identity != "CN=release,O=Acme,ST=Bavaria,C=DE" {
		t.Fatalf("pinned identity: exit %d, %+v", code, r)
	}

	writeFile(t, e.policy, pinned("x509.subject: C=DE, ST=Bavaria, O=Acme, CN=someone-else"))
	cmd := exec.Command(notation, "verify", "--insecure-registry", ref)
	cmd.Env = e.env
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("notation verify passed with another identity pinned:\n%s", out)
	}
	r, code = verifyJSON(t, ref, "--policy", e.policy, "--trust-store", e.trustStore)
	if code != 1 || len(r.Signatures) != 1 || r.Signatures[0].Reason != sign.ReasonUntrustedIdentity {
		t.Fatalf("another identity pinned: exit %d, %+v", code, r)
	}
}
