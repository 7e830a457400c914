package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/server/servertest"
)

// scanRecords are the test's vulnerability data: each record says whether
// the scanned image must match it.
var scanRecords = map[string]string{
	// Matches: openssl (libssl3's source) 3.0.11-1~deb12u2 < 3.0.13-1~deb12u1.
	"DEBIAN-CVE-2024-0727.json": `{"id":"DEBIAN-CVE-2024-0727","modified":"2024-06-01T00:00:00Z","upstream":["CVE-2024-0727"],
	  "summary":"openssl: denial of service via null dereference",
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}]}]}`,
	// No match: the installed 3.0.11-1~deb12u2 is the fixed version's successor.
	"DEBIAN-CVE-2023-5363.json": `{"id":"DEBIAN-CVE-2023-5363","modified":"2024-06-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]}]}`,
	// No match: another Debian release.
	"DEBIAN-CVE-2022-0001.json": `{"id":"DEBIAN-CVE-2022-0001","modified":"2024-06-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`,
	// Matches on the source package's own version (2.38.1-5 < 2.38.1-6),
	// although libuuid1's binary version is 2.38.1-5+b1.
	"DEBIAN-CVE-2024-28085.json": `{"id":"DEBIAN-CVE-2024-28085","modified":"2024-06-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"util-linux"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.38.1-6"}]}]}]}`,
	// No match: withdrawn.
	"DEBIAN-CVE-2024-9999.json": `{"id":"DEBIAN-CVE-2024-9999","modified":"2024-06-01T00:00:00Z","withdrawn":"2024-06-02T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"bash"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`,
	// Two records of one vulnerability (aliases): one finding, high (7.5).
	"GHSA-g4mx-q9vg-27p4.json": `{"id":"GHSA-g4mx-q9vg-27p4","modified":"2024-06-01T00:00:00Z","aliases":["CVE-2023-45803"],
	  "summary":"urllib3's request body not stripped after redirect",
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
	  "affected":[{"package":{"ecosystem":"PyPI","name":"urllib3"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.26.18"}]}]}]}`,
	"PYSEC-2023-212.json": `{"id":"PYSEC-2023-212","modified":"2024-06-01T00:00:00Z","aliases":["CVE-2023-45803","GHSA-g4mx-q9vg-27p4"],
	  "affected":[{"package":{"ecosystem":"PyPI","name":"urllib3"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.26.18"}]}]}]}`,
	// Matches the Go standard library of the binary (whatever Go built it).
	"GO-2099-0001.json": `{"id":"GO-2099-0001","modified":"2024-06-01T00:00:00Z","aliases":["CVE-2099-0001"],
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
	  "affected":[{"package":{"ecosystem":"Go","name":"stdlib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.99.0"}]}]}]}`,
	// No match: uuid 1.6.0 is installed, fixed in 1.5.0.
	"GO-2023-0002.json": `{"id":"GO-2023-0002","modified":"2024-06-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Go","name":"github.com/google/uuid"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.5.0"}]}]}]}`,
}

// wantFindings are the findings the test image must have, exactly:
// "id package installed fixed severity".
var wantFindings = []string{
	"CVE-2023-45803 urllib3 1.26.5 1.26.18 high",
	"CVE-2099-0001 stdlib " + imagetest.GoVersion() + " 1.99.0 critical",
	"DEBIAN-CVE-2024-0727 libssl3 3.0.11-1~deb12u2 3.0.13-1~deb12u1 unknown",
	"DEBIAN-CVE-2024-28085 libuuid1 2.38.1-5 2.38.1-6 unknown",
}

