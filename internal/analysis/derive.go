package analysis

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/cssc-project/cssc/internal/eol"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/policy"
	"github.com/cssc-project/cssc/internal/report"
	"github.com/cssc-project/cssc/internal/risk"
	"github.com/cssc-project/cssc/internal/sbom"
)

// RiskInput is the evidence the risk score is computed from: the
// analysis's, with the signature state and whether a provenance
// attestation is attached, which the analysis does not know. Known
// exploitation is not known either (no such data): no finding counts as
// exploited.
func (p Platform) RiskInput(sig risk.Signature, provenance bool) risk.Input {
	return risk.Input{
		Vulns:      risk.VulnsFrom(p.Vulns, nil),
		Malware:    risk.ScanFromMalware(p.Malware),
		Secrets:    risk.ScanFromSecrets(p.Secrets),
		Config:     risk.Config{User: p.User, ExposedPorts: p.ExposedPorts},
		Signature:  sig,
		Provenance: provenance,
		Created:    p.Created,
		OS:         p.riskOS(),
	}
}

// riskOS is risk.OSFrom on the status stored at analysis time.
func (p Platform) riskOS() risk.OS {
	if p.Inventory.OS == nil || p.OS == nil {
		return risk.OS{State: risk.LifecycleNone}
	}
	st := p.OS
	out := risk.OS{Name: p.Inventory.OS.PrettyName, EOL: st.EOL}
	if st.Distro != "" && st.Release != "" {
		out.Name = st.Distro + " " + st.Release
	}
	switch st.State {
	case eol.Supported:
		out.State = risk.LifecycleSupported
	case eol.NearEOL:
		out.State = risk.LifecycleNearEOL
	case eol.EOL:
		out.State = risk.LifecycleEOL
	default:
		out.State = risk.LifecycleUnknown
	}
	return out
}

// PolicyFindings are the analysis's findings as the policy reads them
// (docs/POLICY.md). They fail closed: a scan that did not complete, or
// whose result is not consistent with its status, is "error"; a scan
// that did not run has an empty status; vulnerability data is complete
// only when matching ran and judged every package.
func (p Platform) PolicyFindings() policy.Findings {
	var f policy.Findings
	if r := p.Vulns; r != nil {
		for _, v := range r.Findings {
			pv := policy.Vulnerability{
				ID: v.ID, Aliases: v.Aliases, Upstream: v.Upstream,
				Package: v.Package.Name, Version: v.Package.Version, Ecosystem: v.Package.Ecosystem,
				Severity: string(v.Severity),
			}
			if v.Fixed != "" {
				pv.Fixed, pv.FixAvailable = []string{v.Fixed}, true
			}
			f.Vulnerabilities = append(f.Vulnerabilities, pv)
		}
		f.VulnerabilityData = vulnerabilityData(r)
	}
	if m := p.Malware; m != nil {
		f.Malware.Status = string(m.Verdict())
		for _, x := range m.Findings {
			f.Malware.Findings = append(f.Malware.Findings, policy.MalwareFinding{Path: x.Path, Layer: x.Layer, Signature: x.Signature})
		}
	}
	if s := p.Secrets; s != nil {
		f.Secrets.Status = string(s.Verdict())
		f.Secrets.Count = len(s.Findings) + s.MoreFindings
		for _, x := range s.Findings {
			f.Secrets.Rules = append(f.Secrets.Rules, x.RuleID)
		}
		slices.Sort(f.Secrets.Rules)
		f.Secrets.Rules = slices.Compact(f.Secrets.Rules)
	}
	return f
}

// vulnerabilityData says how complete the matching was: the ecosystems
// the database has no data for are uncovered; packages it has data for
// but could not judge (a version that cannot be ordered) make it
// incomplete too.
func vulnerabilityData(r *match.Report) policy.VulnerabilityData {
	var d policy.VulnerabilityData
	for _, c := range r.Coverage {
		if !c.Covered {
			d.Uncovered = append(d.Uncovered, c.Ecosystem)
		}
	}
	slices.Sort(d.Uncovered)
	d.Uncovered = slices.Compact(d.Uncovered)
	d.Complete = len(d.Uncovered) == 0 && !r.Incomplete()
	return d
}

