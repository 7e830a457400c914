package analysis_test

import (
	"bytes"
	"context"
	"encoding/json"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/cssc-project/cssc/internal/analysis"
	"github.com/cssc-project/cssc/internal/report"
	"github.com/cssc-project/cssc/internal/sbom"
	"github.com/cssc-project/cssc/internal/server/servertest"
	"github.com/cssc-project/cssc/internal/vulndb"
)

// analysedAt is the test clock: Debian 12 is supported then.
var analysedAt = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

func clock() time.Time { return analysedAt.Add(123 * time.Millisecond) } // truncated to the second

var tool = report.Tool{Name: "cssc", Version: "test", InformationURI: "https://github.com/cssc-project/cssc"}

// debianRecords match imagetest.DebianBase: openssl (libssl3's source)
// 3.0.11-1~deb12u2 is affected by a critical vulnerability with a fix, and
// bash by one without a fix and without a severity.
var debianRecords = map[string]string{
	"DEBIAN-CVE-2024-0727.json": `{"id":"DEBIAN-CVE-2024-0727","modified":"2024-06-01T00:00:00Z","upstream":["CVE-2024-0727"],
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}]}]}`,
	"DEBIAN-CVE-2024-1111.json": `{"id":"DEBIAN-CVE-2024-1111","modified":"2024-06-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"bash"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`,
	// No match: fixed before the installed version.
	"DEBIAN-CVE-2023-5363.json": `{"id":"DEBIAN-CVE-2023-5363","modified":"2024-06-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]}]}`,
}

// goRecords hold no Debian data at all.
var goRecords = map[string]string{
	"GO-2023-0002.json": `{"id":"GO-2023-0002","modified":"2024-06-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Go","name":"github.com/google/uuid"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.5.0"}]}]}]}`,
}

// openDB imports records into a new database and opens it.
func openDB(t *testing.T, records map[string]string) analysis.VulnSource {
	t.Helper()
	src := t.TempDir()
	for n, body := range records {
		if err := os.WriteFile(filepath.Join(src, n), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	if _, err := vulndb.Import(ctx, dir, vulndb.ImportOptions{}, src); err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return analysis.DBSource(db)
}

// registry starts cssc's own registry.
func registry(t *testing.T) string {
	t.Helper()
	return servertest.Start(t, servertest.Config(filepath.Join(t.TempDir(), "data"))).Host
}

// push writes img to ref and returns its digest reference.
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
	return r.Context().Digest(d.String()).String()
}

// withConfig sets configuration facts.
func withConfig(t *testing.T, img v1.Image, fn func(*v1.ConfigFile)) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	fn(cf)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// attach pushes doc as an artifact of type mediaType referring to the
// manifest digest in repo.
func attach(t *testing.T, host, repoName, digest, mediaType string, doc []byte) {
	t.Helper()
	ctx := context.Background()
	repo, err := orasremote.NewRepository(host + "/" + repoName)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	subject, err := repo.Resolve(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	desc := content.NewDescriptorFromBytes(mediaType, doc)
	if err := repo.Push(ctx, desc, bytes.NewReader(doc)); err != nil {
		t.Fatal(err)
	}
	if _, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, mediaType, oras.PackManifestOptions{
		Subject: &subject, Layers: []ocispec.Descriptor{desc},
	}); err != nil {
		t.Fatal(err)
	}
}

// token returns n characters of alphabet from a fixed seed, so that the
// repository holds no live-looking secret.
func token(seed uint64, alphabet string, n int) string {
	r := mrand.New(mrand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// artifacts are everything derived from a Platform as bytes.
func artifacts(t *testing.T, p analysis.Platform) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var err error
	for _, f := range []sbom.Format{sbom.FormatSPDXJSON, sbom.FormatCycloneDXJSON} {
		if out[string(f)], err = p.SBOM(f); err != nil {
			t.Fatal(err)
		}
	}
	if p.Vulns != nil || p.Malware != nil || p.Secrets != nil { // else there is no report
		if out["sarif"], err = p.SARIF(tool); err != nil {
			t.Fatal(err)
		}
		if out["json"], err = p.ReportJSON(tool); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []any{p.PolicyFindings(), p.PolicyBaseOS(), p.PolicyImage("r", "q/r"), p.RiskInput("verified", true)} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[reflect.TypeOf(v).String()] = b
	}
	return out
}

// checkRoundTrip persists p as JSON, reloads it and checks that the
// reloaded value is equal and derives the same bytes.
func checkRoundTrip(t *testing.T, p analysis.Platform) {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back analysis.Platform
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Errorf("the platform does not round-trip through JSON:\n before %+v\n after  %+v", p, back)
	}
	b2, err := json.Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Errorf("re-encoding the reloaded platform gives other JSON")
	}
	want, got := artifacts(t, p), artifacts(t, back)
	for k, w := range want {
		if !bytes.Equal(w, got[k]) {
			t.Errorf("%s derived after reloading differs", k)
		}
	}
}
