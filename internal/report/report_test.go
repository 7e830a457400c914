package report_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/owenrumney/go-sarif/v2/sarif"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/malware"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/report"
	"github.com/cssc-project/cssc/internal/secrets"
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
	if err := sarifSchemaCheck(t, out); err != nil {
		t.Errorf("SARIF does not follow the SARIF 2.1.0 schema: %v", err)
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

// Secret values the fixtures' findings stand for. No field of a
// secrets.Finding holds them; the tests check that no rendering shows
// them, nor more of their hashes than the fingerprint.
const (
	awsSecretValue = "AKIAZ7CSSCTESTVALUE1"
	tokenValue     = "ghp_CSSCtestTOKENvalue0123456789abcdefAB"
	pemValue       = "MIIEpAIBAAKCAQEAcssc-test-private-key-body"
)

// fingerprint is a secret's fingerprint as secrets.Finding documents it.
func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])[:16]
}

var dbDate = time.Date(2026, 4, 30, 8, 0, 0, 0, time.UTC)

func clamav() malware.Engine {
	return malware.Engine{Name: "ClamAV", Version: "1.4.6", Address: "unix:///run/clamav/clamd.ctl",
		DatabaseVersion: "27470", DatabaseDate: dbDate}
}

// malwareInfected found EICAR in two layers, one copy inside an archive.
func malwareInfected() *malware.Result {
	return &malware.Result{Status: malware.Infected, Engine: clamav(),
		Findings: []malware.Finding{
			{Layer: 0, LayerDigest: layerOS, Path: "/tmp/eicar.com", Signature: "Win.Test.EICAR_HDB-1"},
			{Layer: 1, LayerDigest: layerApp, Path: "/app/lib/bundle 1.zip", Signature: "Eicar-Signature"},
			{Layer: 1, LayerDigest: layerApp, Path: "/app/eicar.txt", Signature: "Win.Test.EICAR_HDB-1"},
		},
		Layers: 2, Files: 1234, Bytes: 5 << 20}
}

func malwareClean() *malware.Result {
	return &malware.Result{Status: malware.Clean, Engine: clamav(), Layers: 2, Files: 1234, Bytes: 5 << 20}
}

// malwareIncomplete found something but could not scan every file, with
// custom databases only (no database version or date).
func malwareIncomplete() *malware.Result {
	return &malware.Result{Status: malware.Error,
		Engine: malware.Engine{Name: "ClamAV", Version: "1.4.6", Address: "tcp://127.0.0.1:3310"},
		Findings: []malware.Finding{
			{Layer: 1, LayerDigest: layerApp, Path: "/app/eicar.txt", Signature: "Win.Test.EICAR_HDB-1"},
		},
		Problems: []malware.Problem{
			{Layer: 0, LayerDigest: layerOS, Path: "/opt/big.iso", Reason: "not scanned (too large: 130 MiB; clamd's StreamMaxLength is lower)"},
			{Layer: 1, LayerDigest: layerApp, Path: "/app/bomb.zip", Reason: "not fully scanned (Heuristics.Limits.Exceeded.MaxFiles)"},
		},
		MoreProblems: 3,
		Warnings:     []string{"database date unknown"},
		Layers:       2, Files: 20, Bytes: 1536}
}

// malwareDown is a scan that could not reach the engine at all.
func malwareDown() *malware.Result {
	return &malware.Result{Status: malware.Error, Engine: malware.Engine{Address: "unix:///run/clamav/clamd.ctl"},
		Error: "connect to clamd at unix:///run/clamav/clamd.ctl: connection refused"}
}

func gitleaks() secrets.Engine {
	return secrets.Engine{Name: "gitleaks", Version: "v8.30.1", Rules: 222, Allowlist: "/etc/cssc/secrets-allow.toml"}
}

// secretsFound found secrets in two layer files and in the configuration.
func secretsFound() *secrets.Result {
	return &secrets.Result{Status: secrets.Found, Engine: gitleaks(),
		Findings: []secrets.Finding{
			{RuleID: "private-key", Description: "Identified a Private Key, which may compromise cryptographic security and sensitive data encryption.",
				Source: secrets.SourceLayer, Path: "/root/.ssh/id_rsa", Layer: 0, LayerDigest: layerOS, Line: 1, Fingerprint: fingerprint(pemValue)},
			{RuleID: "aws-access-token", Description: "Identified a pattern that may indicate AWS credentials, risking unauthorized cloud resource access and data breaches on AWS platforms.",
				Source: secrets.SourceLayer, Path: "/app/.env", Layer: 1, LayerDigest: layerApp, Line: 3, Fingerprint: fingerprint(awsSecretValue)},
			{RuleID: "github-pat", Description: "Uncovered a GitHub Personal Access Token, potentially leading to unauthorized repository access and sensitive content exposure.",
				Source: secrets.SourceConfig, Path: "Env[GITHUB_TOKEN]", Layer: -1, Line: 1, Fingerprint: fingerprint(tokenValue)},
			{RuleID: "github-pat", Description: "Uncovered a GitHub Personal Access Token, potentially leading to unauthorized repository access and sensitive content exposure.",
				Source: secrets.SourceConfig, Path: "history[3].created_by", Layer: -1, Line: 1, Fingerprint: fingerprint(tokenValue)},
		},
		Allowlisted: 1, Files: 900, Bytes: 3 << 20, SkippedLarge: 2, SkippedBinary: 40}
}

func secretsClean() *secrets.Result {
	return &secrets.Result{Status: secrets.Clean, Engine: gitleaks(), Files: 900, Bytes: 3 << 20}
}

func secretsFailed() *secrets.Result {
	return &secrets.Result{Status: secrets.Error, Engine: gitleaks(),
		Error: "read layer 1 (" + layerApp + "): unexpected EOF", Files: 10, Bytes: 2048}
}

