package risk

import (
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/cssc-project/cssc/internal/eol"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/malware"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/secrets"
)

// VulnsFrom counts a match report's findings by severity. A finding is
// fixable when it names a fixed version, and known exploited when
// exploited says so (nil: the data has no such flag). Findings rated
// "none" (CVSS 0.0) are not counted; any other severity the package does
// not know counts as unknown. Uncovered is the number of distinct
// ecosystems the database does not cover or has packages it could not
// judge. A nil report is no scan.
func VulnsFrom(r *match.Report, exploited func(match.Finding) bool) Vulns {
	if r == nil {
		return Vulns{}
	}
	v := Vulns{Scanned: true}
	for _, f := range r.Findings {
		var c *Count
		switch f.Severity {
		case match.SeverityNone:
			continue
		case match.SeverityCritical:
			c = &v.Critical
		case match.SeverityHigh:
			c = &v.High
		case match.SeverityMedium:
			c = &v.Medium
		case match.SeverityLow:
			c = &v.Low
		default:
			c = &v.Unknown
		}
		c.Total++
		if f.Fixed != "" {
			c.Fixable++
		}
		if exploited != nil && exploited(f) {
			c.Exploited++
		}
	}
	uncovered := map[string]bool{}
	for _, c := range r.Coverage {
		if !c.Covered {
			uncovered[c.Ecosystem] = true
		}
	}
	for _, u := range r.Unknown {
		uncovered[u.Package.Ecosystem] = true
	}
	v.Uncovered = len(uncovered)
	return v
}

// ScanFromMalware turns a malware scan result into a Scan: done when its
// status is clean or infected (an error status, or none, is not done).
// A nil result is no scan.
func ScanFromMalware(r *malware.Result) Scan {
	if r == nil {
		return Scan{}
	}
	return Scan{
		Done:  r.Status == malware.Clean || r.Status == malware.Infected,
		Found: len(r.Findings) + r.MoreFindings,
	}
}

// ScanFromSecrets turns a secret scan result into a Scan: done when its
// status is clean or found. A nil result is no scan.
func ScanFromSecrets(r *secrets.Result) Scan {
	if r == nil {
		return Scan{}
	}
	return Scan{
		Done:  r.Status == secrets.Clean || r.Status == secrets.Found,
		Found: len(r.Findings) + r.MoreFindings,
	}
}

// OSFrom looks an image's base OS up in an end-of-life table. A nil os
// (the image has no /etc/os-release) is LifecycleNone; a nil table, or an
// OS the table does not know, LifecycleUnknown.
func OSFrom(os *inventory.OS, table *eol.Table, now time.Time) OS {
	if os == nil {
		return OS{State: LifecycleNone}
	}
	if table == nil {
		return OS{Name: os.PrettyName, State: LifecycleUnknown}
	}
	st := table.Lookup(*os, now)
	out := OS{Name: os.PrettyName, EOL: st.EOL}
	if st.Distro != "" && st.Release != "" {
		out.Name = st.Distro + " " + st.Release
	}
	switch st.State {
	case eol.Supported:
		out.State = LifecycleSupported
	case eol.NearEOL:
		out.State = LifecycleNearEOL
	case eol.EOL:
		out.State = LifecycleEOL
	default:
		out.State = LifecycleUnknown
	}
	return out
}

// ConfigFrom reads the scored facts and the creation time from an image
// configuration. A nil configuration is unknown: root, no ports, unknown
// age.
func ConfigFrom(cf *v1.ConfigFile) (Config, time.Time) {
	if cf == nil {
		return Config{}, time.Time{}
	}
	return Config{User: cf.Config.User, ExposedPorts: len(cf.Config.ExposedPorts)}, cf.Created.Time
}
