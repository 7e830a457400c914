package report_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/report"
)

const (
	digest   = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	layerOS  = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	layerApp = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

var (
	generated = time.Date(2026, 5, 3, 12, 0, 0, 0, time.UTC)
	imported  = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	newest    = time.Date(2026, 4, 30, 8, 0, 0, 0, time.UTC)
)

var (
	libssl = match.PackageRef{Name: "libssl3", Version: "3.0.11-1~deb12u1", Ecosystem: "Debian:12",
		PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64", SourceName: "openssl"}
	openssl = match.PackageRef{Name: "openssl", Version: "3.0.11-1~deb12u1", Ecosystem: "Debian:12",
		PURL: "pkg:deb/debian/openssl@3.0.11-1~deb12u1?arch=amd64"}
	xnet = match.PackageRef{Name: "golang.org/x/net", Version: "v0.15.0", Ecosystem: "Go", PURL: "pkg:golang/golang.org/x/net@v0.15.0"}
)

// testInput is a scan with a finding of each kind of severity source, one
// vulnerability in two packages, a suppression, an unchecked package and
// one no database could cover.
func testInput() report.Input {
	rep := &match.Report{
		Findings: []match.Finding{
			{ID: "CVE-2023-39325", Aliases: []string{"GHSA-4374-p667-p6c8", "GO-2023-2102"}, Related: []string{"CVE-2023-44487"},
				Summary: "golang.org/x/net/http2 rapid reset", Package: xnet, Installed: "v0.15.0", Fixed: "0.17.0",
				Severity: match.SeverityHigh, Score: 7.5, Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
				Locations: []string{"/usr/local/bin/my app"}, Layer: layerApp},
			{ID: "DSA-5532-1", Upstream: []string{"CVE-2023-5363", "CVE-2023-5678"}, Summary: "openssl - security update",
				Package: libssl, Installed: "3.0.11-1~deb12u1", Fixed: "3.0.11-1~deb12u2", Severity: match.SeverityMedium,
				Locations: []string{"/var/lib/dpkg/status"}, Layer: layerOS},
			{ID: "DSA-5532-1", Upstream: []string{"CVE-2023-5363", "CVE-2023-5678"}, Summary: "openssl - security update",
				Package: openssl, Installed: "3.0.11-1~deb12u1", Fixed: "3.0.11-1~deb12u2", Severity: match.SeverityMedium,
				Locations: []string{"/var/lib/dpkg/status"}, Layer: layerOS},
			{ID: "DEBIAN-CVE-2023-5678", Upstream: []string{"CVE-2023-5678"}, Package: openssl, Installed: "3.0.11-1~deb12u1",
				Severity: match.SeverityUnknown, Locations: []string{"/var/lib/dpkg/status"}, Layer: layerOS},
		},
		Suppressed: []match.Suppressed{{
			Finding: match.Finding{ID: "DEBIAN-CVE-2023-5678", Upstream: []string{"CVE-2023-5678"}, Package: libssl,
				Installed: "3.0.11-1~deb12u1", Severity: match.SeverityUnknown, Locations: []string{"/var/lib/dpkg/status"}, Layer: layerOS},
			Status: "not_affected", Justification: "vulnerable_code_not_in_execute_path", ImpactStatement: "DH is not used",
			Document: "https://vex.example/1",
		}},
		Unknown: []match.Unknown{{
			Package: match.PackageRef{Name: "requests", Version: "2.31.0", Ecosystem: "PyPI", PURL: "pkg:pypi/requests@2.31.0"},
			Reason:  "no PyPI records in the database", Locations: []string{"/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA"},
			Layer: layerApp,
		}},
		NotMatchable: []match.Unknown{{
			Package: match.PackageRef{Name: "blob", Version: "1"}, Reason: "no OSV ecosystem for this kind of package",
			Locations: []string{"/opt/blob.bin"}, Layer: layerApp,
		}},
		Coverage: []match.EcosystemCoverage{
			{Ecosystem: "Debian:12", Coverage: match.Coverage{Covered: true, ImportedAt: imported, Newest: newest}, Packages: 2},
			{Ecosystem: "Go", Coverage: match.Coverage{Covered: true, ImportedAt: imported, Newest: newest}, Packages: 1},
			{Ecosystem: "PyPI", Coverage: match.Coverage{Reason: "no PyPI records in the database"}, Packages: 1},
		},
	}
	return report.Input{
		Report:      rep,
		Subject:     inventory.Subject{Name: "registry.example/team/app:1.0", Digest: digest, Platform: "linux/amd64"},
		OS:          &inventory.OS{ID: "debian", VersionID: "12", Codename: "bookworm", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		EndOfLife:   &report.EndOfLife{Status: report.EOLSupported, Date: time.Date(2028, 6, 30, 0, 0, 0, 0, time.UTC)},
		Tool:        report.Tool{Version: "0.3.0"},
		GeneratedAt: generated,
	}
}

func write(t *testing.T, format string, in report.Input) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, format, in); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTable(t *testing.T) {
	got := string(write(t, "table", testInput()))
	want := `Image:    registry.example/team/app:1.0 (sha256:1111111111111111111111111111111111111111111111111111111111111111) linux/amd64
Base OS:  Debian GNU/Linux 12 (bookworm)
Support:  supported until 2028-06-30

SEVERITY    ID                    PACKAGE            INSTALLED         FIXED             LAYER
HIGH (7.5)  CVE-2023-39325        golang.org/x/net   v0.15.0           0.17.0            sha256:bbbbbbbbbbbb

MEDIUM      DSA-5532-1            libssl3 (openssl)  3.0.11-1~deb12u1  3.0.11-1~deb12u2  sha256:aaaaaaaaaaaa
MEDIUM      DSA-5532-1            openssl            3.0.11-1~deb12u1  3.0.11-1~deb12u2  sha256:aaaaaaaaaaaa

UNKNOWN     DEBIAN-CVE-2023-5678  openssl            3.0.11-1~deb12u1  -                 sha256:aaaaaaaaaaaa

Not checked (1): no verdict is possible for these packages
PACKAGE   VERSION  ECOSYSTEM  VULNERABILITY  REASON
requests  2.31.0   PyPI       -              no PyPI records in the database

Suppressed by VEX (1)
ID                    PACKAGE            SEVERITY  STATUS        REASON                                               DOCUMENT
DEBIAN-CVE-2023-5678  libssl3 (openssl)  UNKNOWN   not_affected  vulnerable_code_not_in_execute_path: DH is not used  https://vex.example/1

No vulnerability data exists for (1)
PACKAGE  VERSION  LOCATION       REASON
blob     1        /opt/blob.bin  no OSV ecosystem for this kind of package

Vulnerability data
ECOSYSTEM  PACKAGES  COVERED                              IMPORTED             NEWEST RECORD
Debian:12  2         yes                                  2026-05-01 (2d old)  2026-04-30 (3d old)
Go         1         yes                                  2026-05-01 (2d old)  2026-04-30 (3d old)
PyPI       1         NO: no PyPI records in the database  -                    -

Total: 4 (critical 0, high 1, medium 2, low 0, unknown severity 1), 1 suppressed
INCOMPLETE: 1 packages or records could not be checked
`
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestTableEndOfLife(t *testing.T) {
	tests := []struct {
		eol  *report.EndOfLife
		os   *inventory.OS
		want string
	}{
		{&report.EndOfLife{Status: report.EOLEnded, Date: time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC)},
			&inventory.OS{ID: "debian", VersionID: "10"},
			"Base OS:  debian 10\nSupport:  END OF LIFE: security support ended 2024-06-30\n"},
		{&report.EndOfLife{Status: report.EOLNear, Date: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC),
			Warning: "regular security support ended 2024-06-10; LTS only"},
			&inventory.OS{ID: "debian", VersionID: "11", PrettyName: "Debian GNU/Linux 11 (bullseye)"},
			"Base OS:  Debian GNU/Linux 11 (bullseye)\nSupport:  near end of life: security support ends 2026-06-30 (warning: regular security support ended 2024-06-10; LTS only)\n"},
		{nil, &inventory.OS{ID: "wolfi"}, "Base OS:  wolfi\nSupport:  end of life unknown\n"},
		{nil, nil, "Base OS:  unknown (no /etc/os-release)\n\n"},
	}
	for _, tt := range tests {
		in := testInput()
		in.OS, in.EndOfLife = tt.os, tt.eol
		got := string(write(t, "table", in))
		if !strings.Contains(got, tt.want) {
			t.Errorf("table lacks %q:\n%s", tt.want, got)
		}
	}
}

func TestJSON(t *testing.T) {
	out := write(t, "json", testInput())
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	field := func(path ...any) any {
		var v any = got
		for _, p := range path {
			switch k := p.(type) {
			case string:
				v = v.(map[string]any)[k]
			case int:
				v = v.([]any)[k]
			}
		}
		return v
	}
	tests := []struct {
		path []any
		want any
	}{
		{[]any{"schema_version"}, "1"},
		{[]any{"generated_at"}, "2026-05-03T12:00:00Z"},
		{[]any{"tool", "name"}, "cssc"},
		{[]any{"tool", "version"}, "0.3.0"},
		{[]any{"subject", "name"}, "registry.example/team/app:1.0"},
		{[]any{"subject", "digest"}, digest},
		{[]any{"subject", "index"}, ""},
		{[]any{"os", "codename"}, "bookworm"},
		{[]any{"end_of_life", "status"}, "supported"},
		{[]any{"end_of_life", "date"}, "2028-06-30"},
		{[]any{"complete"}, false},
		{[]any{"allow_missing_data"}, false},
		{[]any{"summary", "high"}, 1.0},
		{[]any{"summary", "medium"}, 2.0},
		{[]any{"summary", "unknown"}, 1.0},
		{[]any{"summary", "total"}, 4.0},
		{[]any{"summary", "suppressed"}, 1.0},
		{[]any{"summary", "unknown_packages"}, 1.0},
		{[]any{"summary", "not_matchable"}, 1.0},
		{[]any{"coverage", 0, "ecosystem"}, "Debian:12"},
		{[]any{"coverage", 0, "imported_at"}, "2026-05-01T12:00:00Z"},
		{[]any{"coverage", 0, "newest_record"}, "2026-04-30T08:00:00Z"},
		{[]any{"coverage", 2, "covered"}, false},
		{[]any{"coverage", 2, "reason"}, "no PyPI records in the database"},
		{[]any{"coverage", 2, "imported_at"}, nil},
		{[]any{"findings", 0, "id"}, "CVE-2023-39325"},
		{[]any{"findings", 0, "aliases", 1}, "GO-2023-2102"},
		{[]any{"findings", 0, "related", 0}, "CVE-2023-44487"},
		{[]any{"findings", 0, "package", "purl"}, "pkg:golang/golang.org/x/net@v0.15.0"},
		{[]any{"findings", 0, "installed_version"}, "v0.15.0"},
		{[]any{"findings", 0, "fixed_version"}, "0.17.0"},
		{[]any{"findings", 0, "severity"}, "high"},
		{[]any{"findings", 0, "score"}, 7.5},
		{[]any{"findings", 0, "cvss_vector"}, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
		{[]any{"findings", 0, "locations", 0}, "/usr/local/bin/my app"},
		{[]any{"findings", 0, "layer"}, layerApp},
		{[]any{"findings", 1, "package", "source_name"}, "openssl"},
		{[]any{"findings", 1, "upstream", 1}, "CVE-2023-5678"},
		{[]any{"findings", 1, "score"}, nil},
		{[]any{"findings", 3, "fixed_version"}, ""},
		{[]any{"findings", 3, "severity"}, "unknown"},
		{[]any{"suppressed", 0, "id"}, "DEBIAN-CVE-2023-5678"},
		{[]any{"suppressed", 0, "package", "name"}, "libssl3"},
		{[]any{"suppressed", 0, "vex", "status"}, "not_affected"},
		{[]any{"suppressed", 0, "vex", "justification"}, "vulnerable_code_not_in_execute_path"},
		{[]any{"suppressed", 0, "vex", "impact_statement"}, "DH is not used"},
		{[]any{"suppressed", 0, "vex", "document"}, "https://vex.example/1"},
		{[]any{"unknown", 0, "package", "ecosystem"}, "PyPI"},
		{[]any{"unknown", 0, "reason"}, "no PyPI records in the database"},
		{[]any{"unknown", 0, "vulnerability"}, ""},
		{[]any{"not_matchable", 0, "package", "name"}, "blob"},
		{[]any{"not_matchable", 0, "package", "ecosystem"}, ""},
	}
	for _, tt := range tests {
		if v := field(tt.path...); v != tt.want {
			t.Errorf("%v = %#v, want %#v", tt.path, v, tt.want)
		}
	}
	// Lists are [] when empty, never null.
	for _, path := range [][]any{{"findings", 1, "aliases"}, {"findings", 1, "related"}, {"findings", 0, "upstream"}} {
		if l, ok := field(path...).([]any); !ok || len(l) != 0 {
			t.Errorf("%v = %#v, want []", path, field(path...))
		}
	}
}

func TestJSONEmpty(t *testing.T) {
	out := write(t, "json", report.Input{Report: &match.Report{}, GeneratedAt: generated})
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"coverage", "findings", "suppressed", "unknown", "not_matchable"} {
		if l, ok := got[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, got[k])
		}
	}
	for _, k := range []string{"os", "end_of_life"} {
		if v, ok := got[k]; !ok || v != nil {
			t.Errorf("%s = %#v (present %v), want null", k, v, ok)
		}
	}
	if got["complete"] != true {
		t.Errorf("complete = %v, want true", got["complete"])
	}
}

