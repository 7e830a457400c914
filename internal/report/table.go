package report

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cssc-project/cssc/internal/match"
)

// writeTable writes the readable report: the subject and base OS, the
// findings in one aligned table grouped by severity (critical first), then
// what was not checked, what VEX suppressed, and the data's coverage.
func writeTable(w io.Writer, in Input) error {
	r := in.Report
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }

	p("Image:    %s\n", subjectLine(in))
	p("Base OS:  %s\n", osLine(in))
	if in.OS != nil || in.EndOfLife != nil {
		p("Support:  %s\n", eolLine(in.EndOfLife))
	}
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
		p("\nFiles that could not be read for packages (what they hold is not in this report):\n")
		for _, w := range in.Warnings {
			p("  %s\n", w)
		}
	}
	p("\n%s\n", summaryLine(r))
	return bw.Flush()
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