// scanInput is an image scanned by the scanners given (any of them nil).
func scanInput(vulns *match.Report, mal *malware.Result, sec *secrets.Result) report.Input {
	return report.Input{
		Report: vulns, Malware: mal, Secrets: sec,
		Subject:     inventory.Subject{Name: "registry.example/team/app:1.0", Digest: digest, Platform: "linux/amd64"},
		Tool:        report.Tool{Version: "0.3.0"},
		GeneratedAt: generated,
	}
}

// sarifSchemaCheck checks a SARIF log against the SARIF 2.1.0 JSON schema
// (testdata/sarif-schema-2.1.0.json: the OASIS schema, 2.1.0-rtm.5, as
// the npm package @microsoft/jest-sarif ships it).
func sarifSchemaCheck(t *testing.T, data []byte) error {
	t.Helper()
	const id = "https://json.schemastore.org/sarif-2.1.0-rtm.5.json"
	f, err := os.Open(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(f)
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(id)
	if err != nil {
		t.Fatalf("compile SARIF schema: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

// jsonEqual compares two JSON texts, key order included, ignoring
// whitespace.
func jsonEqual(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w bytes.Buffer
	if err := json.Compact(&g, got); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Compact(&w, []byte(want)); err != nil {
		t.Fatalf("%s: want: %v", what, err)
	}
	if g.String() != w.String() {
		t.Errorf("%s:\n got %s\nwant %s", what, g.String(), w.String())
	}
}

// The "malware" and "secrets" objects of the JSON report for the
// fixtures, key by key.
var (
	malwareInfectedJSON = `{"status": "infected", "error": "", "warnings": [],
		"engine": {"name": "ClamAV", "version": "1.4.6", "address": "unix:///run/clamav/clamd.ctl",
			"database_version": "27470", "database_date": "2026-04-30T08:00:00Z"},
		"findings": [
			{"layer": 0, "layer_digest": "` + layerOS + `", "path": "/tmp/eicar.com", "signature": "Win.Test.EICAR_HDB-1"},
			{"layer": 1, "layer_digest": "` + layerApp + `", "path": "/app/lib/bundle 1.zip", "signature": "Eicar-Signature"},
			{"layer": 1, "layer_digest": "` + layerApp + `", "path": "/app/eicar.txt", "signature": "Win.Test.EICAR_HDB-1"}],
		"problems": [], "more_problems": 0, "more_findings": 0, "layers": 2, "files": 1234, "bytes": 5242880}`
	malwareCleanJSON = `{"status": "clean", "error": "", "warnings": [],
		"engine": {"name": "ClamAV", "version": "1.4.6", "address": "unix:///run/clamav/clamd.ctl",
			"database_version": "27470", "database_date": "2026-04-30T08:00:00Z"},
		"findings": [], "problems": [], "more_problems": 0, "more_findings": 0, "layers": 2, "files": 1234, "bytes": 5242880}`
	malwareIncompleteJSON = `{"status": "error", "error": "", "warnings": ["database date unknown"],
		"engine": {"name": "ClamAV", "version": "1.4.6", "address": "tcp://127.0.0.1:3310",
			"database_version": "", "database_date": null},
		"findings": [{"layer": 1, "layer_digest": "` + layerApp + `", "path": "/app/eicar.txt", "signature": "Win.Test.EICAR_HDB-1"}],
		"problems": [
			{"layer": 0, "layer_digest": "` + layerOS + `", "path": "/opt/big.iso", "reason": "not scanned (too large: 130 MiB; clamd's StreamMaxLength is lower)"},
			{"layer": 1, "layer_digest": "` + layerApp + `", "path": "/app/bomb.zip", "reason": "not fully scanned (Heuristics.Limits.Exceeded.MaxFiles)"}],
		"more_problems": 3, "more_findings": 0, "layers": 2, "files": 20, "bytes": 1536}`
	malwareDownJSON = `{"status": "error", "error": "connect to clamd at unix:///run/clamav/clamd.ctl: connection refused", "warnings": [],
		"engine": {"name": "", "version": "", "address": "unix:///run/clamav/clamd.ctl", "database_version": "", "database_date": null},
		"findings": [], "problems": [], "more_problems": 0, "more_findings": 0, "layers": 0, "files": 0, "bytes": 0}`
	secretsFoundJSON = `{"status": "found", "error": "",
		"engine": {"name": "gitleaks", "version": "v8.30.1", "rules": 222, "config": "", "allowlist": "/etc/cssc/secrets-allow.toml"},
		"findings": [
			{"rule_id": "private-key", "description": "Identified a Private Key, which may compromise cryptographic security and sensitive data encryption.",
				"source": "layer", "path": "/root/.ssh/id_rsa", "layer": 0, "layer_digest": "` + layerOS + `", "line": 1, "fingerprint": "sha256:763f4785cf983a62"},
			{"rule_id": "aws-access-token", "description": "Identified a pattern that may indicate AWS credentials, risking unauthorized cloud resource access and data breaches on AWS platforms.",
				"source": "layer", "path": "/app/.env", "layer": 1, "layer_digest": "` + layerApp + `", "line": 3, "fingerprint": "sha256:09fa2aa06f910a0f"},
			{"rule_id": "github-pat", "description": "Uncovered a GitHub Personal Access Token, potentially leading to unauthorized repository access and sensitive content exposure.",
				"source": "config", "path": "Env[GITHUB_TOKEN]", "layer": null, "layer_digest": "", "line": 1, "fingerprint": "sha256:e3d5a9bc106cfd98"},
			{"rule_id": "github-pat", "description": "Uncovered a GitHub Personal Access Token, potentially leading to unauthorized repository access and sensitive content exposure.",
				"source": "config", "path": "history[3].created_by", "layer": null, "layer_digest": "", "line": 1, "fingerprint": "sha256:e3d5a9bc106cfd98"}],
		"allowlisted": 1, "more_findings": 0, "files": 900, "bytes": 3145728, "skipped_large": 2, "skipped_binary": 40}`
	secretsCleanJSON = `{"status": "clean", "error": "",
		"engine": {"name": "gitleaks", "version": "v8.30.1", "rules": 222, "config": "", "allowlist": "/etc/cssc/secrets-allow.toml"},
		"findings": [], "allowlisted": 0, "more_findings": 0, "files": 900, "bytes": 3145728, "skipped_large": 0, "skipped_binary": 0}`
	secretsFailedJSON = `{"status": "error", "error": "read layer 1 (` + layerApp + `): unexpected EOF",
		"engine": {"name": "gitleaks", "version": "v8.30.1", "rules": 222, "config": "", "allowlist": "/etc/cssc/secrets-allow.toml"},
		"findings": [], "allowlisted": 0, "more_findings": 0, "files": 10, "bytes": 2048, "skipped_large": 0, "skipped_binary": 0}`
)

// The fixtures' fingerprints are those of their secret values (the
// goldens above spell them out).
func TestFixtureFingerprints(t *testing.T) {
	for secret, want := range map[string]string{
		pemValue: "sha256:763f4785cf983a62", awsSecretValue: "sha256:09fa2aa06f910a0f", tokenValue: "sha256:e3d5a9bc106cfd98",
	} {
		if got := fingerprint(secret); got != want {
			t.Errorf("fingerprint = %s, want %s", got, want)
		}
	}
}

func TestJSONScans(t *testing.T) {
	tests := []struct {
		name     string
		in       report.Input
		scanners string
		complete bool
		malware  string
		secrets  string
	}{
		{"malware only", scanInput(nil, malwareInfected(), nil), `["malware"]`, true, malwareInfectedJSON, "null"},
		{"secrets only", scanInput(nil, nil, secretsFound()), `["secrets"]`, true, "null", secretsFoundJSON},
		{"all three", scanInput(testInput().Report, malwareInfected(), secretsFound()),
			`["vulnerabilities", "malware", "secrets"]`, false, malwareInfectedJSON, secretsFoundJSON},
		{"all three, vulnerabilities complete", scanInput(&match.Report{}, malwareInfected(), secretsFound()),
			`["vulnerabilities", "malware", "secrets"]`, true, malwareInfectedJSON, secretsFoundJSON},
		{"clean", scanInput(nil, malwareClean(), secretsClean()), `["malware", "secrets"]`, true, malwareCleanJSON, secretsCleanJSON},
		{"malware not fully scanned", scanInput(nil, malwareIncomplete(), secretsClean()), `["malware", "secrets"]`, false,
			malwareIncompleteJSON, secretsCleanJSON},
		{"malware engine down", scanInput(&match.Report{}, malwareDown(), nil), `["vulnerabilities", "malware"]`, false,
			malwareDownJSON, "null"},
		{"secret scan failed", scanInput(nil, malwareClean(), secretsFailed()), `["malware", "secrets"]`, false,
			malwareCleanJSON, secretsFailedJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]json.RawMessage
			if err := json.Unmarshal(write(t, "json", tt.in), &got); err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, "scanners", got["scanners"], tt.scanners)
			jsonEqual(t, "complete", got["complete"], strconv.FormatBool(tt.complete))
			jsonEqual(t, "malware", got["malware"], tt.malware)
			jsonEqual(t, "secrets", got["secrets"], tt.secrets)
			if tt.in.Report != nil {
				return
			}
			// Vulnerabilities not scanned: their keys are there, empty.
			for k, want := range map[string]string{
				"os": "null", "end_of_life": "null", "allow_missing_data": "false",
				"summary": `{"critical": 0, "high": 0, "medium": 0, "low": 0, "none": 0, "unknown": 0, "total": 0,
					"suppressed": 0, "unknown_packages": 0, "not_matchable": 0}`,
				"coverage": "[]", "findings": "[]", "suppressed": "[]", "unknown": "[]", "not_matchable": "[]", "warnings": "[]",
			} {
				jsonEqual(t, k, got[k], want)
			}
		})
	}
}

// A vulnerability scan alone is written as before the malware and secret
// scanners existed, with three keys added: "scanners", "malware" and
// "secrets".
func TestJSONVulnerabilitiesOnly(t *testing.T) {
	got := string(write(t, "json", report.Input{Report: &match.Report{}, GeneratedAt: generated}))
	want := `{
  "schema_version": "1",
  "generated_at": "2026-05-03T12:00:00Z",
  "tool": {
    "name": "cssc",
    "version": ""
  },
  "subject": {
    "name": "",
    "digest": "",
    "index": "",
    "platform": ""
  },
  "os": null,
  "end_of_life": null,
  "scanners": [
    "vulnerabilities"
  ],
  "complete": true,
  "allow_missing_data": false,
  "summary": {
    "critical": 0,
    "high": 0,
    "medium": 0,
    "low": 0,
    "none": 0,
    "unknown": 0,
    "total": 0,
    "suppressed": 0,
    "unknown_packages": 0,
    "not_matchable": 0
  },
  "coverage": [],
  "findings": [],
  "suppressed": [],
  "unknown": [],
  "not_matchable": [],
  "warnings": [],
  "malware": null,
  "secrets": null
}
`
	if got != want {
		t.Errorf("JSON:\n%s\nwant:\n%s", got, want)
	}
}

// A result whose status is missing, unknown or better than its contents
// is never reported better than it is.
func TestScanStatusFailsClosed(t *testing.T) {
	tests := []struct {
		name     string
		in       report.Input
		key      string
		status   string
		header   string
		complete bool
	}{
		{"malware status unset, nothing found", scanInput(nil, &malware.Result{Engine: clamav()}, nil),
			"malware", "error", "Malware: error — ClamAV 1.4.6, database 27470 (2026-04-30)", false},
		{"malware status unset, something found", scanInput(nil, &malware.Result{Engine: clamav(), Findings: malwareInfected().Findings}, nil),
			"malware", "error", "Malware: error — ClamAV 1.4.6, database 27470 (2026-04-30)", false},
		{"malware clean with a finding", scanInput(nil, &malware.Result{Status: malware.Clean, Engine: clamav(), Findings: malwareInfected().Findings}, nil),
			"malware", "infected", "Malware: infected — ClamAV 1.4.6, database 27470 (2026-04-30)", true},
		{"malware clean with a problem", scanInput(nil, &malware.Result{Status: malware.Clean, Engine: clamav(), Problems: malwareIncomplete().Problems}, nil),
			"malware", "error", "Malware: error — ClamAV 1.4.6, database 27470 (2026-04-30)", false},
		{"malware clean with more problems only", scanInput(nil, &malware.Result{Status: malware.Clean, Engine: clamav(), MoreProblems: 1}, nil),
			"malware", "error", "Malware: error — ClamAV 1.4.6, database 27470 (2026-04-30)", false},
		{"malware infected with an error", scanInput(nil, &malware.Result{Status: malware.Infected, Engine: clamav(), Findings: malwareInfected().Findings, Error: "timeout"}, nil),
			"malware", "error", "Malware: error — ClamAV 1.4.6, database 27470 (2026-04-30)", false},
		{"malware status unknown", scanInput(nil, &malware.Result{Status: "ok", Engine: clamav()}, nil),
			"malware", "error", "Malware: error — ClamAV 1.4.6, database 27470 (2026-04-30)", false},
		{"secrets status unset", scanInput(nil, nil, &secrets.Result{Engine: gitleaks()}),
			"secrets", "error", "Secrets: error — gitleaks v8.30.1, 222 rules, allowlist /etc/cssc/secrets-allow.toml", false},
		{"secrets clean with a finding", scanInput(nil, nil, &secrets.Result{Status: secrets.Clean, Engine: gitleaks(), Findings: secretsFound().Findings[:1]}),
			"secrets", "found", "Secrets: found — gitleaks v8.30.1, 222 rules, allowlist /etc/cssc/secrets-allow.toml", true},
		{"secrets found with an error", scanInput(nil, nil, &secrets.Result{Status: secrets.Found, Engine: gitleaks(), Findings: secretsFound().Findings[:1], Error: "x"}),
			"secrets", "error", "Secrets: error — gitleaks v8.30.1, 222 rules, allowlist /etc/cssc/secrets-allow.toml", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]json.RawMessage
			if err := json.Unmarshal(write(t, "json", tt.in), &got); err != nil {
				t.Fatal(err)
			}
			var scan struct{ Status string }
			if err := json.Unmarshal(got[tt.key], &scan); err != nil {
				t.Fatal(err)
			}
			if scan.Status != tt.status {
				t.Errorf("JSON %s status = %q, want %q", tt.key, scan.Status, tt.status)
			}
			jsonEqual(t, "complete", got["complete"], strconv.FormatBool(tt.complete))
			if table := string(write(t, "table", tt.in)); !strings.Contains(table, "\n"+tt.header+"\n") {
				t.Errorf("table lacks %q:\n%s", tt.header, table)
			}
			rep, err := sarif.FromBytes(write(t, "sarif", tt.in))
			if err != nil {
				t.Fatal(err)
			}
			props := rep.Runs[0].Properties
			if s := props[tt.key].(map[string]any)["status"]; s != tt.status || props["complete"] != tt.complete {
				t.Errorf("SARIF run properties: %s status %v, complete %v", tt.key, s, props["complete"])
			}
			inv := rep.Runs[0].Invocations
			if len(inv) != 1 || inv[0].ExecutionSuccessful == nil || *inv[0].ExecutionSuccessful != tt.complete {
				t.Errorf("SARIF invocations %+v, want executionSuccessful %v", inv, tt.complete)
			}
		})
	}
}