// ratifySeverity reads a result's severity the way Ratify's
// vulnerabilityreport verifier does: the rule with the result's ruleId,
// the first "Severity: <word>" of its help text, lower-cased.
var ratifySeverityRE = regexp.MustCompile(`Severity:\s*(\w+)`)

func ratifySeverity(t *testing.T, run *sarif.Run, res *sarif.Result) string {
	t.Helper()
	if res.RuleID == nil || *res.RuleID == "" {
		t.Fatalf("result without ruleId: %+v", res)
	}
	for _, rule := range run.Tool.Driver.Rules {
		if rule.ID != *res.RuleID {
			continue
		}
		if rule.Help == nil || rule.Help.Text == nil {
			t.Fatalf("rule %s has no help text", rule.ID)
		}
		m := ratifySeverityRE.FindStringSubmatch(*rule.Help.Text)
		if len(m) < 2 {
			t.Fatalf("rule %s: no severity in help text %q", rule.ID, *rule.Help.Text)
		}
		return strings.ToLower(m[1])
	}
	t.Fatalf("no rule %s", *res.RuleID)
	return ""
}

func TestSARIF(t *testing.T) {
	in := testInput()
	in.Tool.Name = "trivy" // what a Ratify policy with disallowedSeverities needs
	out := write(t, "sarif", in)
	rep, err := sarif.FromBytes(out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Version != "2.1.0" || !strings.Contains(rep.Schema, "sarif-schema-2.1.0.json") || len(rep.Runs) != 1 {
		t.Fatalf("version %q, schema %q, %d runs", rep.Version, rep.Schema, len(rep.Runs))
	}
	run := rep.Runs[0]
	if run.Tool.Driver.Name != "trivy" || run.Tool.Driver.Version == nil || *run.Tool.Driver.Version != "0.3.0" {
		t.Errorf("driver %q version %v", run.Tool.Driver.Name, run.Tool.Driver.Version)
	}
	var ruleIDs []string
	for i, rule := range run.Tool.Driver.Rules {
		ruleIDs = append(ruleIDs, rule.ID)
		if rule.ShortDescription == nil || rule.ShortDescription.Text == nil || *rule.ShortDescription.Text == "" {
			t.Errorf("rule %d (%s) has no shortDescription", i, rule.ID)
		}
	}
	sameStrings(t, "rules", ruleIDs, []string{"CVE-2023-39325", "DSA-5532-1", "DEBIAN-CVE-2023-5678", report.NoDataRule})

	// One result per finding, then per unchecked package; the suppressed
	// finding is left out.
	type result struct{ rule, severity, level, uri, message string }
	var got []result
	for _, res := range run.Results {
		uri := ""
		if len(res.Locations) > 0 {
			uri = *res.Locations[0].PhysicalLocation.ArtifactLocation.URI
		}
		if res.RuleIndex == nil || int(*res.RuleIndex) >= len(ruleIDs) || ruleIDs[*res.RuleIndex] != *res.RuleID {
			t.Errorf("result %s: ruleIndex %v does not point to its rule", *res.RuleID, res.RuleIndex)
		}
		got = append(got, result{*res.RuleID, ratifySeverity(t, run, res), *res.Level, uri, *res.Message.Text})
	}
	want := []result{
		{"CVE-2023-39325", "high", "error", "/usr/local/bin/my%20app",
			"Package golang.org/x/net version v0.15.0 is affected by CVE-2023-39325 (high). Fixed in 0.17.0."},
		{"DSA-5532-1", "medium", "warning", "/var/lib/dpkg/status",
			"Package libssl3 version 3.0.11-1~deb12u1 is affected by DSA-5532-1 (medium). Fixed in 3.0.11-1~deb12u2."},
		{"DSA-5532-1", "medium", "warning", "/var/lib/dpkg/status",
			"Package openssl version 3.0.11-1~deb12u1 is affected by DSA-5532-1 (medium). Fixed in 3.0.11-1~deb12u2."},
		{"DEBIAN-CVE-2023-5678", "unknown", "note", "/var/lib/dpkg/status",
			"Package openssl version 3.0.11-1~deb12u1 is affected by DEBIAN-CVE-2023-5678 (unknown). No fixed version is known."},
		{report.NoDataRule, "unknown", "warning", "/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
			"Package requests version 2.31.0 (PyPI) was not checked: no PyPI records in the database"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	rule := run.Tool.Driver.Rules[0]
	if rule.Properties["security-severity"] != "7.5" || rule.DefaultConfiguration.Level != "error" ||
		rule.HelpURI == nil || *rule.HelpURI != "https://osv.dev/vulnerability/CVE-2023-39325" {
		t.Errorf("rule %s: properties %v, level %q, helpUri %v", rule.ID, rule.Properties, rule.DefaultConfiguration.Level, rule.HelpURI)
	}
	if _, ok := run.Tool.Driver.Rules[1].Properties["security-severity"]; ok {
		t.Errorf("rule %s has a security-severity without a CVSS score", run.Tool.Driver.Rules[1].ID)
	}
	props := run.Properties
	if props["imageDigest"] != digest || props["complete"] != false || props["suppressed"] != 1.0 {
		t.Errorf("run properties %v", props)
	}

	// SARIF's schema allows no null values; go-sarif writes some unless
	// fields are set.
	var raw any
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatal(err)
	}
	if p := findNull(raw, "$"); p != "" {
		t.Errorf("null value at %s", p)
	}
}

func TestSARIFDefaultName(t *testing.T) {
	rep, err := sarif.FromBytes(write(t, "sarif", report.Input{Report: &match.Report{}, GeneratedAt: generated}))
	if err != nil {
		t.Fatal(err)
	}
	run := rep.Runs[0]
	if run.Tool.Driver.Name != "cssc" || len(run.Results) != 0 || len(run.Tool.Driver.Rules) != 0 {
		t.Errorf("driver %q, %d results, %d rules", run.Tool.Driver.Name, len(run.Results), len(run.Tool.Driver.Rules))
	}
}

func findNull(v any, path string) string {
	switch x := v.(type) {
	case nil:
		return path
	case map[string]any:
		for k, e := range x {
			if p := findNull(e, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for i, e := range x {
			if p := findNull(e, path+"["+strconv.Itoa(i)+"]"); p != "" {
				return p
			}
		}
	}
	return ""
}

func sameStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestWriteErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := report.Write(&buf, "xml", testInput()); err == nil || err.Error() != `report format "xml": want table, json or sarif` {
		t.Errorf("err = %v", err)
	}
	if err := report.Write(&buf, "json", report.Input{}); err == nil || err.Error() != "write json report: no scan result" {
		t.Errorf("err = %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %q on error", buf.String())
	}
}

// The platforms of a multi-platform image go in one document: a JSON
// object with a report per platform, one SARIF run per platform, tables
// one after the other.
func TestWriteAllPlatforms(t *testing.T) {
	amd, arm := testInput(), testInput()
	amd.Subject.Platform, arm.Subject.Platform = "linux/amd64", "linux/arm64"
	amd.Subject.Index, arm.Subject.Index = "sha256:idx", "sha256:idx"
	ins := []report.Input{amd, arm}

	var buf bytes.Buffer
	if err := report.WriteAll(&buf, report.FormatJSON, ins); err != nil {
		t.Fatal(err)
	}
	var idx struct {
		SchemaVersion string `json:"schema_version"`
		Index         string `json:"index"`
		Platforms     []struct {
			Subject struct{ Platform string } `json:"subject"`
		} `json:"platforms"`
	}
	if err := json.Unmarshal(buf.Bytes(), &idx); err != nil {
		t.Fatal(err)
	}
	if idx.SchemaVersion != report.SchemaVersion || idx.Index != "sha256:idx" || len(idx.Platforms) != 2 ||
		idx.Platforms[0].Subject.Platform != "linux/amd64" || idx.Platforms[1].Subject.Platform != "linux/arm64" {
		t.Errorf("JSON index report: %+v", idx)
	}

	buf.Reset()
	if err := report.WriteAll(&buf, report.FormatSARIF, ins); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []json.RawMessage `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil || len(log.Runs) != 2 {
		t.Errorf("SARIF: %d runs (%v), want 2", len(log.Runs), err)
	}

	buf.Reset()
	if err := report.WriteAll(&buf, report.FormatTable, ins); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "linux/amd64") || !strings.Contains(buf.String(), "linux/arm64") {
		t.Errorf("table lacks a platform:\n%s", buf.String())
	}
	if err := report.WriteAll(&buf, report.FormatJSON, nil); err == nil {
		t.Error("no inputs: no error")
	}
}