// importRecords writes scanRecords to a directory and imports it into a new
// database directory, with the real cssc db import command.
func importRecords(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	for n, body := range scanRecords {
		if err := os.WriteFile(filepath.Join(src, n), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db := filepath.Join(t.TempDir(), "db")
	if code, _, stderr := run(t, "db", "import", "--db-dir", db, src); code != 0 {
		t.Fatalf("db import: %s", stderr)
	}
	return db
}

func scanImage(t *testing.T) v1.Image {
	t.Helper()
	return imagetest.Image(t,
		imagetest.Layer(t, imagetest.DebianBase()...),
		imagetest.Layer(t,
			imagetest.Entry{Name: "usr/local/lib/python3.11/site-packages/urllib3-1.26.5.dist-info/METADATA", Body: imagetest.Urllib3Metadata},
			imagetest.Entry{Name: "usr/local/bin/app", Body: imagetest.GoBinary(t, "../.."), Mode: 0o755},
		),
	)
}

type jsonScan struct {
	Complete bool `json:"complete"`
	Subject  struct {
		Digest string `json:"digest"`
	} `json:"subject"`
	OS        struct{ ID, VersionID string } `json:"os"`
	EndOfLife *struct {
		Status string `json:"status"`
	} `json:"end_of_life"`
	Findings []struct {
		ID       string   `json:"id"`
		Aliases  []string `json:"aliases"`
		Package  struct{ Name string }
		Install  string   `json:"installed_version"`
		Fixed    string   `json:"fixed_version"`
		Severity string   `json:"severity"`
		Layer    string   `json:"layer"`
		Location []string `json:"locations"`
	} `json:"findings"`
	Suppressed []struct {
		ID  string `json:"id"`
		VEX struct {
			Status string `json:"status"`
		} `json:"vex"`
	} `json:"suppressed"`
	Unknown []struct {
		Package struct{ Name string }
		Reason  string `json:"reason"`
	} `json:"unknown"`
}

func findingLines(t *testing.T, s jsonScan) []string {
	t.Helper()
	var out []string
	for _, f := range s.Findings {
		out = append(out, strings.Join([]string{f.ID, f.Package.Name, f.Install, f.Fixed, f.Severity}, " "))
	}
	slices.Sort(out)
	return out
}

func TestScanImage(t *testing.T) {
	db := importRecords(t)
	img := scanImage(t)
	ts := servertest.Start(t, servertest.Config(filepath.Join(t.TempDir(), "data")))
	ref := ts.Host + "/team/app:1"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "scan", ref, "--db-dir", db, "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (findings): %s", code, stderr)
	}
	var s jsonScan
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout)
	}
	if got := findingLines(t, s); !slices.Equal(got, wantFindings) {
		t.Errorf("findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(wantFindings, "\n  "))
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	top, _ := layers[1].Digest()
	for _, f := range s.Findings {
		switch f.Package.Name {
		case "urllib3":
			if !slices.Contains(f.Aliases, "GHSA-g4mx-q9vg-27p4") || !slices.Contains(f.Aliases, "PYSEC-2023-212") {
				t.Errorf("urllib3 finding aliases %v: the two records are one vulnerability", f.Aliases)
			}
			if f.Layer != top.String() {
				t.Errorf("urllib3 layer %s, want %s", f.Layer, top)
			}
		case "stdlib":
			if len(f.Location) != 1 || f.Location[0] != "/usr/local/bin/app" {
				t.Errorf("stdlib locations %v", f.Location)
			}
		}
	}
	if !s.Complete || s.OS.ID != "debian" || s.EndOfLife == nil || s.EndOfLife.Status == "" {
		t.Errorf("complete=%v os=%+v eol=%+v", s.Complete, s.OS, s.EndOfLife)
	}

	// --fail-on critical: the stdlib finding is critical → still 1;
	// a VEX statement for it, and nothing critical remains → 0.
	if code, _, _ := run(t, "scan", ref, "--db-dir", db, "--fail-on", "critical"); code != 1 {
		t.Errorf("--fail-on critical: exit %d, want 1", code)
	}
	vexFile := filepath.Join(t.TempDir(), "vex.json")
	vexDoc := `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/1","author":"security@example.com",
	  "timestamp":"2024-06-01T00:00:00Z","version":1,
	  "statements":[{"vulnerability":{"name":"CVE-2099-0001"},"products":[{"@id":"` + s.Subject.Digest + `"}],
	    "status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}`
	if err := os.WriteFile(vexFile, []byte(vexDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run(t, "scan", ref, "--db-dir", db, "--fail-on", "critical", "--vex", vexFile, "--format", "json")
	if code != 0 {
		t.Fatalf("with VEX, --fail-on critical: exit %d, want 0: %s", code, stderr)
	}
	var v jsonScan
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Suppressed) != 1 || v.Suppressed[0].ID != "CVE-2099-0001" || v.Suppressed[0].VEX.Status != "not_affected" {
		t.Errorf("suppressed %+v", v.Suppressed)
	}
	if len(v.Findings) != len(wantFindings)-1 {
		t.Errorf("%d findings left, want %d", len(v.Findings), len(wantFindings)-1)
	}
}

// A rescan from the image's SBOM finds the same vulnerabilities.
func TestScanFromSBOM(t *testing.T) {
	db := importRecords(t)
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(scanImage(t)); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"spdx-json", "cyclonedx-json"} {
		sb := filepath.Join(t.TempDir(), "sbom.json")
		if code, _, stderr := run(t, "sbom", "oci:"+dir, "--format", format, "-o", sb); code != 0 {
			t.Fatalf("sbom: %s", stderr)
		}
		code, stdout, stderr := run(t, "scan", "--sbom", sb, "--db-dir", db, "--format", "json")
		if code != 1 {
			t.Fatalf("%s: exit %d: %s", format, code, stderr)
		}
		var s jsonScan
		if err := json.Unmarshal([]byte(stdout), &s); err != nil {
			t.Fatal(err)
		}
		if got := findingLines(t, s); !slices.Equal(got, wantFindings) {
			t.Errorf("%s: findings:\n  %s\nwant:\n  %s", format, strings.Join(got, "\n  "), strings.Join(wantFindings, "\n  "))
		}
	}
}

// No data is not clean: an Alpine image scanned with a database that has
// no Alpine records exits 2 and says which packages are unknown.
func TestScanMissingDataIsAnError(t *testing.T) {
	db := importRecords(t)
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	alpine := imagetest.Image(t, imagetest.Layer(t,
		imagetest.Entry{Name: "etc/os-release", Body: "ID=alpine\nVERSION_ID=3.20.3\n"},
		imagetest.Entry{Name: "lib/apk/db/installed", Body: "P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n\n"},
	))
	if err := lp.AppendImage(alpine); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "scan", "oci:"+dir, "--db-dir", db, "--format", "json")
	if code != 2 || !strings.Contains(stderr, "could not be judged") {
		t.Fatalf("exit %d, stderr %q; want 2 and why", code, stderr)
	}
	var s jsonScan
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("the report is still written: %v", err)
	}
	if s.Complete || len(s.Unknown) != 1 || s.Unknown[0].Package.Name != "musl" || !strings.Contains(s.Unknown[0].Reason, "Alpine") {
		t.Errorf("complete=%v unknown=%+v", s.Complete, s.Unknown)
	}
	if code, _, stderr := run(t, "scan", "oci:"+dir, "--db-dir", db, "--allow-missing-data"); code != 0 {
		t.Errorf("--allow-missing-data: exit %d (%s), want 0", code, stderr)
	}
	// No database at all is an error too, never a clean scan.
	if code, _, stderr := run(t, "scan", "oci:"+dir, "--db-dir", filepath.Join(t.TempDir(), "none")); code != 2 || !strings.Contains(stderr, "cssc db") {
		t.Errorf("no database: exit %d, %q", code, stderr)
	}
}

