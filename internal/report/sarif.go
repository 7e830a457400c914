package report

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/cssc-project/cssc/internal/malware"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/secrets"
)

// NoDataRule is the SARIF rule id of the results that stand for packages
// the scan could not check (match.Report.Unknown).
const NoDataRule = "CSSC-NO-DATA"

// NotScannedRule is the SARIF rule id of the results that stand for files
// the malware scan could not (fully) scan (malware.Result.Problems).
const NotScannedRule = "CSSC-NOT-SCANNED"

// The prefixes of the SARIF rule ids of malware and secret findings: the
// engine's signature name ("malware:Win.Test.EICAR_HDB-1") and the
// detection rule's id ("secret:aws-access-token").
const (
	MalwareRulePrefix = "malware:"
	SecretRulePrefix  = "secret:"
)

// The severities malware and secret findings carry in their rules' help
// text, which is where Ratify reads a result's severity.
const (
	malwareSeverity = "CRITICAL"
	secretSeverity  = "HIGH"
)

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
//
// Malware and secret findings go into the same run (Ratify reads no
// other): a rule per signature (severity CRITICAL) and per secret rule
// (severity HIGH), a result per finding located at its file; files the
// malware scan could not fully scan are results of NotScannedRule
// (severity UNKNOWN), and a scan that failed as a whole is a failed
// invocation with the reason as a notification.
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
	r := vulnReport(in)

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
	if m := in.Malware; m != nil {
		run.Tool.Extensions = append(run.Tool.Extensions, malwareEngine(m.Engine))
		for i := range m.Findings {
			f := &m.Findings[i]
			id := MalwareRulePrefix + f.Signature
			idx, ok := ruleIndex[id]
			if !ok {
				idx = len(driver.Rules)
				ruleIndex[id] = idx
				driver.Rules = append(driver.Rules, malwareRule(id, f.Signature))
			}
			run.AddResult(malwareResult(f, id, idx))
		}
		if len(m.Problems) > 0 || m.MoreProblems > 0 {
			idx := len(driver.Rules)
			driver.Rules = append(driver.Rules, notScannedRule())
			for i := range m.Problems {
				run.AddResult(notScannedResult(&m.Problems[i], idx))
			}
			if m.MoreProblems > 0 {
				msg := fmt.Sprintf("%d more files were not fully scanned for malware (not listed).", m.MoreProblems)
				res := sarif.NewRuleResult(NotScannedRule).WithRuleIndex(idx).WithLevel("warning").
					WithMessage(sarif.NewTextMessage(msg)).WithLocations([]*sarif.Location{})
				res.Properties = sarif.Properties{"count": m.MoreProblems}
				run.AddResult(res)
			}
		}
	}
	if s := in.Secrets; s != nil {
		run.Tool.Extensions = append(run.Tool.Extensions, secretsEngine(s.Engine))
		for i := range s.Findings {
			f := &s.Findings[i]
			id := SecretRulePrefix + f.RuleID
			idx, ok := ruleIndex[id]
			if !ok {
				idx = len(driver.Rules)
				ruleIndex[id] = idx
				driver.Rules = append(driver.Rules, secretRule(id, f))
			}
			run.AddResult(secretResult(f, id, idx))
		}
	}
	// A scan that failed as a whole is a result too: a verifier that reads
	// only results (Ratify) must not take it for a clean image.
	var failed []string
	if m := in.Malware; m != nil && m.Error != "" {
		failed = append(failed, "malware scan failed: "+m.Error)
	}
	if s := in.Secrets; s != nil && s.Error != "" {
		failed = append(failed, "secret scan failed: "+s.Error)
	}
	if len(failed) > 0 {
		idx := len(driver.Rules)
		driver.Rules = append(driver.Rules, scanErrorRule())
		for _, msg := range failed {
			run.AddResult(sarif.NewRuleResult(ScanErrorRule).WithRuleIndex(idx).WithLevel("error").
				WithMessage(sarif.NewTextMessage(msg)).WithLocations([]*sarif.Location{}))
		}
	}
	if inv := scanInvocation(in); inv != nil {
		run.Invocations = []*sarif.Invocation{inv}
	}
	run.Properties = runProperties(in)
	return run
}

// ScanErrorRule is the SARIF rule id of the results that stand for a
// malware or secret scan that failed as a whole (engine unreachable,
// database too old, layers unreadable).
const ScanErrorRule = "CSSC-SCAN-ERROR"

func scanErrorRule() *sarif.ReportingDescriptor {
	return unknownRule(ScanErrorRule, "ScanFailed", "error",
		"A malware or secret scan that could not be done",
		"The scan failed as a whole (the engine was unreachable or misconfigured, its database too old, or the image's layers unreadable): the image is not known to be clean.",
		"UNKNOWN")
}

