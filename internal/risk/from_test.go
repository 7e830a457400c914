package risk

import (
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/cssc-project/cssc/internal/eol"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/malware"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/secrets"
)

func TestVulnsFrom(t *testing.T) {
	finding := func(id string, sev match.Severity, fixed string) match.Finding {
		return match.Finding{ID: id, Severity: sev, Fixed: fixed}
	}
	report := &match.Report{
		Findings: []match.Finding{
			finding("CVE-1", match.SeverityCritical, "1.2"),
			finding("CVE-2", match.SeverityCritical, ""),
			finding("CVE-3", match.SeverityHigh, "2.0"),
			finding("CVE-4", match.SeverityMedium, ""),
			finding("CVE-5", match.SeverityLow, "1"),
			finding("CVE-6", match.SeverityNone, "1"),
			finding("CVE-7", match.SeverityUnknown, ""),
			finding("CVE-8", "bogus", "3"),
		},
		Unknown: []match.Unknown{
			{Package: match.PackageRef{Name: "a", Ecosystem: "Debian:13"}},
			{Package: match.PackageRef{Name: "b", Ecosystem: "Debian:13"}},
			{Package: match.PackageRef{Name: "c", Ecosystem: "npm"}},
		},
		Coverage: []match.EcosystemCoverage{
			{Ecosystem: "Debian:13", Coverage: match.Coverage{Covered: false}},
			{Ecosystem: "Go", Coverage: match.Coverage{Covered: true}},
			{Ecosystem: "PyPI", Coverage: match.Coverage{Covered: false}},
		},
	}
	kev := func(f match.Finding) bool { return f.ID == "CVE-2" || f.ID == "CVE-5" }
	tests := []struct {
		name      string
		report    *match.Report
		exploited func(match.Finding) bool
		want      Vulns
	}{
		{"no report is no scan", nil, kev, Vulns{}},
		{"empty report", &match.Report{}, nil, Vulns{Scanned: true}},
		{"findings without exploit data", report, nil, Vulns{Scanned: true, Uncovered: 3,
			Critical: Count{Total: 2, Fixable: 1}, High: Count{Total: 1, Fixable: 1}, Medium: Count{Total: 1},
			Low: Count{Total: 1, Fixable: 1}, Unknown: Count{Total: 2, Fixable: 1}}},
		{"findings with exploit data", report, kev, Vulns{Scanned: true, Uncovered: 3,
			Critical: Count{Total: 2, Fixable: 1, Exploited: 1}, High: Count{Total: 1, Fixable: 1}, Medium: Count{Total: 1},
			Low: Count{Total: 1, Fixable: 1, Exploited: 1}, Unknown: Count{Total: 2, Fixable: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VulnsFrom(tt.report, tt.exploited); got != tt.want {
				t.Errorf("VulnsFrom = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestScanFrom(t *testing.T) {
	tests := []struct {
		name string
		got  Scan
		want Scan
	}{
		{"malware: none", ScanFromMalware(nil), Scan{}},
		{"malware: not finished", ScanFromMalware(&malware.Result{}), Scan{}},
		{"malware: clean", ScanFromMalware(&malware.Result{Status: malware.Clean}), Scan{Done: true}},
		{"malware: infected", ScanFromMalware(&malware.Result{Status: malware.Infected,
			Findings: []malware.Finding{{Path: "/x"}, {Path: "/y"}}, MoreFindings: 3}), Scan{Done: true, Found: 5}},
		{"malware: error with a finding", ScanFromMalware(&malware.Result{Status: malware.Error,
			Findings: []malware.Finding{{Path: "/x"}}}), Scan{Found: 1}},
		{"secrets: none", ScanFromSecrets(nil), Scan{}},
		{"secrets: clean", ScanFromSecrets(&secrets.Result{Status: secrets.Clean}), Scan{Done: true}},
		{"secrets: found", ScanFromSecrets(&secrets.Result{Status: secrets.Found,
			Findings: []secrets.Finding{{RuleID: "aws-access-token"}}, MoreFindings: 1}), Scan{Done: true, Found: 2}},
		{"secrets: error", ScanFromSecrets(&secrets.Result{Status: secrets.Error, Error: "layer unreadable"}), Scan{}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, tt.got, tt.want)
		}
	}
}

func TestOSFrom(t *testing.T) {
	table := eol.Embedded()
	at := date("2025-01-01")
	tests := []struct {
		name  string
		os    *inventory.OS
		table *eol.Table
		want  OS
	}{
		{"no os", nil, table, OS{State: LifecycleNone}},
		{"no table", &inventory.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"}, nil,
			OS{Name: "Debian GNU/Linux 12 (bookworm)", State: LifecycleUnknown}},
		{"supported", &inventory.OS{ID: "debian", VersionID: "12"}, table,
			OS{Name: "Debian 12", State: LifecycleSupported, EOL: date("2028-06-30")}},
		{"eol", &inventory.OS{ID: "debian", VersionID: "10"}, table,
			OS{Name: "Debian 10", State: LifecycleEOL, EOL: date("2024-06-30")}},
		{"unknown distribution", &inventory.OS{ID: "plan9", VersionID: "4", PrettyName: "Plan 9"}, table,
			OS{Name: "Plan 9", State: LifecycleUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OSFrom(tt.os, tt.table, at); got != tt.want {
				t.Errorf("OSFrom = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConfigFrom(t *testing.T) {
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	cf := &v1.ConfigFile{Created: v1.Time{Time: created}, Config: v1.Config{
		User: "nginx", ExposedPorts: map[string]struct{}{"80/tcp": {}, "443/tcp": {}},
	}}
	tests := []struct {
		name        string
		cf          *v1.ConfigFile
		want        Config
		wantCreated time.Time
	}{
		{"nil is unknown", nil, Config{}, time.Time{}},
		{"empty", &v1.ConfigFile{}, Config{}, time.Time{}},
		{"set", cf, Config{User: "nginx", ExposedPorts: 2}, created},
	}
	for _, tt := range tests {
		got, gotCreated := ConfigFrom(tt.cf)
		if got != tt.want || !gotCreated.Equal(tt.wantCreated) {
			t.Errorf("%s: ConfigFrom = %+v %v, want %+v %v", tt.name, got, gotCreated, tt.want, tt.wantCreated)
		}
	}
}