// The table's malware and secrets parts, as they follow the image lines
// or the vulnerability part.
const (
	malwareInfectedTable = `
Malware: infected — ClamAV 1.4.6, database 27470 (2026-04-30)
Scanned 2 layers, 1234 files (5.0 MiB): 3 found
LAYER                PATH                   SIGNATURE
sha256:aaaaaaaaaaaa  /tmp/eicar.com         Win.Test.EICAR_HDB-1
sha256:bbbbbbbbbbbb  /app/lib/bundle 1.zip  Eicar-Signature
sha256:bbbbbbbbbbbb  /app/eicar.txt         Win.Test.EICAR_HDB-1
`
	malwareCleanTable = `
Malware: clean — ClamAV 1.4.6, database 27470 (2026-04-30)
Scanned 2 layers, 1234 files (5.0 MiB): 0 found
`
	malwareIncompleteTable = `
Malware: error — ClamAV 1.4.6, database date unknown
Scanned 2 layers, 20 files (1.5 KiB): 1 found, 5 not fully scanned
LAYER                PATH            SIGNATURE
sha256:bbbbbbbbbbbb  /app/eicar.txt  Win.Test.EICAR_HDB-1

Not fully scanned (5): no malware verdict is possible for these files
LAYER                PATH           REASON
sha256:aaaaaaaaaaaa  /opt/big.iso   not scanned (too large: 130 MiB; clamd's StreamMaxLength is lower)
sha256:bbbbbbbbbbbb  /app/bomb.zip  not fully scanned (Heuristics.Limits.Exceeded.MaxFiles)
and 3 more files not listed

Warning: database date unknown
ERROR: malware scan incomplete: 5 files not fully scanned; the image is not known to be clean
`
	malwareDownTable = `
Malware: error — engine unknown
Scanned 0 layers, 0 files (0 B): 0 found

ERROR: malware scan failed: connect to clamd at unix:///run/clamav/clamd.ctl: connection refused
`
	secretsFoundTable = `
Secrets: found — gitleaks v8.30.1, 222 rules, allowlist /etc/cssc/secrets-allow.toml
Scanned 900 files (3.0 MiB): 4 found, 1 allowlisted, 2 files over the size limit not scanned, 40 binary files not scanned
RULE              PATH                          LAYER                LINE  FINGERPRINT
private-key       /root/.ssh/id_rsa             sha256:aaaaaaaaaaaa  1     sha256:763f4785cf983a62
aws-access-token  /app/.env                     sha256:bbbbbbbbbbbb  3     sha256:09fa2aa06f910a0f
github-pat        config:Env[GITHUB_TOKEN]      -                    1     sha256:e3d5a9bc106cfd98
github-pat        config:history[3].created_by  -                    1     sha256:e3d5a9bc106cfd98
`
	secretsCleanTable = `
Secrets: clean — gitleaks v8.30.1, 222 rules, allowlist /etc/cssc/secrets-allow.toml
Scanned 900 files (3.0 MiB): 0 found
`
	secretsFailedTable = `
Secrets: error — gitleaks v8.30.1, 222 rules, allowlist /etc/cssc/secrets-allow.toml
Scanned 10 files (2.0 KiB): 0 found

ERROR: secret scan failed: read layer 1 (sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb): unexpected EOF
`
)