// malwareRule describes the detections of one signature.
func malwareRule(id, signature string) *sarif.ReportingDescriptor {
	short := "Malware: " + signature
	// Severity first: Ratify takes the first "Severity:" of the text, and
	// a signature name is the engine's to choose.
	help := fmt.Sprintf("Severity: %s\nMalware signature: %s\nThe malware scanning engine found this signature in a file of the image.",
		malwareSeverity, signature)
	return sarif.NewRule(id).
		WithName(signature).
		WithShortDescription(sarif.NewMultiformatMessageString(short)).
		WithFullDescription(sarif.NewMultiformatMessageString(short)).
		WithHelp(&sarif.MultiformatMessageString{Text: &help}).
		WithDefaultConfiguration(&sarif.ReportingConfiguration{Level: "error"}).
		WithProperties(sarif.Properties{"tags": []string{"malware"}, "severity": strings.ToLower(malwareSeverity)})
}

func malwareResult(f *malware.Finding, ruleID string, ruleIndex int) *sarif.Result {
	msg := fmt.Sprintf("Malware %s found in %s (layer %d, %s).", f.Signature, f.Path, f.Layer, f.LayerDigest)
	res := sarif.NewRuleResult(ruleID).
		WithRuleIndex(ruleIndex).
		WithLevel("error").
		WithMessage(sarif.NewTextMessage(msg)).
		WithLocations(locations([]string{f.Path}))
	res.Properties = sarif.Properties{"signature": f.Signature, "path": f.Path, "layer": f.LayerDigest, "layerIndex": f.Layer}
	return res
}

func notScannedRule() *sarif.ReportingDescriptor {
	return unknownRule(NotScannedRule, "FileNotScanned", "warning",
		"A file that could not be (fully) scanned for malware",
		"The malware scanning engine could not scan the file, or not all of it (too large, over the engine's archive limits, a timeout). The file is neither clean nor infected as far as this scan knows.",
		"malware", "UNKNOWN")
}

func notScannedResult(p *malware.Problem, ruleIndex int) *sarif.Result {
	res := sarif.NewRuleResult(NotScannedRule).
		WithRuleIndex(ruleIndex).
		WithLevel("warning").
		WithMessage(sarif.NewTextMessage(p.Reason)).
		WithLocations(locations([]string{p.Path}))
	res.Properties = sarif.Properties{"path": p.Path, "layer": p.LayerDigest, "layerIndex": p.Layer, "reason": p.Reason}
	return res
}

// secretRule describes the findings of one detection rule.
func secretRule(id string, f *secrets.Finding) *sarif.ReportingDescriptor {
	short := f.Description
	if short == "" {
		short = f.RuleID
	}
	short = "Secret: " + short
	help := fmt.Sprintf("Severity: %s\nSecret detection rule: %s\nA credential of this kind is in the image, where anyone who can pull the image can read it. Rotate it, and pass it at run time instead.",
		secretSeverity, f.RuleID)
	return sarif.NewRule(id).
		WithName(f.RuleID).
		WithShortDescription(sarif.NewMultiformatMessageString(short)).
		WithFullDescription(sarif.NewMultiformatMessageString(short)).
		WithHelp(&sarif.MultiformatMessageString{Text: &help}).
		WithDefaultConfiguration(&sarif.ReportingConfiguration{Level: "error"}).
		WithProperties(sarif.Properties{"tags": []string{"secret"}, "severity": strings.ToLower(secretSeverity)})
}

// secretResult locates a secret: a layer file by its path, a
// configuration field by a "config:" URI (config:Env%5BKEY%5D).
func secretResult(f *secrets.Finding, ruleID string, ruleIndex int) *sarif.Result {
	where := secretWhere(f)
	msg := fmt.Sprintf("Secret (%s) in %s", f.RuleID, where)
	if f.Line > 0 {
		msg += fmt.Sprintf(" line %d", f.Line)
	}
	if f.Layer >= 0 {
		msg += fmt.Sprintf(" (layer %d, %s)", f.Layer, f.LayerDigest)
	}
	msg += "."
	uri := (&url.URL{Path: f.Path}).EscapedPath()
	if f.Source == secrets.SourceConfig {
		uri = "config:" + url.PathEscape(f.Path)
	}
	loc := sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewSimpleArtifactLocation(uri))
	if f.Line > 0 {
		loc = loc.WithRegion(sarif.NewRegion().WithStartLine(f.Line))
	}
	res := sarif.NewRuleResult(ruleID).
		WithRuleIndex(ruleIndex).
		WithLevel("error").
		WithMessage(sarif.NewTextMessage(msg)).
		WithLocations([]*sarif.Location{sarif.NewLocationWithPhysicalLocation(loc)})
	if f.Fingerprint != "" {
		res.PartialFingerprints = map[string]any{"secretSha256/v1": f.Fingerprint}
	}
	props := sarif.Properties{"source": f.Source, "path": f.Path}
	if f.Layer >= 0 {
		props["layer"] = f.LayerDigest
		props["layerIndex"] = f.Layer
	}
	if f.Fingerprint != "" {
		props["fingerprint"] = f.Fingerprint
	}
	res.Properties = props
	return res
}

