package report

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/cssc-project/cssc/internal/match"
)

// NoDataRule is the SARIF rule id of the results that stand for packages
// the scan could not check (match.Report.Unknown).
const NoDataRule = "CSSC-NO-DATA"

// writeSARIF writes SARIF 2.1.0 shaped for Ratify's vulnerability report
// verifier (plugins/verifier/vulnerabilityreport in ratify-project/ratify),
// which reads, of runs[0] only:
//   - tool.driver.name, lower-cased, as the scanner name. Its severity
//     check (disallowedSeverities) only knows "trivy" and "grype" and
//     fails a report from any other scanner; its deny list (denylistCVEs)
//     works for any scanner. Input.Tool.Name sets the name.
//   - results[].ruleId, compared case-insensitively with denylistCVEs, so
//     the rule id is the vulnerability's primary id (a CVE id when it has
//     one) and nothing else.
//   - tool.driver.rules[] by id, and in the rule's help.text the first
//     match of `Severity:\s*(\w+)`, lower-cased, compared with
//     disallowedSeverities: help.text carries "Severity: HIGH" as Trivy and
//     grype write it.
//
// It also validates the document against the SARIF 2.1.0 JSON schema, and
// its maximumAge check reads org.opencontainers.image.created from the
// referrer manifest's annotations (that is for whoever attaches the
// report).
//
// A rule is one vulnerability, with the highest severity it has in the
// image; a result is one finding (vulnerability × package) located at the
// package's files. Packages that could not be checked are results of the
// NoDataRule rule, severity UNKNOWN, so a verifier sees them. Findings
// suppressed by VEX are left out: Ratify does not read SARIF suppressions
// and would count them.
func writeSARIF(w io.Writer, ins ...Input) error {
	rep, err := sarif.New(sarif.Version210)
	if err != nil {
		return err
	}
	for _, in := range ins {
		rep.AddRun(sarifRun(in))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}

// sarifRun is the SARIF run of one image (one platform).
func sarifRun(in Input) *sarif.Run {
	driver := &sarif.ToolComponent{Name: in.Tool.Name, Rules: []*sarif.ReportingDescriptor{}}
	if in.Tool.Version != "" {
		driver.Version = &in.Tool.Version
	}
	if in.Tool.InformationURI != "" {
		driver.InformationURI = &in.Tool.InformationURI
	}
	run := sarif.NewRun(sarif.Tool{Driver: driver})
	r := in.Report

	ruleIndex := map[string]int{}
	for i := range r.Findings {
		f := &r.Findings[i]
		idx, ok := ruleIndex[f.ID]
		if !ok {
			idx = len(driver.Rules)
			ruleIndex[f.ID] = idx
			driver.Rules = append(driver.Rules, vulnerabilityRule(f))
		}
		run.AddResult(findingResult(f, idx))
	}
	if len(r.Unknown) > 0 {
		idx := len(driver.Rules)
		driver.Rules = append(driver.Rules, noDataRule())
		for _, u := range r.Unknown {
			run.AddResult(unknownResult(u, idx))
		}
	}
	run.Properties = runProperties(in)
	return run
}

// vulnerabilityRule describes the vulnerability of f; the first finding
// of an id is its most severe (findings are sorted by severity).
func vulnerabilityRule(f *match.Finding) *sarif.ReportingDescriptor {
	sev := strings.ToUpper(string(f.Severity))
	short := f.Summary
	if short == "" {
		short = f.ID
	}
	help := fmt.Sprintf("Vulnerability %s\nSeverity: %s\nPackage: %s\nInstalled Version: %s\nFixed Version: %s\nLink: %s",
		f.ID, sev, f.Package.Name, f.Installed, orDash(f.Fixed), osvLink(f.ID))
	if len(f.Aliases) > 0 {
		help += "\nAliases: " + strings.Join(f.Aliases, ", ")
	}
	markdown := fmt.Sprintf("**Vulnerability %s**\n| Severity | Package | Installed Version | Fixed Version | Link |\n| --- | --- | --- | --- | --- |\n| %s | %s | %s | %s | [%s](%s) |\n",
		f.ID, sev, f.Package.Name, f.Installed, orDash(f.Fixed), f.ID, osvLink(f.ID))
	props := sarif.Properties{
		"tags":     []string{"vulnerability", "security", sev},
		"severity": string(f.Severity),
	}
	if f.Vector != "" {
		// GitHub code scanning reads the CVSS score from here.
		props["security-severity"] = strconv.FormatFloat(f.Score, 'f', 1, 64)
		props["cvssVector"] = f.Vector
	}
	if len(f.Aliases) > 0 {
		props["aliases"] = f.Aliases
	}
	rule := sarif.NewRule(f.ID).
		WithName(f.ID).
		WithShortDescription(sarif.NewMultiformatMessageString(short)).
		WithFullDescription(sarif.NewMultiformatMessageString(short)).
		WithHelpURI(osvLink(f.ID)).
		WithHelp(&sarif.MultiformatMessageString{Text: &help, Markdown: &markdown}).
		WithDefaultConfiguration(&sarif.ReportingConfiguration{Level: level(f.Severity)}).
		WithProperties(props)
	return rule
}

func noDataRule() *sarif.ReportingDescriptor {
	text := "A package that could not be checked for vulnerabilities"
	help := "Severity: UNKNOWN\nThe vulnerability database has no data for the package's ecosystem, or the package's version or a record could not be evaluated. The package is neither clean nor vulnerable as far as this scan knows."
	return sarif.NewRule(NoDataRule).
		WithName("PackageNotChecked").
		WithShortDescription(sarif.NewMultiformatMessageString(text)).
		WithFullDescription(sarif.NewMultiformatMessageString(text)).
		WithHelp(&sarif.MultiformatMessageString{Text: &help}).
		WithDefaultConfiguration(&sarif.ReportingConfiguration{Level: "warning"}).
		WithProperties(sarif.Properties{"tags": []string{"vulnerability", "security", "UNKNOWN"}, "severity": "unknown"})
}

func findingResult(f *match.Finding, ruleIndex int) *sarif.Result {
	msg := fmt.Sprintf("Package %s version %s is affected by %s (%s).", f.Package.Name, f.Installed, f.ID, f.Severity)
	if f.Fixed != "" {
		msg += " Fixed in " + f.Fixed + "."
	} else {
		msg += " No fixed version is known."
	}
	props := sarif.Properties{
		"package":          f.Package.Name,
		"installedVersion": f.Installed,
		"fixedVersion":     f.Fixed,
		"severity":         string(f.Severity),
	}
	for k, v := range map[string]string{"ecosystem": f.Package.Ecosystem, "purl": f.Package.PURL, "layer": f.Layer} {
		if v != "" {
			props[k] = v
		}
	}
	res := sarif.NewRuleResult(f.ID).
		WithRuleIndex(ruleIndex).
		WithLevel(level(f.Severity)).
		WithMessage(sarif.NewTextMessage(msg)).
		WithLocations(locations(f.Locations))
	res.Properties = props
	return res
}

func unknownResult(u match.Unknown, ruleIndex int) *sarif.Result {
	msg := fmt.Sprintf("Package %s version %s (%s) was not checked: %s", u.Package.Name, u.Package.Version, u.Package.Ecosystem, u.Reason)
	if u.Vulnerability != "" {
		msg = fmt.Sprintf("Package %s version %s (%s) was not checked against %s: %s", u.Package.Name, u.Package.Version,
			u.Package.Ecosystem, u.Vulnerability, u.Reason)
	}
	res := sarif.NewRuleResult(NoDataRule).
		WithRuleIndex(ruleIndex).
		WithLevel("warning").
		WithMessage(sarif.NewTextMessage(msg)).
		WithLocations(locations(u.Locations))
	res.Properties = sarif.Properties{"package": u.Package.Name, "installedVersion": u.Package.Version,
		"ecosystem": u.Package.Ecosystem, "reason": u.Reason}
	return res
}

// locations are the package's files as artifact locations: absolute
// paths in the image, percent-encoded as URI references.
func locations(paths []string) []*sarif.Location {
	out := make([]*sarif.Location, 0, len(paths))
	for _, p := range paths {
		uri := (&url.URL{Path: p}).EscapedPath()
		out = append(out, sarif.NewLocationWithPhysicalLocation(
			sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewSimpleArtifactLocation(uri))))
	}
	return out
}

