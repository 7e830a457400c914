package match_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/match"
)

const (
	imageDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	layerOS     = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	layerApp    = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	dpkgStatus  = "/var/lib/dpkg/status"
	appBinary   = "/usr/local/bin/app"
)

func deb(name, version, source string) inventory.Package {
	return inventory.Package{
		Name: name, Version: version, Ecosystem: "Debian:12",
		PURL:       "pkg:deb/debian/" + name + "@" + version + "?arch=amd64&distro=debian-12",
		SourceName: source, Locations: []string{dpkgStatus}, Layer: layerOS,
	}
}

func gomod(name, version string) inventory.Package {
	return inventory.Package{
		Name: name, Version: version, Ecosystem: "Go", PURL: "pkg:golang/" + name + "@" + version,
		Locations: []string{appBinary}, Layer: layerApp,
	}
}

func testInventory() inventory.Inventory {
	return inventory.Inventory{
		Subject: inventory.Subject{Name: "registry.example/team/app:1.0", Digest: imageDigest, Platform: "linux/amd64"},
		Packages: []inventory.Package{
			deb("libssl3", "3.0.11-1~deb12u1", "openssl"),
			deb("openssl", "3.0.11-1~deb12u1", ""),
			deb("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
			deb("curl", "7.88.1-10+deb12u4", ""),
			gomod("golang.org/x/net", "v0.15.0"),
			gomod("stdlib", "go1.21.3"),
			gomod("golang.org/x/text", "v0.14.0"),
			{Name: "requests", Version: "2.31.0", Ecosystem: "PyPI", PURL: "pkg:pypi/requests@2.31.0",
				Locations: []string{"/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA"}, Layer: layerApp},
			{Name: "left-pad", Version: "1.3.0", Ecosystem: "npm", PURL: "pkg:npm/left-pad@1.3.0",
				Locations: []string{"/app/node_modules/left-pad/package.json"}, Layer: layerApp},
			{Name: "blob", Version: "1", Locations: []string{"/opt/blob.bin"}, Layer: layerApp},
			{Name: "busybox", Version: "1.36.1-r0", Ecosystem: "Alpine:v3.20", PURL: "pkg:apk/alpine/busybox@1.36.1-r0?arch=x86_64",
				Locations: []string{"/lib/apk/db/installed"}, Layer: layerOS},
			{Name: "openssl", Version: "3.0.9-1.ph5", Ecosystem: "Photon OS:5.0", PURL: "pkg:rpm/photon/openssl@3.0.9-1.ph5",
				Locations: []string{"/var/lib/rpm/rpmdb.sqlite"}, Layer: layerOS},
		},
	}
}

func testRecords() []string {
	return []string{
		osv("DEBIAN-CVE-2023-5678", map[string]any{
			"summary":  "openssl: DH key checks are slow",
			"upstream": []string{"CVE-2023-5678"},
			"affected": []any{
				affected("Debian:11", "openssl", "ECOSYSTEM", "i:0", "f:1.1.1w-0+deb11u1"),
				affected("Debian:12", "openssl", "ECOSYSTEM", "i:0", "f:3.0.11-1~deb12u2"),
			},
		}),
		osv("DSA-5532-1", map[string]any{
			"summary":  "openssl - security update",
			"upstream": []string{"CVE-2023-5363", "CVE-2023-5678"},
			"related":  []string{"CVE-2023-5363", "USN-6450-1"},
			"affected": []any{func() map[string]any {
				a := affected("Debian:12", "openssl", "ECOSYSTEM", "i:0", "f:3.0.11-1~deb12u2")
				a["ecosystem_specific"] = map[string]any{"urgency": "medium"}
				return a
			}()},
		}),
		// The fixed version is installed.
		osv("DEBIAN-CVE-2023-0001", map[string]any{
			"affected": []any{affected("Debian:12", "zlib", "ECOSYSTEM", "i:0", "f:1:1.2.13.dfsg-1")},
		}),
		// Another Debian release only.
		osv("DEBIAN-CVE-2023-38545", map[string]any{
			"affected": []any{affected("Debian:11", "curl", "ECOSYSTEM", "i:0", "f:7.74.0-1.3+deb11u10")},
		}),
		// Withdrawn.
		osv("DEBIAN-CVE-2024-9999", map[string]any{
			"withdrawn": "2026-01-02T00:00:00Z",
			"affected":  []any{affected("Debian:12", "curl", "ECOSYSTEM", "i:0")},
		}),
		// Two records of one vulnerability: grouped under the CVE id.
		osv("GO-2023-2102", map[string]any{
			"summary":  "HTTP/2 rapid reset can cause excessive work in net/http",
			"aliases":  []string{"CVE-2023-39325", "GHSA-4374-p667-p6c8"},
			"affected": []any{affected("Go", "golang.org/x/net", "SEMVER", "i:0", "f:0.17.0")},
		}),
		osv("GHSA-4374-p667-p6c8", map[string]any{
			"summary":           "golang.org/x/net/http2 rapid reset",
			"aliases":           []string{"CVE-2023-39325"},
			"related":           []string{"CVE-2023-44487"},
			"severity":          []any{map[string]string{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}},
			"database_specific": map[string]any{"severity": "HIGH"},
			"affected":          []any{affected("Go", "golang.org/x/net", "SEMVER", "i:0", "f:0.17.0")},
		}),
		osv("GO-2023-2185", map[string]any{
			"summary":  "Insecure parsing of Windows paths with a \\??\\ prefix in path/filepath",
			"aliases":  []string{"CVE-2023-45283"},
			"affected": []any{affected("Go", "stdlib", "SEMVER", "i:0", "f:1.20.11", "i:1.21.0-0", "f:1.21.4")},
		}),
		osv("GO-2022-1059", map[string]any{
			"affected": []any{affected("Go", "golang.org/x/text", "SEMVER", "i:0", "f:0.3.8")},
		}),
		osv("ALPINE-CVE-2022-48174", map[string]any{
			"upstream": []string{"CVE-2022-48174"},
			"severity": []any{map[string]string{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
			"affected": []any{affected("Alpine:v3.20", "busybox", "ECOSYSTEM", "i:0", "f:1.36.1-r1")},
		}),
		osv("PHSA-2023-5.0-0001", map[string]any{
			"affected": []any{affected("Photon OS:5.0", "openssl", "ECOSYSTEM", "i:0", "f:3.0.9-2.ph5")},
		}),
	}
}

func testCoverage() map[string]match.Coverage {
	return map[string]match.Coverage{
		"Debian:12":     covered(),
		"Go":            covered(),
		"Alpine:v3.20":  covered(),
		"Photon OS:5.0": covered(),
		"PyPI":          {Reason: "PyPI data was not imported"},
	}
}

func ref(p inventory.Package) match.PackageRef {
	return match.PackageRef{Name: p.Name, Version: p.Version, Ecosystem: p.Ecosystem, PURL: p.PURL,
		SourceName: p.SourceName, SourceVersion: p.SourceVersion}
}

func TestRun(t *testing.T) {
	inv := testInventory()
	pk := inv.Packages
	src := newMemSource(t, testCoverage(), testRecords()...)
	rep, err := match.Run(context.Background(), src, inv, match.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dsa := func(p inventory.Package) match.Finding {
		return match.Finding{
			ID: "DSA-5532-1", Upstream: []string{"CVE-2023-5363", "CVE-2023-5678"}, Related: []string{"USN-6450-1"},
			Summary: "openssl - security update", Package: ref(p), Installed: "3.0.11-1~deb12u1",
			Fixed: "3.0.11-1~deb12u2", Severity: match.SeverityMedium, Locations: p.Locations, Layer: p.Layer,
		}
	}
	debCVE := func(p inventory.Package) match.Finding {
		return match.Finding{
			ID: "DEBIAN-CVE-2023-5678", Upstream: []string{"CVE-2023-5678"}, Summary: "openssl: DH key checks are slow",
			Package: ref(p), Installed: "3.0.11-1~deb12u1", Fixed: "3.0.11-1~deb12u2", Severity: match.SeverityUnknown,
			Locations: p.Locations, Layer: p.Layer,
		}
	}
	ptr := func(c match.Coverage) match.Coverage { return c }
	want := &match.Report{
		Findings: []match.Finding{
			{ID: "ALPINE-CVE-2022-48174", Upstream: []string{"CVE-2022-48174"}, Package: ref(pk[10]), Installed: "1.36.1-r0",
				Fixed: "1.36.1-r1", Severity: match.SeverityCritical, Score: 9.8,
				Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Locations: pk[10].Locations, Layer: layerOS},
			{ID: "CVE-2023-39325", Aliases: []string{"GHSA-4374-p667-p6c8", "GO-2023-2102"}, Related: []string{"CVE-2023-44487"},
				Summary: "golang.org/x/net/http2 rapid reset", Package: ref(pk[4]), Installed: "v0.15.0", Fixed: "0.17.0",
				Severity: match.SeverityHigh, Score: 7.5, Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
				Locations: []string{appBinary}, Layer: layerApp},
			dsa(pk[0]), dsa(pk[1]),
			{ID: "CVE-2023-45283", Aliases: []string{"GO-2023-2185"},
				Summary: "Insecure parsing of Windows paths with a \\??\\ prefix in path/filepath", Package: ref(pk[5]),
				Installed: "1.21.3", Fixed: "1.21.4", Severity: match.SeverityUnknown, Locations: []string{appBinary}, Layer: layerApp},
			debCVE(pk[0]), debCVE(pk[1]),
		},
		Unknown: []match.Unknown{
			{Package: ref(pk[8]), Reason: "no npm records in the database", Locations: pk[8].Locations, Layer: layerApp},
			{Package: ref(pk[11]), Vulnerability: "PHSA-2023-5.0-0001",
				Reason:    "cannot compare installed version: no version ordering for ecosystem Photon OS",
				Locations: pk[11].Locations, Layer: layerOS},
			{Package: ref(pk[7]), Reason: "PyPI data was not imported", Locations: pk[7].Locations, Layer: layerApp},
		},
		NotMatchable: []match.Unknown{
			{Package: ref(pk[9]), Reason: "no OSV ecosystem for this kind of package", Locations: pk[9].Locations, Layer: layerApp},
		},
		Coverage: []match.EcosystemCoverage{
			{Ecosystem: "Alpine:v3.20", Coverage: covered(), Packages: 1},
			{Ecosystem: "Debian:12", Coverage: covered(), Packages: 4},
			{Ecosystem: "Go", Coverage: covered(), Packages: 3},
			{Ecosystem: "Photon OS:5.0", Coverage: covered(), Packages: 1},
			{Ecosystem: "PyPI", Coverage: ptr(match.Coverage{Reason: "PyPI data was not imported"}), Packages: 1},
			{Ecosystem: "npm", Coverage: match.Coverage{Reason: "no npm records in the database"}, Packages: 1},
		},
	}
	sameJSON(t, rep, want)
	if !rep.Incomplete() {
		t.Error("Incomplete() = false with unknown packages")
	}
	// openssl and libssl3 share their source package: one look-up each
	// for openssl, zlib, curl, x/net, stdlib, x/text, busybox, photon.
	if n := src.lookups.Load(); n != 8 {
		t.Errorf("source looked up %d times, want 8", n)
	}
	wantCounts := map[match.Severity]int{match.SeverityCritical: 1, match.SeverityHigh: 1, match.SeverityMedium: 2, match.SeverityUnknown: 3}
	sameJSON(t, rep.Counts(), wantCounts)
}

func TestRunSourceError(t *testing.T) {
	src := newMemSource(t, testCoverage())
	src.fail = errors.New("database is locked")
	_, err := match.Run(context.Background(), src, testInventory(), match.Options{})
	if err == nil || err.Error() != "look up Debian:12 package openssl: database is locked" {
		t.Fatalf("err = %v", err)
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := match.Run(ctx, newMemSource(t, testCoverage()), testInventory(), match.Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestRunCompleteAndClean(t *testing.T) {
	inv := inventory.Inventory{Packages: []inventory.Package{deb("zlib1g", "1:1.2.13.dfsg-1", "zlib"), deb("curl", "7.88.1-10+deb12u4", "")}}
	rep, err := match.Run(context.Background(), newMemSource(t, testCoverage(), testRecords()...), inv, match.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 || rep.Incomplete() || rep.Exceeds("low") {
		t.Errorf("findings %d, incomplete %v, exceeds low %v; want a clean, complete report", len(rep.Findings), rep.Incomplete(), rep.Exceeds("low"))
	}
}

func TestMatchRules(t *testing.T) {
	goPkg := func(name, version string) inventory.Package { return gomod(name, version) }
	tests := []struct {
		name    string
		pkg     inventory.Package
		records []string
		// want: "ID fixed severity" of each finding; unknown: reasons.
		want    []string
		unknown []string
	}{
		{
			name: "versions list without ranges",
			pkg:  inventory.Package{Name: "Django", Version: "4.2.1", Ecosystem: "PyPI", PURL: "pkg:pypi/django@4.2.1"},
			records: []string{osv("PYSEC-2023-1", map[string]any{"affected": []any{map[string]any{
				"package": map[string]string{"ecosystem": "PyPI", "name": "django"}, "versions": []string{"4.2", "4.2.1"}}}})},
			want: []string{"PYSEC-2023-1  unknown"},
		},
		{
			name: "GIT range ignored, versions list decides",
			pkg:  goPkg("example.com/lib", "v1.2.0"),
			records: []string{osv("GO-2024-0001", map[string]any{"affected": []any{map[string]any{
				"package":  map[string]string{"ecosystem": "Go", "name": "example.com/lib"},
				"ranges":   []any{map[string]any{"type": "GIT", "repo": "https://example.com/lib", "events": []any{map[string]string{"introduced": "0"}}}},
				"versions": []string{"1.1.0"}}}})},
		},
		{
			name: "second affected entry matches, lowest fix across ranges",
			pkg:  goPkg("example.com/lib", "v1.5.0"),
			records: []string{osv("GO-2024-0002", map[string]any{"affected": []any{
				affected("Go", "example.com/other", "SEMVER", "i:0"),
				map[string]any{"package": map[string]string{"ecosystem": "Go", "name": "example.com/lib"},
					"ranges": []any{
						map[string]any{"type": "SEMVER", "events": []any{map[string]string{"introduced": "1.0.0"}, map[string]string{"fixed": "1.7.0"}}},
						map[string]any{"type": "ECOSYSTEM", "events": []any{map[string]string{"introduced": "1.4.0"}, map[string]string{"fixed": "1.6.0"}}},
					}}}})},
			want: []string{"GO-2024-0002 1.6.0 unknown"},
		},
		{
			name: "last_affected gives no fixed version",
			pkg:  goPkg("example.com/lib", "v1.5.0"),
			records: []string{osv("GHSA-aaaa-bbbb-cccc", map[string]any{
				"database_specific": map[string]any{"severity": "MODERATE"},
				"affected":          []any{affected("Go", "example.com/lib", "SEMVER", "i:0", "l:1.5.0")}})},
			want: []string{"GHSA-aaaa-bbbb-cccc  medium"},
		},
		{
			name: "aliases: highest fix and severity of the group",
			pkg:  goPkg("example.com/lib", "v1.0.0"),
			records: []string{
				osv("GO-2024-0003", map[string]any{"aliases": []string{"GHSA-1111-2222-3333"},
					"affected": []any{affected("Go", "example.com/lib", "SEMVER", "i:0", "f:1.1.0")}}),
				osv("GHSA-1111-2222-3333", map[string]any{"aliases": []string{"GO-2024-0003"},
					"severity": []any{map[string]string{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}},
					"affected": []any{affected("Go", "example.com/lib", "SEMVER", "i:0", "f:1.2.0")}}),
			},
			want: []string{"GHSA-1111-2222-3333 1.2.0 critical"},
		},
		{
			name: "aliases joined through a third id",
			pkg:  goPkg("example.com/lib", "v1.0.0"),
			records: []string{
				osv("GO-2024-0004", map[string]any{"aliases": []string{"CVE-2024-4444"},
					"affected": []any{affected("Go", "example.com/lib", "SEMVER", "i:0")}}),
				osv("GHSA-4444-4444-4444", map[string]any{"aliases": []string{"CVE-2024-4444"},
					"affected": []any{affected("Go", "example.com/lib", "SEMVER", "i:0")}}),
				osv("GO-2024-0005", map[string]any{"related": []string{"CVE-2024-4444"},
					"affected": []any{affected("Go", "example.com/lib", "SEMVER", "i:0")}}),
			},
			want: []string{"CVE-2024-4444  unknown", "GO-2024-0005  unknown"},
		},
		{
			name: "pseudo-version before the fix",
			pkg:  goPkg("example.com/lib", "v0.0.0-20230101000000-abcdef123456"),
			records: []string{osv("GO-2024-0006", map[string]any{
				"affected": []any{affected("Go", "example.com/lib", "SEMVER", "i:0", "f:0.0.0-20230601000000-abcdef123456")}})},
			want: []string{"GO-2024-0006 0.0.0-20230601000000-abcdef123456 unknown"},
		},
		{
			name: "unparsable installed version with records is unknown",
			pkg:  goPkg("example.com/lib", "(devel)"),
			records: []string{osv("GO-2024-0007", map[string]any{
				"affected": []any{affected("Go", "example.com/lib", "SEMVER", "i:0", "f:1.0.0")}})},
			unknown: []string{`GO-2024-0007: cannot compare installed version: "(devel)" is not a SemVer version`},
		},
		{
			name: "unparsable installed version without records is clean",
			pkg:  goPkg("example.com/nothing", "(devel)"),
		},
		{
			name: "bad version in a record is unknown",
			pkg:  deb("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
			records: []string{osv("DEBIAN-CVE-2024-0008", map[string]any{
				"affected": []any{affected("Debian:12", "zlib", "ECOSYSTEM", "i:0", "f:x:1.3")}})},
			unknown: []string{`DEBIAN-CVE-2024-0008: range event: "x:1.3" is not a valid Debian version: ` + convertErr("x")},
		},
		{
			name: "PyPI names compared normalised",
			pkg:  inventory.Package{Name: "Zope.Interface", Version: "5.0rc1", Ecosystem: "PyPI"},
			records: []string{osv("PYSEC-2024-9", map[string]any{
				"affected": []any{affected("PyPI", "zope-interface", "ECOSYSTEM", "i:0", "f:5.0")}})},
			want: []string{"PYSEC-2024-9 5.0 unknown"},
		},
		{
			name: "Ubuntu priority",
			pkg: inventory.Package{Name: "openssl", Version: "3.0.2-0ubuntu1.10", Ecosystem: "Ubuntu:22.04:LTS",
				PURL: "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.10"},
			records: []string{osv("UBUNTU-CVE-2023-1", map[string]any{
				"severity": []any{map[string]string{"type": "Ubuntu", "score": "negligible"}},
				"affected": []any{affected("Ubuntu:22.04:LTS", "openssl", "ECOSYSTEM", "i:0", "f:3.0.2-0ubuntu1.12")}})},
			want: []string{"UBUNTU-CVE-2023-1 3.0.2-0ubuntu1.12 low"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cov := map[string]match.Coverage{tt.pkg.Ecosystem: covered()}
			src := newMemSource(t, cov, tt.records...)
			rep, err := match.Run(context.Background(), src, inventory.Inventory{Packages: []inventory.Package{tt.pkg}}, match.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got, unknown []string
			for _, f := range rep.Findings {
				got = append(got, f.ID+" "+f.Fixed+" "+string(f.Severity))
			}
			for _, u := range rep.Unknown {
				unknown = append(unknown, u.Vulnerability+": "+u.Reason)
			}
			sameJSON(t, got, tt.want)
			sameJSON(t, unknown, tt.unknown)
		})
	}
}

// convertErr is the error semantic gives for a non-numeric Debian epoch.
func convertErr(s string) string {
	return "invalid version: failed to convert " + s + " to a number"
}

func TestExceeds(t *testing.T) {
	rep := func(sevs ...match.Severity) *match.Report {
		r := &match.Report{}
		for _, s := range sevs {
			r.Findings = append(r.Findings, match.Finding{ID: "X", Severity: s})
		}
		return r
	}
	tests := []struct {
		name      string
		report    *match.Report
		threshold string
		want      bool
	}{
		{"critical at critical", rep(match.SeverityCritical), "critical", true},
		{"high below critical", rep(match.SeverityHigh, match.SeverityMedium), "critical", false},
		{"high at high", rep(match.SeverityHigh), "HIGH", true},
		{"medium above low", rep(match.SeverityMedium), "low", true},
		{"low at low", rep(match.SeverityLow), "low", true},
		{"unknown below low", rep(match.SeverityUnknown), "low", false},
		{"none below low", rep(match.SeverityNone), "low", false},
		{"no findings", rep(), "low", false},
		{"invalid threshold fails closed", rep(match.SeverityLow), "severe", true},
		{"invalid threshold, no findings", rep(), "severe", false},
	}
	for _, tt := range tests {
		if got := tt.report.Exceeds(tt.threshold); got != tt.want {
			t.Errorf("%s: Exceeds(%q) = %v, want %v", tt.name, tt.threshold, got, tt.want)
		}
	}
}

func TestRunConcurrent(t *testing.T) {
	src := newMemSource(t, testCoverage(), testRecords()...)
	want, err := match.Run(context.Background(), src, testInventory(), match.Options{})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	reports := make(chan *match.Report, 4)
	for range 4 {
		go func() {
			rep, err := match.Run(context.Background(), src, testInventory(), match.Options{})
			errs <- err
			reports <- rep
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		sameJSON(t, <-reports, want)
	}
}