// PolicyBaseOS is the base OS as the policy reads it. An image without
// os-release, or an OS the end-of-life table does not know, is
// "unknown".
func (p Platform) PolicyBaseOS() policy.BaseOS {
	b := policy.BaseOS{State: string(eol.Unknown)}
	os := p.Inventory.OS
	if os == nil {
		return b
	}
	b.Name, b.Version = os.ID, os.VersionID
	if st := p.OS; st != nil {
		if st.Distro != "" {
			b.Name = st.Distro
		}
		if st.Release != "" {
			b.Version = st.Release
		}
		b.EOL = st.EOL
		if st.State != "" {
			b.State = string(st.State)
		}
	}
	return b
}

// PolicyImage identifies the platform image for the policy: reference
// and repository are where the pipeline holds it.
func (p Platform) PolicyImage(reference, repository string) policy.Image {
	return policy.Image{
		Reference: reference, Digest: p.Digest, Repository: repository,
		Platform: p.Platform, Created: p.Created, Labels: p.Labels,
	}
}

// SBOM encodes the inventory as an SPDX 2.3 (sbom.FormatSPDXJSON) or
// CycloneDX 1.6 (sbom.FormatCycloneDXJSON) JSON document created at
// AnalysedAt: the same Platform gives the same bytes.
func (p Platform) SBOM(f sbom.Format) ([]byte, error) {
	if f != sbom.FormatSPDXJSON && f != sbom.FormatCycloneDXJSON {
		return nil, fmt.Errorf("encode the SBOM of %s: format %q: want %s or %s", p.Digest, f, sbom.FormatSPDXJSON, sbom.FormatCycloneDXJSON)
	}
	var buf bytes.Buffer
	if err := sbom.Encode(&buf, p.Inventory, f, sbom.Options{Time: p.AnalysedAt}); err != nil {
		return nil, fmt.Errorf("encode the SBOM of %s: %w", p.Digest, err)
	}
	return buf.Bytes(), nil
}

// SARIF is the SARIF 2.1.0 report of the scans that ran (vulnerabilities,
// malware and secrets in one run), as `cssc scan --all --format sarif`
// writes it, generated at AnalysedAt.
func (p Platform) SARIF(tool report.Tool) ([]byte, error) {
	return p.write(report.FormatSARIF, tool)
}

// ReportJSON is the JSON report of the scans that ran
// (docs/scan-report.md), as `cssc scan --format json` writes it,
// generated at AnalysedAt.
func (p Platform) ReportJSON(tool report.Tool) ([]byte, error) {
	return p.write(report.FormatJSON, tool)
}

func (p Platform) write(format string, tool report.Tool) ([]byte, error) {
	var buf bytes.Buffer
	if err := report.Write(&buf, format, p.reportInput(tool)); err != nil {
		return nil, fmt.Errorf("report on %s: %w", p.Digest, err)
	}
	return buf.Bytes(), nil
}

// reportInput is what the report writers show, as cssc scan builds it.
func (p Platform) reportInput(tool report.Tool) report.Input {
	in := report.Input{
		Report: p.Vulns, Malware: p.Malware, Secrets: p.Secrets,
		Subject: p.Inventory.Subject, Tool: tool, GeneratedAt: p.AnalysedAt,
	}
	if p.Vulns != nil {
		// The base OS, its end of life and the inventory's gaps belong to
		// the vulnerability scan.
		in.OS, in.Warnings = p.Inventory.OS, p.Inventory.Warnings
		if p.OS != nil {
			in.EndOfLife = endOfLife(*p.OS)
		}
	}
	return in
}

// endOfLife turns the table's answer into the report's (as cssc scan
// does).
func endOfLife(st eol.Status) *report.EndOfLife {
	if !st.Known {
		return &report.EndOfLife{Status: report.EOLUnknown}
	}
	e := &report.EndOfLife{Status: report.EOLStatus(st.State), Date: st.EOL}
	if st.SupportEnded && st.State != eol.EOL {
		until := "an unknown date"
		if !st.EOL.IsZero() {
			until = st.EOL.Format(time.DateOnly)
		}
		e.Warning = fmt.Sprintf("regular support ended %s; security support continues (LTS) until %s",
			st.SupportEnds.Format(time.DateOnly), until)
	}
	return e
}