// level maps a severity to a SARIF result level.
func level(s match.Severity) string {
	switch s {
	case match.SeverityCritical, match.SeverityHigh:
		return "error"
	case match.SeverityMedium:
		return "warning"
	}
	return "note"
}

func osvLink(id string) string { return "https://osv.dev/vulnerability/" + url.PathEscape(id) }

// runProperties carries what SARIF has no place for: the subject, the
// base OS and its support, the data coverage, and what was suppressed.
func runProperties(in Input) sarif.Properties {
	r := in.Report
	props := sarif.Properties{
		"schemaVersion": SchemaVersion,
		"generatedAt":   in.GeneratedAt.Format("2006-01-02T15:04:05Z07:00"),
		"imageName":     in.Subject.Name,
		"complete":      !r.Incomplete(),
		"suppressed":    len(r.Suppressed),
	}
	if in.Subject.Digest != "" {
		props["imageDigest"] = in.Subject.Digest
	}
	if in.Subject.Platform != "" {
		props["platform"] = in.Subject.Platform
	}
	if in.OS != nil {
		props["os"] = strings.TrimSpace(in.OS.ID + " " + in.OS.VersionID)
	}
	if e := in.EndOfLife; e != nil {
		props["endOfLife"] = string(e.Status)
		if d := date(e.Date); d != nil {
			props["endOfLifeDate"] = *d
		}
	}
	cov := make([]map[string]any, 0, len(r.Coverage))
	for _, c := range r.Coverage {
		m := map[string]any{"ecosystem": c.Ecosystem, "covered": c.Covered, "packages": c.Packages}
		if c.Reason != "" {
			m["reason"] = c.Reason
		}
		if t := timestamp(c.ImportedAt); t != nil {
			m["importedAt"] = *t
		}
		if t := timestamp(c.Newest); t != nil {
			m["newestRecord"] = *t
		}
		cov = append(cov, m)
	}
	props["coverage"] = cov
	return props
}
