package report

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cssc-project/cssc/internal/malware"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/secrets"
)

// writeTable writes the readable report: the subject and base OS, then a
// part per scanner that ran: vulnerabilities, malware, secrets.
func writeTable(w io.Writer, in Input) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }

	p("Image:    %s\n", subjectLine(in))
	if in.Report != nil || in.OS != nil {
		p("Base OS:  %s\n", osLine(in))
	}
	if in.OS != nil || in.EndOfLife != nil {
		p("Support:  %s\n", eolLine(in.EndOfLife))
	}
	if in.Report != nil {
		if err := writeVulnerabilityTable(bw, in); err != nil {
			return err
		}
	} else if len(in.Warnings) > 0 {
		p("\n")
		writeReadWarnings(bw, in.Warnings)
	}
	if in.Malware != nil {
		if err := writeMalwareTable(bw, in.Malware); err != nil {
			return err
		}
	}
	if in.Secrets != nil {
		if err := writeSecretsTable(bw, in.Secrets); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// writeVulnerabilityTable writes the findings in one aligned table grouped
// by severity (critical first), then what was not checked, what VEX
// suppressed, and the data's coverage.
func writeVulnerabilityTable(bw *bufio.Writer, in Input) error {
	r := in.Report
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p("\n")

	if len(r.Findings) == 0 {
		p("No known vulnerabilities found.\n")
	} else {
		tw := newTable(bw)
		tw.row("SEVERITY\tID\tPACKAGE\tINSTALLED\tFIXED\tLAYER")
		for i, f := range r.Findings {
			if i > 0 && f.Severity != r.Findings[i-1].Severity {
				tw.row("\t\t\t\t\t") // a blank row between groups keeps one alignment
			}
			tw.rowf("%s\t%s\t%s\t%s\t%s\t%s\n", severityCell(f), f.ID, packageCell(f.Package),
				f.Installed, orDash(f.Fixed), shortDigest(f.Layer))
		}
		if err := tw.flush(); err != nil {
			return err
		}
	}

	if len(r.Unknown) > 0 {
		p("\nNot checked (%d): no verdict is possible for these packages\n", len(r.Unknown))
		tw := newTable(bw)
		tw.row("PACKAGE\tVERSION\tECOSYSTEM\tVULNERABILITY\tREASON")
		for _, u := range r.Unknown {
			tw.rowf("%s\t%s\t%s\t%s\t%s\n", u.Package.Name, u.Package.Version, u.Package.Ecosystem, orDash(u.Vulnerability), u.Reason)
		}
		if err := tw.flush(); err != nil {
			return err
		}
	}

	if len(r.Suppressed) > 0 {
		p("\nSuppressed by VEX (%d)\n", len(r.Suppressed))
		tw := newTable(bw)
		tw.row("ID\tPACKAGE\tSEVERITY\tSTATUS\tREASON\tDOCUMENT")
		for _, s := range r.Suppressed {
			tw.rowf("%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, packageCell(s.Package), severityCell(s.Finding),
				s.Status, orDash(vexReason(s)), s.Document)
		}
		if err := tw.flush(); err != nil {
			return err
		}
	}

	if len(r.NotMatchable) > 0 {
		p("\nNo vulnerability data exists for (%d)\n", len(r.NotMatchable))
		tw := newTable(bw)
		tw.row("PACKAGE\tVERSION\tLOCATION\tREASON")
		for _, u := range r.NotMatchable {
			tw.rowf("%s\t%s\t%s\t%s\n", u.Package.Name, u.Package.Version, orDash(first(u.Locations)), u.Reason)
		}
		if err := tw.flush(); err != nil {
			return err
		}
	}

	p("\nVulnerability data\n")
	if len(r.Coverage) == 0 {
		p("(no packages with an OSV ecosystem)\n")
	} else {
		tw := newTable(bw)
		tw.row("ECOSYSTEM\tPACKAGES\tCOVERED\tIMPORTED\tNEWEST RECORD")
		for _, c := range r.Coverage {
			covered := "yes"
			if !c.Covered {
				covered = "NO: " + c.Reason
			}
			tw.rowf("%s\t%d\t%s\t%s\t%s\n", c.Ecosystem, c.Packages, covered,
				ageCell(c.ImportedAt, in.GeneratedAt), ageCell(c.Newest, in.GeneratedAt))
		}
		if err := tw.flush(); err != nil {
			return err
		}
	}

	if len(in.Warnings) > 0 {
		p("\n")
		writeReadWarnings(bw, in.Warnings)
	}
	p("\n%s\n", summaryLine(r))
	return nil
}

func writeReadWarnings(bw *bufio.Writer, warnings []string) {
	fmt.Fprintf(bw, "Files that could not be read for packages (what they hold is not in this report):\n")
	for _, w := range warnings {
		fmt.Fprintf(bw, "  %s\n", w)
	}
}

// writeMalwareTable writes the malware part: the verdict and the engine it
// rests on, what was scanned, the detections, the files not fully scanned,
// and why the scan failed.
func writeMalwareTable(bw *bufio.Writer, m *malware.Result) error {
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	status := m.Verdict()
	p("\nMalware: %s — %s\n", status, malwareEngineLine(m.Engine))
	notScanned := len(m.Problems) + m.MoreProblems
	counts := fmt.Sprintf("Scanned %s, %s (%s): %d found", count(m.Layers, "layer"), count(int(m.Files), "file"), sizeCell(m.Bytes), len(m.Findings))
	if notScanned > 0 {
		counts += fmt.Sprintf(", %d not fully scanned", notScanned)
	}
	p("%s\n", counts)
	if len(m.Findings) > 0 {
		tw := newTable(bw)
		tw.row("LAYER\tPATH\tSIGNATURE")
		for _, f := range m.Findings {
			tw.rowf("%s\t%s\t%s\n", shortDigest(f.LayerDigest), f.Path, f.Signature)
		}
		if err := tw.flush(); err != nil {
			return err
		}
	}
	if notScanned > 0 {
		p("\nNot fully scanned (%d): no malware verdict is possible for these files\n", notScanned)
		if len(m.Problems) > 0 {
			tw := newTable(bw)
			tw.row("LAYER\tPATH\tREASON")
			for _, pr := range m.Problems {
				tw.rowf("%s\t%s\t%s\n", shortDigest(pr.LayerDigest), pr.Path, pr.Reason)
			}
			if err := tw.flush(); err != nil {
				return err
			}
		}
		if m.MoreProblems > 0 {
			p("and %d more files not listed\n", m.MoreProblems)
		}
	}
	if len(m.Warnings) > 0 || status == malware.Error {
		p("\n")
	}
	for _, w := range m.Warnings {
		p("Warning: %s\n", w)
	}
	if status == malware.Error {
		p("ERROR: %s\n", malwareErrorLine(m))
	}
	return nil
}

// malwareEngineLine names the engine and its database, e.g. "ClamAV
// 1.4.6, database 27470 (2026-11-30)".
func malwareEngineLine(e malware.Engine) string {
	if e == (malware.Engine{Address: e.Address}) {
		return "engine unknown"
	}
	s := orUnknown(e.Name, "engine unknown")
	if e.Version != "" {
		s += " " + e.Version
	}
	switch d := date(e.DatabaseDate); {
	case e.DatabaseVersion != "" && d != nil:
		s += ", database " + e.DatabaseVersion + " (" + *d + ")"
	case e.DatabaseVersion != "":
		s += ", database " + e.DatabaseVersion + ", database date unknown"
	case d != nil:
		s += ", database of " + *d
	default:
		s += ", database date unknown"
	}
	return s
}

// malwareErrorLine says why a malware scan is an error.
func malwareErrorLine(m *malware.Result) string {
	switch {
	case m.Error != "":
		return "malware scan failed: " + m.Error
	case len(m.Problems)+m.MoreProblems > 0:
		return fmt.Sprintf("malware scan incomplete: %d files not fully scanned; the image is not known to be clean",
			len(m.Problems)+m.MoreProblems)
	}
	return "malware scan did not complete; the image is not known to be clean"
}

// writeSecretsTable writes the secrets part: the verdict and the rules it
// rests on, what was scanned, and the secrets found (never their values).
func writeSecretsTable(bw *bufio.Writer, s *secrets.Result) error {
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	status := s.Verdict()
	p("\nSecrets: %s — %s\n", status, secretsEngineLine(s.Engine))
	counts := fmt.Sprintf("Scanned %s (%s): %d found", count(int(s.Files), "file"), sizeCell(s.Bytes), len(s.Findings))
	if s.Allowlisted > 0 {
		counts += fmt.Sprintf(", %d allowlisted", s.Allowlisted)
	}
	if s.SkippedLarge > 0 {
		counts += fmt.Sprintf(", %d files over the size limit not scanned", s.SkippedLarge)
	}
	if s.SkippedBinary > 0 {
		counts += fmt.Sprintf(", %d binary files not scanned", s.SkippedBinary)
	}
	p("%s\n", counts)
	if len(s.Findings) > 0 {
		tw := newTable(bw)
		tw.row("RULE\tPATH\tLAYER\tLINE\tFINGERPRINT")
		for i := range s.Findings {
			f := &s.Findings[i]
			line := "-"
			if f.Line > 0 {
				line = fmt.Sprint(f.Line)
			}
			tw.rowf("%s\t%s\t%s\t%s\t%s\n", f.RuleID, secretWhere(f), shortDigest(f.LayerDigest), line, orDash(f.Fingerprint))
		}
		if err := tw.flush(); err != nil {
			return err
		}
	}
	if status == secrets.Error {
		msg := "secret scan did not complete; the image is not known to be free of secrets"
		if s.Error != "" {
			msg = "secret scan failed: " + s.Error
		}
		p("\nERROR: %s\n", msg)
	}
	if s.MoreFindings > 0 {
		p("and %d more findings not listed\n", s.MoreFindings)
	}
	return nil
}

// secretsEngineLine names the detector and its rules, e.g. "gitleaks
// v8.30.1, 222 rules".
func secretsEngineLine(e secrets.Engine) string {
	s := orUnknown(e.Name, "detector unknown")
	if e.Version != "" {
		s += " " + e.Version
	}
	s += fmt.Sprintf(", %d rules", e.Rules)
	if e.Config != "" {
		s += ", config " + e.Config
	}
	if e.Allowlist != "" {
		s += ", allowlist " + e.Allowlist
	}
	return s
}

// sizeCell shows a byte count in binary units: "512 B", "1.5 KiB".
func sizeCell(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func subjectLine(in Input) string {
	s := in.Subject.Name
	if s == "" {
		s = "(unnamed)"
	}
	if in.Subject.Digest != "" {
		s += " (" + in.Subject.Digest + ")"
	}
	if in.Subject.Platform != "" {
		s += " " + in.Subject.Platform
	}
	return s
}

func osLine(in Input) string {
	if in.OS == nil {
		return "unknown (no /etc/os-release)"
	}
	if in.OS.PrettyName != "" {
		return in.OS.PrettyName
	}
	return strings.TrimSpace(in.OS.ID + " " + in.OS.VersionID)
}

func eolLine(e *EndOfLife) string {
	if e == nil || e.Status == EOLUnknown || e.Status == "" {
		return "end of life unknown"
	}
	var s string
	switch e.Status {
	case EOLEnded:
		s = "END OF LIFE"
		if !e.Date.IsZero() {
			s += ": security support ended " + e.Date.UTC().Format(time.DateOnly)
		}
	case EOLNear:
		s = "near end of life"
		if !e.Date.IsZero() {
			s += ": security support ends " + e.Date.UTC().Format(time.DateOnly)
		}
	default:
		s = "supported"
		if !e.Date.IsZero() {
			s += " until " + e.Date.UTC().Format(time.DateOnly)
		}
	}
	if e.Warning != "" {
		s += " (warning: " + e.Warning + ")"
	}
	return s
}

func severityCell(f match.Finding) string {
	s := strings.ToUpper(string(f.Severity))
	if f.Vector != "" {
		s += fmt.Sprintf(" (%.1f)", f.Score)
	}
	return s
}

func packageCell(p match.PackageRef) string {
	if p.SourceName != "" && p.SourceName != p.Name {
		return p.Name + " (" + p.SourceName + ")"
	}
	return p.Name
}

func vexReason(s match.Suppressed) string {
	parts := []string{}
	for _, v := range []string{s.Justification, s.ImpactStatement, s.StatusNotes} {
		if v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, ": ")
}

// shortDigest shortens "sha256:<64 hex>" to "sha256:<12 hex>".
func shortDigest(d string) string {
	if d == "" {
		return "-"
	}
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return algo + ":" + hex[:12]
}

// ageCell shows a time as a date and its age at now.
func ageCell(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateOnly) + " (" + age(now.Sub(t)) + ")"
}

func age(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Hour:
		return "less than an hour old"
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh old", int(d.Hours()))
	}
	return fmt.Sprintf("%dd old", int(d.Hours()/24))
}

