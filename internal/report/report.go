// Package report renders the scans of an image (vulnerabilities as a
// match.Report, malware as a malware.Result, secrets as a secrets.Result,
// any combination of them) as a readable table, as JSON with a stable
// documented schema (docs/scan-report.md) or as SARIF 2.1.0 that Ratify's
// vulnerability report verifier can evaluate.
package report

import (
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/malware"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/secrets"
)

// The output formats.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatSARIF = "sarif"
)

// Formats lists the formats Write accepts.
func Formats() []string { return []string{FormatTable, FormatJSON, FormatSARIF} }

// Input is everything a report shows. At least one of Report, Malware and
// Secrets is set.
type Input struct {
	// Report is the vulnerability scan; nil when vulnerabilities were not
	// scanned.
	Report *match.Report
	// Malware is the malware scan; nil when not scanned.
	Malware *malware.Result
	// Secrets is the secret scan; nil when not scanned.
	Secrets *secrets.Result
	Subject inventory.Subject
	// OS is the image's base operating system; nil when unknown.
	OS *inventory.OS
	// EndOfLife is the base OS release's support status; nil when not
	// known (no OS, or a release the end-of-life table lacks).
	EndOfLife *EndOfLife
	// Tool names the scanner; Name defaults to "cssc". It is the SARIF
	// driver name that Ratify checks against its scanner list.
	Tool Tool
	// GeneratedAt is when the scan ran (data ages are relative to it);
	// the current time when zero.
	GeneratedAt time.Time
	// Warnings are files of the image that could not be read for packages
	// (the inventory's warnings): the report may lack what they hold.
	Warnings []string
}

// Tool names the scanner.
type Tool struct {
	Name           string
	Version        string
	InformationURI string
}

// EOLStatus is where a release stands in its support life; the values
// are internal/eol's states.
type EOLStatus string

// The end-of-life statuses.
const (
	// EOLSupported: security support (LTS included) continues.
	EOLSupported EOLStatus = "supported"
	// EOLNear: security support ends soon (the end-of-life table decides
	// how soon is near).
	EOLNear EOLStatus = "near-eol"
	// EOLEnded: security support, LTS included, has ended.
	EOLEnded EOLStatus = "eol"
	// EOLUnknown: the release is not in the end-of-life table.
	EOLUnknown EOLStatus = "unknown"
)

// EndOfLife is the base OS release's support status.
type EndOfLife struct {
	Status EOLStatus
	// Date is the end of free security support, LTS included; zero when
	// not known.
	Date time.Time
	// Warning is a note short of end of life, e.g. "regular security
	// support ended 2024-06-10; LTS only".
	Warning string
}

// Write renders in as format ("table", "json" or "sarif") to w.
func Write(w io.Writer, format string, in Input) error {
	return WriteAll(w, format, []Input{in})
}

// WriteAll writes the reports of several platforms of one image as one
// document: the table shows them one after the other; JSON is, for more
// than one, an object with a "platforms" list of reports (one report
// alone is written as Write writes it); SARIF has one run per platform.
func WriteAll(w io.Writer, format string, ins []Input) error {
	if len(ins) == 0 {
		return fmt.Errorf("write %s report: no scan result", format)
	}
	for i := range ins {
		in := &ins[i]
		if in.Report == nil && in.Malware == nil && in.Secrets == nil {
			return fmt.Errorf("write %s report: no scan result", format)
		}
		if err := checkFingerprints(in.Secrets); err != nil {
			return fmt.Errorf("write %s report: %w", format, err)
		}
		if in.Tool.Name == "" {
			in.Tool.Name = "cssc"
		}
		if in.GeneratedAt.IsZero() {
			in.GeneratedAt = time.Now()
		}
		in.GeneratedAt = in.GeneratedAt.UTC()
	}
	var err error
	switch format {
	case FormatTable:
		for i, in := range ins {
			if i > 0 {
				if _, err = fmt.Fprintln(w); err != nil {
					break
				}
			}
			if err = writeTable(w, in); err != nil {
				break
			}
		}
	case FormatJSON:
		if len(ins) == 1 {
			err = writeJSON(w, ins[0])
		} else {
			err = writeJSONIndex(w, ins)
		}
	case FormatSARIF:
		err = writeSARIF(w, ins...)
	default:
		return fmt.Errorf("report format %q: want table, json or sarif", format)
	}
	if err != nil {
		return fmt.Errorf("write %s report: %w", format, err)
	}
	return nil
}

// The scanner names, as the JSON report's "scanners" lists them.
const (
	ScannerVulnerabilities = "vulnerabilities"
	ScannerMalware         = "malware"
	ScannerSecrets         = "secrets"
)

// scanners lists the scanners that ran, in a fixed order.
func scanners(in Input) []string {
	out := []string{}
	if in.Report != nil {
		out = append(out, ScannerVulnerabilities)
	}
	if in.Malware != nil {
		out = append(out, ScannerMalware)
	}
	if in.Secrets != nil {
		out = append(out, ScannerSecrets)
	}
	return out
}

// complete reports whether every scanner that ran completed: the
// vulnerability scan checked every package (match.Report.Incomplete, which
// --allow-missing-data does not change) and the malware and secret scans
// ended in a verdict other than error. A scanner that did not run does not
// count.
func complete(in Input) bool {
	if in.Report != nil && in.Report.Incomplete() {
		return false
	}
	if in.Malware != nil && in.Malware.Verdict() == malware.Error {
		return false
	}
	if in.Secrets != nil && in.Secrets.Verdict() == secrets.Error {
		return false
	}
	return true
}

// vulnReport is the vulnerability scan, or an empty one when
// vulnerabilities were not scanned, so the renderers' vulnerability parts
// show nothing found and nothing unchecked.
func vulnReport(in Input) *match.Report {
	if in.Report == nil {
		return &match.Report{}
	}
	return in.Report
}

// fingerprintRE is the form secrets.Finding.Fingerprint documents.
var fingerprintRE = regexp.MustCompile(`^sha256:[0-9a-f]{16}$`)

// checkFingerprints refuses a secret finding whose fingerprint is not of
// the documented form: anything else could be (or reveal more of) the
// secret, and a report must never carry one. The error does not quote it.
func checkFingerprints(s *secrets.Result) error {
	if s == nil {
		return nil
	}
	for i, f := range s.Findings {
		if f.Fingerprint != "" && !fingerprintRE.MatchString(f.Fingerprint) {
			return fmt.Errorf("secret finding %d (%s in %s): fingerprint is not \"sha256:\" and 16 hex digits", i, f.RuleID, f.Path)
		}
	}
	return nil
}

// secretWhere names where a secret is: a layer file's path, or the
// configuration field prefixed with "config:" ("config:Env[API_TOKEN]").
func secretWhere(f *secrets.Finding) string {
	if f.Source == secrets.SourceConfig {
		return "config:" + f.Path
	}
	return f.Path
}
