// Package report renders a vulnerability scan (a match.Report and what was
// scanned) as a readable table, as JSON with a stable documented schema
// (docs/scan-report.md) or as SARIF 2.1.0 that Ratify's vulnerability
// report verifier can evaluate.
package report

import (
	"fmt"
	"io"
	"time"

	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/match"
)

// The output formats.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatSARIF = "sarif"
)

// Formats lists the formats Write accepts.
func Formats() []string { return []string{FormatTable, FormatJSON, FormatSARIF} }

// Input is everything a report shows.
type Input struct {
	Report  *match.Report
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
		if in.Report == nil {
			return fmt.Errorf("write %s report: no scan result", format)
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