func summaryLine(r *match.Report) string {
	c := r.Counts()
	s := fmt.Sprintf("Total: %d (critical %d, high %d, medium %d, low %d, ", len(r.Findings),
		c[match.SeverityCritical], c[match.SeverityHigh], c[match.SeverityMedium], c[match.SeverityLow])
	if n := c[match.SeverityNone]; n > 0 {
		s += fmt.Sprintf("none %d, ", n)
	}
	s += fmt.Sprintf("unknown severity %d)", c[match.SeverityUnknown])
	if len(r.Suppressed) > 0 {
		s += fmt.Sprintf(", %d suppressed", len(r.Suppressed))
	}
	if r.Incomplete() {
		s += fmt.Sprintf("\nINCOMPLETE: %d packages or records could not be checked", len(r.Unknown))
		if r.AllowMissing {
			s += " (allowed by --allow-missing-data)"
		}
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// table aligns rows in columns with text/tabwriter and trims the padding
// that would trail the last column.
type table struct {
	out io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(out io.Writer) *table {
	t := &table{out: out}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

func (t *table) row(s string) { fmt.Fprintln(t.tw, s) }

func (t *table) rowf(format string, args ...any) { fmt.Fprintf(t.tw, format, args...) }

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	for _, line := range strings.SplitAfter(t.buf.String(), "\n") {
		trimmed := strings.TrimRight(line, " \n")
		if strings.HasSuffix(line, "\n") {
			trimmed += "\n"
		}
		if _, err := io.WriteString(t.out, trimmed); err != nil {
			return err
		}
	}
	return nil
}

// count writes "1 file", "2 files".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