func TestTableScans(t *testing.T) {
	// Without a vulnerability scan the table has no base OS line (nothing
	// looked for /etc/os-release) and no vulnerability part.
	const image = "Image:    registry.example/team/app:1.0 (sha256:1111111111111111111111111111111111111111111111111111111111111111) linux/amd64\n"
	vulnsOnly := string(write(t, "table", testInput()))
	withVulns := func(mal *malware.Result, sec *secrets.Result) report.Input {
		in := testInput()
		in.Malware, in.Secrets = mal, sec
		return in
	}
	tests := []struct {
		name string
		in   report.Input
		want string
	}{
		{"malware only", scanInput(nil, malwareInfected(), nil), image + malwareInfectedTable},
		{"secrets only", scanInput(nil, nil, secretsFound()), image + secretsFoundTable},
		{"all three", withVulns(malwareInfected(), secretsFound()), vulnsOnly + malwareInfectedTable + secretsFoundTable},
		{"clean", scanInput(nil, malwareClean(), secretsClean()), image + malwareCleanTable + secretsCleanTable},
		{"not fully scanned, secret scan failed", scanInput(nil, malwareIncomplete(), secretsFailed()),
			image + malwareIncompleteTable + secretsFailedTable},
		{"engine down", withVulns(malwareDown(), nil), vulnsOnly + malwareDownTable},
		{"base OS known", func() report.Input {
			in := scanInput(nil, malwareClean(), nil)
			in.OS = &inventory.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"}
			return in
		}(), image + "Base OS:  Debian GNU/Linux 12 (bookworm)\nSupport:  end of life unknown\n" + malwareCleanTable},
		{"warnings without a vulnerability scan", func() report.Input {
			in := scanInput(nil, nil, secretsClean())
			in.Warnings = []string{"python: /app/setup.cfg: malformed"}
			return in
		}(), image + "\nFiles that could not be read for packages (what they hold is not in this report):\n  python: /app/setup.cfg: malformed\n" + secretsCleanTable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(write(t, "table", tt.in)); got != tt.want {
				t.Errorf("table:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestTableMalwareEngine(t *testing.T) {
	tests := []struct {
		engine malware.Engine
		want   string
	}{
		{clamav(), "ClamAV 1.4.6, database 27470 (2026-04-30)"},
		{malware.Engine{Name: "ClamAV", Version: "1.4.6", DatabaseVersion: "27470"}, "ClamAV 1.4.6, database 27470, database date unknown"},
		{malware.Engine{Name: "ClamAV", Version: "1.4.6", DatabaseDate: dbDate}, "ClamAV 1.4.6, database of 2026-04-30"},
		{malware.Engine{Name: "ClamAV"}, "ClamAV, database date unknown"},
		{malware.Engine{Version: "1.4.6"}, "engine unknown 1.4.6, database date unknown"},
		{malware.Engine{Address: "tcp://127.0.0.1:3310"}, "engine unknown"},
	}
	for _, tt := range tests {
		in := scanInput(nil, &malware.Result{Status: malware.Clean, Engine: tt.engine}, nil)
		if got := string(write(t, "table", in)); !strings.Contains(got, "\nMalware: clean — "+tt.want+"\n") {
			t.Errorf("engine %+v: table lacks %q:\n%s", tt.engine, tt.want, got)
		}
	}
}

// sarifResult is what a test checks of a SARIF result.
type sarifResult struct {
	rule, severity, level, uri string
	line                       int
	message                    string
	layer                      any // the layer digest in properties, nil when absent
	layerIndex                 any // float64 as JSON decodes it, nil when absent
	fingerprint                string
}

func sarifResults(t *testing.T, run *sarif.Run) []sarifResult {
	t.Helper()
	var out []sarifResult
	for _, res := range run.Results {
		if res.RuleIndex == nil || int(*res.RuleIndex) >= len(run.Tool.Driver.Rules) || run.Tool.Driver.Rules[*res.RuleIndex].ID != *res.RuleID {
			t.Errorf("result %s: ruleIndex %v does not point to its rule", *res.RuleID, res.RuleIndex)
		}
		r := sarifResult{rule: *res.RuleID, severity: ratifySeverity(t, run, res), level: *res.Level, message: *res.Message.Text,
			layer: res.Properties["layer"], layerIndex: res.Properties["layerIndex"]}
		if len(res.Locations) > 0 {
			loc := res.Locations[0].PhysicalLocation
			r.uri = *loc.ArtifactLocation.URI
			if loc.Region != nil && loc.Region.StartLine != nil {
				r.line = *loc.Region.StartLine
			}
		}
		if fp, ok := res.PartialFingerprints["secretSha256/v1"]; ok {
			r.fingerprint = fp.(string)
		}
		out = append(out, r)
	}
	return out
}

var (
	eicarResult = sarifResult{"malware:Win.Test.EICAR_HDB-1", "critical", "error", "/tmp/eicar.com", 0,
		"Malware Win.Test.EICAR_HDB-1 found in /tmp/eicar.com (layer 0, " + layerOS + ").", layerOS, 0.0, ""}
	zipResult = sarifResult{"malware:Eicar-Signature", "critical", "error", "/app/lib/bundle%201.zip", 0,
		"Malware Eicar-Signature found in /app/lib/bundle 1.zip (layer 1, " + layerApp + ").", layerApp, 1.0, ""}
	eicarAppResult = sarifResult{"malware:Win.Test.EICAR_HDB-1", "critical", "error", "/app/eicar.txt", 0,
		"Malware Win.Test.EICAR_HDB-1 found in /app/eicar.txt (layer 1, " + layerApp + ").", layerApp, 1.0, ""}
	secretResults = []sarifResult{
		{"secret:private-key", "high", "error", "/root/.ssh/id_rsa", 1,
			"Secret (private-key) in /root/.ssh/id_rsa line 1 (layer 0, " + layerOS + ").", layerOS, 0.0, "sha256:763f4785cf983a62"},
		{"secret:aws-access-token", "high", "error", "/app/.env", 3,
			"Secret (aws-access-token) in /app/.env line 3 (layer 1, " + layerApp + ").", layerApp, 1.0, "sha256:09fa2aa06f910a0f"},
		{"secret:github-pat", "high", "error", "config:Env%5BGITHUB_TOKEN%5D", 1,
			"Secret (github-pat) in config:Env[GITHUB_TOKEN] line 1.", nil, nil, "sha256:e3d5a9bc106cfd98"},
		{"secret:github-pat", "high", "error", "config:history%5B3%5D.created_by", 1,
			"Secret (github-pat) in config:history[3].created_by line 1.", nil, nil, "sha256:e3d5a9bc106cfd98"},
	}
	clamavExtension   = `{"name": "ClamAV", "rules": [], "version": "1.4.6", "properties": {"address": "unix:///run/clamav/clamd.ctl", "databaseDate": "2026-04-30T08:00:00Z", "databaseVersion": "27470", "kind": "malware"}}`
	gitleaksExtension = `{"name": "gitleaks", "rules": [], "version": "v8.30.1", "properties": {"allowlist": "/etc/cssc/secrets-allow.toml", "kind": "secrets", "rules": 222}}`
)

func TestSARIFScans(t *testing.T) {
	vulnRules := []string{"CVE-2023-39325", "DSA-5532-1", "DEBIAN-CVE-2023-5678", report.NoDataRule}
	secretRules := []string{"secret:private-key", "secret:aws-access-token", "secret:github-pat"}
	allThree := testInput()
	allThree.Malware, allThree.Secrets = malwareInfected(), secretsFound()
	tests := []struct {
		name       string
		in         report.Input
		rules      []string
		results    []sarifResult // after the vulnerability results
		extensions string
		invocation string // runs[0].invocations as JSON, "null" when absent
		complete   bool
	}{
		{"malware only", scanInput(nil, malwareInfected(), nil),
			[]string{"malware:Win.Test.EICAR_HDB-1", "malware:Eicar-Signature"},
			[]sarifResult{eicarResult, zipResult, eicarAppResult},
			"[" + clamavExtension + "]", `[{"executionSuccessful": true}]`, true},
		{"secrets only", scanInput(nil, nil, secretsFound()), secretRules, secretResults,
			"[" + gitleaksExtension + "]", `[{"executionSuccessful": true}]`, true},
		{"all three", allThree,
			append(append(append([]string{}, vulnRules...), "malware:Win.Test.EICAR_HDB-1", "malware:Eicar-Signature"), secretRules...),
			append([]sarifResult{eicarResult, zipResult, eicarAppResult}, secretResults...),
			"[" + clamavExtension + "," + gitleaksExtension + "]", `[{"executionSuccessful": true}]`, false},
		{"clean", scanInput(nil, malwareClean(), secretsClean()), nil, nil,
			"[" + clamavExtension + "," + gitleaksExtension + "]", `[{"executionSuccessful": true}]`, true},
		{"not fully scanned, secret scan failed", scanInput(nil, malwareIncomplete(), secretsFailed()),
			[]string{"malware:Win.Test.EICAR_HDB-1", report.NotScannedRule, report.ScanErrorRule},
			[]sarifResult{
				{"malware:Win.Test.EICAR_HDB-1", "critical", "error", "/app/eicar.txt", 0,
					"Malware Win.Test.EICAR_HDB-1 found in /app/eicar.txt (layer 1, " + layerApp + ").", layerApp, 1.0, ""},
				{report.NotScannedRule, "unknown", "warning", "/opt/big.iso", 0,
					"not scanned (too large: 130 MiB; clamd's StreamMaxLength is lower)", layerOS, 0.0, ""},
				{report.NotScannedRule, "unknown", "warning", "/app/bomb.zip", 0,
					"not fully scanned (Heuristics.Limits.Exceeded.MaxFiles)", layerApp, 1.0, ""},
				{report.NotScannedRule, "unknown", "warning", "", 0,
					"3 more files were not fully scanned for malware (not listed).", nil, nil, ""},
				{report.ScanErrorRule, "unknown", "error", "", 0,
					"secret scan failed: read layer 1 (" + layerApp + "): unexpected EOF", nil, nil, ""},
			},
			`[{"name": "ClamAV", "rules": [], "version": "1.4.6", "properties": {"address": "tcp://127.0.0.1:3310", "databaseDate": "unknown", "kind": "malware"}}, ` +
				gitleaksExtension + `]`,
			`[{"executionSuccessful": false, "toolExecutionNotifications": [
				{"level": "error", "message": {"text": "malware scan incomplete: 5 files not fully scanned"}},
				{"level": "error", "message": {"text": "secret scan failed: read layer 1 (` + layerApp + `): unexpected EOF"}},
				{"level": "warning", "message": {"text": "malware scan: database date unknown"}}]}]`, false},
		{"engine down", scanInput(nil, malwareDown(), nil), []string{report.ScanErrorRule},
			[]sarifResult{{report.ScanErrorRule, "unknown", "error", "", 0,
				"malware scan failed: connect to clamd at unix:///run/clamav/clamd.ctl: connection refused", nil, nil, ""}},
			`[{"name": "unknown malware engine", "rules": [], "properties": {"address": "unix:///run/clamav/clamd.ctl", "databaseDate": "unknown", "kind": "malware"}}]`,
			`[{"executionSuccessful": false, "toolExecutionNotifications": [
				{"level": "error", "message": {"text": "malware scan failed: connect to clamd at unix:///run/clamav/clamd.ctl: connection refused"}}]}]`, false},
		{"vulnerabilities only", testInput(), vulnRules, nil, "null", "null", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := write(t, "sarif", tt.in)
			if err := sarifSchemaCheck(t, out); err != nil {
				t.Errorf("SARIF does not follow the SARIF 2.1.0 schema: %v", err)
			}
			var raw struct {
				Runs []struct {
					Tool struct {
						Extensions json.RawMessage `json:"extensions"`
					} `json:"tool"`
					Invocations json.RawMessage `json:"invocations"`
				} `json:"runs"`
			}
			if err := json.Unmarshal(out, &raw); err != nil {
				t.Fatal(err)
			}
			var tree any
			if err := json.Unmarshal(out, &tree); err != nil {
				t.Fatal(err)
			}
			if p := findNull(tree, "$"); p != "" {
				t.Errorf("null value at %s", p)
			}
			rep, err := sarif.FromBytes(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Runs) != 1 || len(raw.Runs) != 1 {
				t.Fatalf("%d runs, want 1", len(rep.Runs))
			}
			run := rep.Runs[0]
			var ruleIDs []string
			for _, r := range run.Tool.Driver.Rules {
				ruleIDs = append(ruleIDs, r.ID)
			}
			sameStrings(t, "rules", ruleIDs, tt.rules)
			got := sarifResults(t, run)
			if tt.in.Report != nil {
				got = got[len(tt.in.Report.Findings)+len(tt.in.Report.Unknown):]
			}
			if len(got) != len(tt.results) {
				t.Fatalf("%d results, want %d: %+v", len(got), len(tt.results), got)
			}
			for i := range tt.results {
				if got[i] != tt.results[i] {
					t.Errorf("result %d:\n got %+v\nwant %+v", i, got[i], tt.results[i])
				}
			}
			extensions := raw.Runs[0].Tool.Extensions
			if extensions == nil {
				extensions = json.RawMessage("null")
			}
			jsonEqual(t, "extensions", extensions, tt.extensions)
			invocations := raw.Runs[0].Invocations
			if invocations == nil {
				invocations = json.RawMessage("null")
			}
			jsonEqual(t, "invocations", invocations, tt.invocation)
			if run.Properties["complete"] != tt.complete {
				t.Errorf("complete = %v, want %v", run.Properties["complete"], tt.complete)
			}
		})
	}
}

// The schema check must be able to fail.
func TestSARIFSchemaCheckFails(t *testing.T) {
	for name, mutate := range map[string]func(run map[string]any){
		"invocation without executionSuccessful": func(run map[string]any) {
			delete(run["invocations"].([]any)[0].(map[string]any), "executionSuccessful")
		},
		"result level": func(run map[string]any) {
			run["results"].([]any)[0].(map[string]any)["level"] = "fatal"
		},
		"start line 0": func(run map[string]any) {
			loc := run["results"].([]any)[3].(map[string]any)["locations"].([]any)[0].(map[string]any)
			loc["physicalLocation"].(map[string]any)["region"].(map[string]any)["startLine"] = 0
		},
		"extension without a name": func(run map[string]any) {
			delete(run["tool"].(map[string]any)["extensions"].([]any)[0].(map[string]any), "name")
		},
	} {
		t.Run(name, func(t *testing.T) {
			var log map[string]any
			if err := json.Unmarshal(write(t, "sarif", scanInput(nil, malwareInfected(), secretsFound())), &log); err != nil {
				t.Fatal(err)
			}
			mutate(log["runs"].([]any)[0].(map[string]any))
			bad, err := json.Marshal(log)
			if err != nil {
				t.Fatal(err)
			}
			if err := sarifSchemaCheck(t, bad); err == nil {
				t.Errorf("schema accepted a log with a bad %s", name)
			}
		})
	}
}

// No rendering holds a secret value, nor more of its hash than the
// fingerprint's 16 hex digits.
func TestReportsHoldNoSecret(t *testing.T) {
	allThree := testInput()
	allThree.Malware, allThree.Secrets = malwareInfected(), secretsFound()
	inputs := map[string]report.Input{
		"secrets only": scanInput(nil, nil, secretsFound()),
		"all three":    allThree,
	}
	for name, in := range inputs {
		for _, format := range report.Formats() {
			out := write(t, format, in)
			for _, secret := range []string{awsSecretValue, tokenValue, pemValue} {
				sum := sha256.Sum256([]byte(secret))
				full := hex.EncodeToString(sum[:])
				fp := fingerprint(secret)
				for _, leak := range []string{secret, secret[:12], full[:17], strings.ToUpper(full[:16])} {
					if bytes.Contains(out, []byte(leak)) {
						t.Errorf("%s %s report contains %q", name, format, leak)
					}
				}
				if !bytes.Contains(out, []byte(fp)) {
					t.Errorf("%s %s report lacks the fingerprint %s", name, format, fp)
				}
			}
		}
	}
}

// A fingerprint that is not of the documented form could be the secret
// itself: no report is written, and the error does not quote it.
func TestWriteRefusesMalformedFingerprint(t *testing.T) {
	sum := sha256.Sum256([]byte(tokenValue))
	for _, bad := range []string{tokenValue, "sha256:" + hex.EncodeToString(sum[:]), "sha256:E3D5A9BC106CFD98", "e3d5a9bc106cfd98"} {
		for _, format := range report.Formats() {
			sec := secretsFound()
			sec.Findings[2].Fingerprint = bad
			var buf bytes.Buffer
			err := report.Write(&buf, format, scanInput(nil, nil, sec))
			want := "write " + format + ` report: secret finding 2 (github-pat in Env[GITHUB_TOKEN]): fingerprint is not "sha256:" and 16 hex digits`
			if err == nil || err.Error() != want {
				t.Errorf("fingerprint %q, %s: err = %v, want %s", bad, format, err, want)
			}
			if buf.Len() != 0 {
				t.Errorf("fingerprint %q, %s: wrote %q", bad, format, buf.String())
			}
		}
	}
	// An empty fingerprint reveals nothing.
	sec := secretsFound()
	sec.Findings[0].Fingerprint = ""
	var buf bytes.Buffer
	if err := report.Write(&buf, report.FormatSARIF, scanInput(nil, nil, sec)); err != nil {
		t.Errorf("empty fingerprint: %v", err)
	}
}

// Any one scanner is enough for a report; none is an error.
func TestWriteScannersGiven(t *testing.T) {
	for _, in := range []report.Input{
		{Report: &match.Report{}}, {Malware: malwareClean()}, {Secrets: secretsClean()},
	} {
		for _, format := range report.Formats() {
			var buf bytes.Buffer
			if err := report.Write(&buf, format, in); err != nil || buf.Len() == 0 {
				t.Errorf("%s: err %v, %d bytes", format, err, buf.Len())
			}
		}
	}
	for _, format := range report.Formats() {
		var buf bytes.Buffer
		err := report.WriteAll(&buf, format, []report.Input{{Malware: malwareClean()}, {Subject: inventory.Subject{Platform: "linux/arm64"}}})
		if want := "write " + format + " report: no scan result"; err == nil || err.Error() != want {
			t.Errorf("%s: err = %v, want %s", format, err, want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: wrote %q on error", format, buf.String())
		}
	}
}

// A multi-platform image scanned for malware and secrets alone: each
// platform's report has its own results.
func TestWriteAllPlatformsScans(t *testing.T) {
	amd := scanInput(nil, malwareInfected(), secretsClean())
	arm := scanInput(nil, malwareClean(), secretsFound())
	amd.Subject.Index, arm.Subject.Index = "sha256:idx", "sha256:idx"
	arm.Subject.Platform = "linux/arm64"
	ins := []report.Input{amd, arm}

	var buf bytes.Buffer
	if err := report.WriteAll(&buf, report.FormatJSON, ins); err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Platforms []map[string]json.RawMessage `json:"platforms"`
	}
	if err := json.Unmarshal(buf.Bytes(), &idx); err != nil || len(idx.Platforms) != 2 {
		t.Fatalf("JSON index: %d platforms (%v)", len(idx.Platforms), err)
	}
	jsonEqual(t, "amd64 malware", idx.Platforms[0]["malware"], malwareInfectedJSON)
	jsonEqual(t, "amd64 secrets", idx.Platforms[0]["secrets"], secretsCleanJSON)
	jsonEqual(t, "arm64 malware", idx.Platforms[1]["malware"], malwareCleanJSON)
	jsonEqual(t, "arm64 secrets", idx.Platforms[1]["secrets"], secretsFoundJSON)

	buf.Reset()
	if err := report.WriteAll(&buf, report.FormatSARIF, ins); err != nil {
		t.Fatal(err)
	}
	if err := sarifSchemaCheck(t, buf.Bytes()); err != nil {
		t.Errorf("SARIF does not follow the SARIF 2.1.0 schema: %v", err)
	}
	rep, err := sarif.FromBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2 || len(rep.Runs[0].Results) != 3 || len(rep.Runs[1].Results) != 4 {
		t.Errorf("SARIF: %d runs, want 2 with 3 and 4 results", len(rep.Runs))
	}

	buf.Reset()
	if err := report.WriteAll(&buf, report.FormatTable, ins); err != nil {
		t.Fatal(err)
	}
	image := "Image:    registry.example/team/app:1.0 (sha256:1111111111111111111111111111111111111111111111111111111111111111) "
	want := image + "linux/amd64\n" + malwareInfectedTable + secretsCleanTable + "\n" +
		image + "linux/arm64\n" + malwareCleanTable + secretsFoundTable
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}