// malwareEngine is the malware engine and its signature database as a
// tool extension.
func malwareEngine(e malware.Engine) *sarif.ToolComponent {
	c := &sarif.ToolComponent{Name: orUnknown(e.Name, "unknown malware engine"), Rules: []*sarif.ReportingDescriptor{}}
	if e.Version != "" {
		c.Version = &e.Version
	}
	props := sarif.Properties{"kind": "malware"}
	for k, v := range map[string]string{"address": e.Address, "databaseVersion": e.DatabaseVersion} {
		if v != "" {
			props[k] = v
		}
	}
	if d := timestamp(e.DatabaseDate); d != nil {
		props["databaseDate"] = *d
	} else {
		props["databaseDate"] = "unknown"
	}
	c.Properties = props
	return c
}

// secretsEngine is the secret detector and its rules as a tool extension.
func secretsEngine(e secrets.Engine) *sarif.ToolComponent {
	c := &sarif.ToolComponent{Name: orUnknown(e.Name, "unknown secret detector"), Rules: []*sarif.ReportingDescriptor{}}
	if e.Version != "" {
		c.Version = &e.Version
	}
	props := sarif.Properties{"kind": "secrets", "rules": e.Rules}
	for k, v := range map[string]string{"config": e.Config, "allowlist": e.Allowlist} {
		if v != "" {
			props[k] = v
		}
	}
	c.Properties = props
	return c
}

// scanInvocation is the run's invocation when malware or secrets were
// scanned: successful unless one of those scans ended in error, with a
// notification per reason. Nil for a vulnerability scan alone.
func scanInvocation(in Input) *sarif.Invocation {
	if in.Malware == nil && in.Secrets == nil {
		return nil
	}
	var notes []*sarif.Notification
	note := func(level, msg string) {
		notes = append(notes, &sarif.Notification{Level: level, Message: sarif.NewTextMessage(msg)})
	}
	if m := in.Malware; m != nil && m.Verdict() == malware.Error {
		if m.Error != "" {
			note("error", "malware scan failed: "+m.Error)
		}
		if n := len(m.Problems) + m.MoreProblems; n > 0 {
			note("error", fmt.Sprintf("malware scan incomplete: %d files not fully scanned", n))
		}
		if m.Error == "" && len(m.Problems)+m.MoreProblems == 0 {
			note("error", "malware scan did not complete")
		}
	}
	if s := in.Secrets; s != nil && s.Verdict() == secrets.Error {
		msg := "secret scan did not complete"
		if s.Error != "" {
			msg = "secret scan failed: " + s.Error
		}
		note("error", msg)
	}
	if m := in.Malware; m != nil {
		for _, w := range m.Warnings {
			note("warning", "malware scan: "+w)
		}
	}
	ok := true
	for _, n := range notes {
		if n.Level == "error" {
			ok = false
		}
	}
	inv := &sarif.Invocation{ExecutionSuccessful: &ok}
	if len(notes) > 0 {
		inv.ToolExecutionNotifications = notes
	}
	return inv
}

func orUnknown(s, unknown string) string {
	if s == "" {
		return unknown
	}
	return s
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
	return unknownRule(NoDataRule, "PackageNotChecked", "warning",
		"A package that could not be checked for vulnerabilities",
		"The vulnerability database has no data for the package's ecosystem, or the package's version or a record could not be evaluated. The package is neither clean nor vulnerable as far as this scan knows.",
		"vulnerability", "security", "UNKNOWN")
}

// unknownRule is a rule for what a scan could not judge: severity
// UNKNOWN, first in its help text as Ratify reads it.
func unknownRule(id, name, level, text, help string, tags ...string) *sarif.ReportingDescriptor {
	help = "Severity: UNKNOWN\n" + help
	return sarif.NewRule(id).
		WithName(name).
		WithShortDescription(sarif.NewMultiformatMessageString(text)).
		WithFullDescription(sarif.NewMultiformatMessageString(text)).
		WithHelp(&sarif.MultiformatMessageString{Text: &help}).
		WithDefaultConfiguration(&sarif.ReportingConfiguration{Level: level}).
		WithProperties(sarif.Properties{"tags": tags, "severity": "unknown"})
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
	r := vulnReport(in)
	props := sarif.Properties{
		"schemaVersion": SchemaVersion,
		"generatedAt":   in.GeneratedAt.Format("2006-01-02T15:04:05Z07:00"),
		"imageName":     in.Subject.Name,
		"scanners":      scanners(in),
		"complete":      complete(in),
		"suppressed":    len(r.Suppressed),
	}
	if m := in.Malware; m != nil {
		props["malware"] = map[string]any{"status": string(m.Verdict()), "layers": m.Layers, "files": m.Files,
			"bytes": m.Bytes, "moreProblems": m.MoreProblems}
	}
	if s := in.Secrets; s != nil {
		props["secrets"] = map[string]any{"status": string(s.Verdict()), "files": s.Files, "bytes": s.Bytes,
			"skippedLarge": s.SkippedLarge, "skippedBinary": s.SkippedBinary, "allowlisted": s.Allowlisted}
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