// attach pushes doc as an artifact of type mediaType referring to the
// manifest ref (repository:tag) names.
func attach(t *testing.T, host, repoName, tag, mediaType string, doc []byte) {
	t.Helper()
	ctx := context.Background()
	repo, err := orasremote.NewRepository(host + "/" + repoName)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	subject, err := repo.Resolve(ctx, tag)
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

// A scan can start from the SBOM attached to an image (a referrer), with
// the same result as reading the layers; an image without one is an error.
func TestScanAttachedSBOM(t *testing.T) {
	db := importRecords(t)
	ts := servertest.Start(t, servertest.Config(filepath.Join(t.TempDir(), "data")))
	ref := ts.Host + "/team/app:1"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, scanImage(t)); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, "scan", ref, "--db-dir", db, "--attached-sbom"); code != 2 || !strings.Contains(stderr, "no SBOM is attached") {
		t.Fatalf("no SBOM attached: exit %d, %q", code, stderr)
	}
	code, doc, stderr := run(t, "sbom", ref, "--format", "cyclonedx-json")
	if code != 0 {
		t.Fatal(stderr)
	}
	attach(t, ts.Host, "team/app", "1", "application/vnd.cyclonedx+json", []byte(doc))
	code, stdout, stderr := run(t, "scan", ref, "--db-dir", db, "--attached-sbom", "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s jsonScan
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	if got := findingLines(t, s); !slices.Equal(got, wantFindings) {
		t.Errorf("findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(wantFindings, "\n  "))
	}
}

// A multi-platform index is scanned platform by platform (or the one
// --platform names); sbom takes this machine's platform.
func TestScanIndex(t *testing.T) {
	db := importRecords(t)
	ts := servertest.Start(t, servertest.Config(filepath.Join(t.TempDir(), "data")))
	amd := scanImage(t)
	arm := imagetest.Image(t, imagetest.Layer(t, imagetest.DebianBase()...))
	cf, err := arm.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = "arm64"
	if arm, err = mutate.ConfigFile(arm, cf); err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	ref := ts.Host + "/team/multi:1"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "scan", ref, "--db-dir", db, "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var all struct {
		Index     string     `json:"index"`
		Platforms []jsonScan `json:"platforms"`
	}
	if err := json.Unmarshal([]byte(stdout), &all); err != nil {
		t.Fatal(err)
	}
	if len(all.Platforms) != 2 || !strings.HasPrefix(all.Index, "sha256:") {
		t.Fatalf("index report: index %q, %d platforms", all.Index, len(all.Platforms))
	}
	if got := findingLines(t, all.Platforms[0]); !slices.Equal(got, wantFindings) {
		t.Errorf("amd64 findings %v", got)
	}
	wantArm := []string{wantFindings[2], wantFindings[3]} // the Debian base alone
	if got := findingLines(t, all.Platforms[1]); !slices.Equal(got, wantArm) {
		t.Errorf("arm64 findings %v, want %v", got, wantArm)
	}
	code, stdout, stderr = run(t, "scan", ref, "--db-dir", db, "--format", "json", "--platform", "linux/arm64")
	var one jsonScan
	if code != 1 || json.Unmarshal([]byte(stdout), &one) != nil || !slices.Equal(findingLines(t, one), wantArm) {
		t.Errorf("--platform linux/arm64: exit %d %s %v", code, stderr, findingLines(t, one))
	}
	if code, _, stderr := run(t, "scan", ref, "--db-dir", db, "--platform", "linux/s390x"); code != 2 || !strings.Contains(stderr, "linux/amd64, linux/arm64") {
		t.Errorf("absent platform: exit %d, %q", code, stderr)
	}
	// Only the amd64 image has urllib3.
	if code, stdout, stderr := run(t, "sbom", ref, "--format", "table"); code != 0 || strings.Contains(stdout, "urllib3") != (runtime.GOARCH == "amd64") {
		t.Errorf("sbom of an index (this machine's platform, linux/%s): exit %d %s\n%s", runtime.GOARCH, code, stderr, stdout)
	}
}

// A file that could not be read for packages is shown in the report, so a
// clean-looking result says what it could not see.
func TestScanReportsUnreadableFiles(t *testing.T) {
	db := importRecords(t)
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	img := imagetest.Image(t, imagetest.Layer(t, append(imagetest.DebianBase(),
		imagetest.Entry{Name: "app/node_modules/broken/package.json", Body: "{not json"})...))
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "scan", "oci:"+dir, "--db-dir", db, "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "/app/node_modules/broken/package.json") {
		t.Errorf("warnings %q, want the broken package.json", s.Warnings)
	}
}
