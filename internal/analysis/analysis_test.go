package analysis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/cssc-project/cssc/internal/analysis"
	"github.com/cssc-project/cssc/internal/eol"
	"github.com/cssc-project/cssc/internal/imagefs/imagetest"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/layerscan"
	"github.com/cssc-project/cssc/internal/policy"
	"github.com/cssc-project/cssc/internal/risk"
	"github.com/cssc-project/cssc/internal/sbom"
	"github.com/cssc-project/cssc/internal/secrets"
)

const base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// A Debian image with a leaked AWS key, analysed for vulnerabilities and
// secrets: the findings, the policy's and the risk score's view of them,
// and reports and SBOMs that are the same bytes however often, and from
// whichever copy of the analysis, they are made.
func TestImageVulnerabilitiesAndSecrets(t *testing.T) {
	ctx := context.Background()
	host := registry(t)
	keyID := "AKIA" + token(7, base32, 16)
	created := time.Date(2024, 11, 2, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	img := imagetest.Image(t,
		imagetest.Layer(t, imagetest.DebianBase()...),
		imagetest.Layer(t, imagetest.Entry{Name: "app/config.ini", Body: "[aws]\naccess_key_id = " + keyID + "\n"}),
	)
	img = withConfig(t, img, func(cf *v1.ConfigFile) {
		cf.Created = v1.Time{Time: created}
		cf.Config.User = "app"
		cf.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}, "8443/tcp": {}}
		cf.Config.Labels = map[string]string{"org.opencontainers.image.source": "https://example.com/app"}
	})
	ref := push(t, host+"/quarantine/team/app:1", img)
	det, err := secrets.New(secrets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := analysis.Options{
		Vulns:   openDB(t, debianRecords),
		Layers:  layerscan.Options{Secrets: det},
		Now:     clock,
		TempDir: t.TempDir(),
	}
	ps, err := analysis.Image(ctx, ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("%d platforms, want 1", len(ps))
	}
	p := ps[0]
	digest, _ := img.Digest()
	if p.Digest != digest.String() || p.Platform != "linux/amd64" || p.IndexDigest != "" || p.Name != ref || !p.AnalysedAt.Equal(analysedAt) {
		t.Errorf("identity: %q %q %q %q %v", p.Name, p.Digest, p.Platform, p.IndexDigest, p.AnalysedAt)
	}
	if !p.Created.Equal(created) || p.Created.Location() != time.UTC || p.User != "app" || p.ExposedPorts != 2 ||
		p.Labels["org.opencontainers.image.source"] != "https://example.com/app" {
		t.Errorf("configuration: created %v, user %q, ports %d, labels %v", p.Created, p.User, p.ExposedPorts, p.Labels)
	}
	if p.SBOMSource != analysis.SBOMGenerated || p.AttachedSBOM != nil {
		t.Errorf("SBOM source %q, attached %+v", p.SBOMSource, p.AttachedSBOM)
	}
	var names []string
	for _, pkg := range p.Inventory.Packages {
		names = append(names, pkg.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"bash", "libssl3", "libuuid1"}) {
		t.Errorf("packages %v", names)
	}

	f := p.PolicyFindings()
	wantVulns := []policy.Vulnerability{
		{ID: "DEBIAN-CVE-2024-0727", Upstream: []string{"CVE-2024-0727"}, Package: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", Severity: "critical", Fixed: []string{"3.0.13-1~deb12u1"}, FixAvailable: true},
		{ID: "DEBIAN-CVE-2024-1111", Package: "bash", Version: "5.2.15-2+b2", Ecosystem: "Debian:12", Severity: "unknown"},
	}
	if !reflect.DeepEqual(f.Vulnerabilities, wantVulns) {
		t.Errorf("vulnerabilities:\n %+v\nwant\n %+v", f.Vulnerabilities, wantVulns)
	}
	if !f.VulnerabilityData.Complete || len(f.VulnerabilityData.Uncovered) != 0 {
		t.Errorf("vulnerability data %+v, want complete", f.VulnerabilityData)
	}
	if f.Malware.Status != "" || f.Malware.Findings != nil {
		t.Errorf("malware not scanned: %+v", f.Malware)
	}
	if f.Secrets.Status != "found" || f.Secrets.Count != 1 || !slices.Equal(f.Secrets.Rules, []string{"aws-access-token"}) {
		t.Errorf("secrets %+v", f.Secrets)
	}
	if s := p.Secrets.Findings; len(s) != 1 || s[0].Path != "/app/config.ini" || s[0].Layer != 1 || s[0].Line != 2 {
		t.Errorf("secret findings %+v", s)
	}

	bos := p.PolicyBaseOS()
	if bos.Name != "Debian" || bos.Version != "12" || bos.State != "supported" || bos.EOL.IsZero() {
		t.Errorf("base OS %+v", bos)
	}
	pi := p.PolicyImage(ref, "quarantine/team/app")
	if pi.Reference != ref || pi.Digest != digest.String() || pi.Repository != "quarantine/team/app" || pi.Platform != "linux/amd64" || !pi.Created.Equal(created) || len(pi.Labels) != 1 {
		t.Errorf("policy image %+v", pi)
	}

	in := p.RiskInput(risk.SignatureNone, false)
	wantIn := risk.Input{
		Vulns:     risk.Vulns{Scanned: true, Critical: risk.Count{Total: 1, Fixable: 1}, Unknown: risk.Count{Total: 1}},
		Malware:   risk.Scan{},
		Secrets:   risk.Scan{Done: true, Found: 1},
		Config:    risk.Config{User: "app", ExposedPorts: 2},
		Signature: risk.SignatureNone,
		Created:   p.Created,
		OS:        risk.OSFrom(p.Inventory.OS, eol.Embedded(), analysedAt),
	}
	if !reflect.DeepEqual(in, wantIn) {
		t.Errorf("risk input\n %+v\nwant\n %+v", in, wantIn)
	}
	if in.OS.State != risk.LifecycleSupported || in.OS.Name != "Debian 12" {
		t.Errorf("risk OS %+v", in.OS)
	}

	// The reports: SARIF with the vulnerability and secret rules, the
	// JSON report with both scanners.
	a := artifacts(t, p)
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID string `json:"ruleId"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(a["sarif"], &sarif); err != nil {
		t.Fatalf("SARIF is not JSON: %v", err)
	}
	if sarif.Version != "2.1.0" || len(sarif.Runs) != 1 || sarif.Runs[0].Tool.Driver.Name != "cssc" {
		t.Fatalf("SARIF: version %q, %d runs", sarif.Version, len(sarif.Runs))
	}
	var rules, results []string
	for _, r := range sarif.Runs[0].Tool.Driver.Rules {
		rules = append(rules, r.ID)
	}
	for _, r := range sarif.Runs[0].Results {
		results = append(results, r.RuleID)
	}
	slices.Sort(rules)
	slices.Sort(results)
	wantRules := []string{"DEBIAN-CVE-2024-0727", "DEBIAN-CVE-2024-1111", "secret:aws-access-token"}
	if !slices.Equal(rules, wantRules) || !slices.Equal(results, wantRules) {
		t.Errorf("SARIF rules %v, results %v, want %v", rules, results, wantRules)
	}
	if !bytes.Contains(a["sarif"], []byte(analysedAt.Format(time.RFC3339))) {
		t.Errorf("SARIF does not carry the analysis time")
	}
	if bytes.Contains(a["sarif"], []byte(keyID)) || bytes.Contains(a["json"], []byte(keyID)) {
		t.Errorf("a report holds the secret")
	}
	var rep struct {
		Scanners    []string `json:"scanners"`
		Complete    bool     `json:"complete"`
		GeneratedAt string   `json:"generated_at"`
		EndOfLife   *struct {
			Status string `json:"status"`
		} `json:"end_of_life"`
	}
	if err := json.Unmarshal(a["json"], &rep); err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	if !slices.Equal(rep.Scanners, []string{"vulnerabilities", "secrets"}) || !rep.Complete ||
		rep.GeneratedAt != analysedAt.Format(time.RFC3339) || rep.EndOfLife == nil || rep.EndOfLife.Status != "supported" {
		t.Errorf("JSON report: %+v", rep)
	}

	// The SBOMs: created at the analysis time, listing the packages.
	for _, format := range []sbom.Format{sbom.FormatSPDXJSON, sbom.FormatCycloneDXJSON} {
		doc := a[string(format)]
		if !bytes.Contains(doc, []byte(analysedAt.Format(time.RFC3339))) {
			t.Errorf("%s: no creation time %s", format, analysedAt.Format(time.RFC3339))
		}
		inv, got, err := sbom.Decode(bytes.NewReader(doc))
		if err != nil || got != format || len(inv.Packages) != 3 {
			t.Errorf("%s decodes as %s with %d packages: %v", format, got, len(inv.Packages), err)
		}
	}
	if _, err := p.SBOM(sbom.FormatTable); err == nil {
		t.Error("an SBOM as a table: no error")
	}

	checkRoundTrip(t, p)

	// Analysing again (the pipeline re-running the step) gives the same
	// analysis and the same bytes.
	again, err := analysis.Image(ctx, ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, ps) {
		t.Errorf("a second analysis differs")
	}
	b := artifacts(t, again[0])
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			t.Errorf("%s of a second analysis differs", k)
		}
	}
}

// Vulnerability data that is missing, or matching that did not run, is
// never "no vulnerabilities".
func TestImageMissingVulnerabilityData(t *testing.T) {
	ctx := context.Background()
	host := registry(t)
	ref := push(t, host+"/quarantine/team/base:1", imagetest.Image(t, imagetest.Layer(t, imagetest.DebianBase()...)))
	tests := []struct {
		name      string
		vulns     analysis.VulnSource
		scanned   bool
		uncovered []string
		riskUnc   int
	}{
		{name: "no vulnerability source", vulns: nil},
		{name: "no Debian data", vulns: openDB(t, goRecords), scanned: true, uncovered: []string{"Debian:12"}, riskUnc: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := analysis.Image(ctx, ref, analysis.Options{Vulns: tc.vulns, Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			p := ps[0]
			if (p.Vulns != nil) != tc.scanned {
				t.Fatalf("matched: %v, want %v", p.Vulns != nil, tc.scanned)
			}
			d := p.PolicyFindings().VulnerabilityData
			if d.Complete || !slices.Equal(d.Uncovered, tc.uncovered) {
				t.Errorf("vulnerability data %+v, want incomplete, uncovered %v", d, tc.uncovered)
			}
			v := p.RiskInput(risk.SignatureVerified, true).Vulns
			if v.Scanned != tc.scanned || v.Uncovered != tc.riskUnc {
				t.Errorf("risk vulns %+v", v)
			}
			// Nothing was scanned at all: there is no report to write, but
			// the SBOM is.
			if !tc.scanned {
				if _, err := p.SARIF(tool); err == nil {
					t.Error("SARIF without any scan: no error")
				}
			}
			if _, err := p.SBOM(sbom.FormatSPDXJSON); err != nil {
				t.Error(err)
			}
			checkRoundTrip(t, p)
		})
	}
}

// Every platform of an index is analysed, build attestations are not.
func TestImageIndex(t *testing.T) {
	ctx := context.Background()
	host := registry(t)
	amd := imagetest.Image(t, imagetest.Layer(t, imagetest.DebianBase()...),
		imagetest.Layer(t, imagetest.Entry{Name: "app/amd64", Body: "amd64"}))
	arm := withConfig(t, imagetest.Image(t, imagetest.Layer(t, imagetest.DebianBase()...)), func(cf *v1.ConfigFile) {
		cf.Architecture, cf.Variant = "arm64", "v8"
	})
	att := imagetest.Image(t, imagetest.Layer(t, imagetest.Entry{Name: "provenance.json", Body: "{}"}))
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
		}},
	)
	r, err := name.ParseReference(host + "/quarantine/team/multi:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	ref := r.Context().Digest(idxDigest.String()).String()

	ps, err := analysis.Image(ctx, ref, analysis.Options{Vulns: openDB(t, debianRecords), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	amdDigest, _ := amd.Digest()
	armDigest, _ := arm.Digest()
	type plat struct{ platform, digest, index string }
	var got []plat
	for _, p := range ps {
		got = append(got, plat{p.Platform, p.Digest, p.IndexDigest})
		if p.Inventory.Subject.Platform != p.Platform || p.Inventory.Subject.Index != idxDigest.String() {
			t.Errorf("%s: inventory subject %+v", p.Platform, p.Inventory.Subject)
		}
		if n := len(p.PolicyFindings().Vulnerabilities); n != 2 {
			t.Errorf("%s: %d vulnerabilities, want 2", p.Platform, n)
		}
		checkRoundTrip(t, p)
	}
	want := []plat{
		{"linux/amd64", amdDigest.String(), idxDigest.String()},
		{"linux/arm64/v8", armDigest.String(), idxDigest.String()},
	}
	if !slices.Equal(got, want) {
		t.Errorf("platforms %v, want %v", got, want)
	}
	// The SBOMs of the two platforms name their own image.
	a, err := ps[0].SBOM(sbom.FormatCycloneDXJSON)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ps[1].SBOM(sbom.FormatCycloneDXJSON)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) || !bytes.Contains(a, []byte(strings.TrimPrefix(amdDigest.String(), "sha256:"))) {
		t.Error("the platforms' SBOMs do not name their images")
	}
}

// An attached SBOM is described whether or not it is used, and is the
// inventory when asked for.
func TestImageAttachedSBOM(t *testing.T) {
	ctx := context.Background()
	host := registry(t)
	img := imagetest.Image(t, imagetest.Layer(t, imagetest.DebianBase()...))
	ref := push(t, host+"/quarantine/team/sbom:1", img)
	digest, _ := img.Digest()
	inv := inventory.Inventory{
		Subject: inventory.Subject{Name: ref, Digest: digest.String()},
		OS:      &inventory.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Packages: []inventory.Package{
			{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
				SourceName: "openssl", Licenses: []string{"Apache-2.0"}, Locations: []string{"/var/lib/dpkg/status"}},
			{Name: "bash", Version: "5.2.15-2+b2", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/bash@5.2.15-2+b2?arch=amd64&distro=debian-12",
				Licenses: []string{"GPL-3.0-or-later"}, Locations: []string{"/var/lib/dpkg/status"}},
			{Name: "libuuid1", Version: "2.38.1-5+b1", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/libuuid1@2.38.1-5+b1?arch=amd64&distro=debian-12",
				Licenses: []string{"Apache-2.0", "BSD-3-Clause"}, Locations: []string{"/var/lib/dpkg/status"}},
		},
	}
	var doc bytes.Buffer
	if err := sbom.Encode(&doc, inv, sbom.FormatCycloneDXJSON, sbom.Options{Time: analysedAt}); err != nil {
		t.Fatal(err)
	}
	attach(t, host, "quarantine/team/sbom", digest.String(), sbom.MediaTypeCycloneDX, doc.Bytes())
	db := openDB(t, debianRecords)

	tests := []struct {
		name   string
		use    bool
		source string
	}{
		{"described, not used", false, analysis.SBOMGenerated},
		{"used", true, analysis.SBOMAttached},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := analysis.Image(ctx, ref, analysis.Options{Vulns: db, UseAttachedSBOM: tc.use, Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			p := ps[0]
			if p.SBOMSource != tc.source {
				t.Errorf("source %q, want %q", p.SBOMSource, tc.source)
			}
			a := p.AttachedSBOM
			if a == nil {
				t.Fatal("no attached SBOM described")
			}
			if a.Format != sbom.FormatCycloneDXJSON || a.MediaType != sbom.MediaTypeCycloneDX || a.Packages != 3 || a.Subject != digest.String() ||
				!slices.Equal(a.Licenses, []string{"Apache-2.0", "BSD-3-Clause", "GPL-3.0-or-later"}) || !strings.HasPrefix(a.Digest, "sha256:") {
				t.Errorf("attached SBOM %+v", a)
			}
			// Both inventories find the same vulnerabilities.
			if n := len(p.PolicyFindings().Vulnerabilities); n != 2 {
				t.Errorf("%d vulnerabilities, want 2", n)
			}
			if tc.use && p.Inventory.Subject.Digest != digest.String() {
				t.Errorf("inventory subject %+v", p.Inventory.Subject)
			}
			checkRoundTrip(t, p)
		})
	}
}
