package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/openvex/go-vex/pkg/vex"
	"github.com/ossf/osv-schema/bindings/go/osvschema"
	"github.com/spf13/cobra"

	"github.com/cssc-project/cssc/internal/eol"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/report"
	"github.com/cssc-project/cssc/internal/version"
	"github.com/cssc-project/cssc/internal/vulndb"
)

func newScanCmd(g *globals) *cobra.Command {
	var (
		img          imageFlags
		format       string
		out          string
		failOn       string
		vexFiles     []string
		sbomFile     string
		dbDir        string
		allowMissing bool
		toolName     string
	)
	cmd := &cobra.Command{
		Use:   "scan [IMAGE]",
		Short: "Scan an image (or a stored SBOM) for known vulnerabilities",
		Long: `scan lists the known vulnerabilities of an image's packages, from the OSV
records in the local database (cssc db import / cssc db update), with
ecosystem-correct version comparison, severities, fixed versions, the file and
layer of each package, and the base OS's end of life.

` + imageRefHelp + `

With --sbom, the packages come from an SPDX or CycloneDX JSON document instead:
a rescan needs no image.

Exit codes: 0 nothing found (or nothing at or above --fail-on), 1 findings (at
or above --fail-on), 2 an error — including packages that could not be judged
because the database has no data for their ecosystem, unless
--allow-missing-data is given. A scan never reports "clean" on an error.`,
		Example: `  cssc db import debian-all.zip go-all.zip
  cssc scan registry.example.com/team/app:1.4
  cssc scan oci:./layout --fail-on high --format sarif -o app.sarif
  cssc scan --sbom app.spdx.json --vex app.openvex.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case sbomFile != "" && len(args) > 0:
				return fmt.Errorf("give either an IMAGE or --sbom, not both")
			case sbomFile == "" && len(args) != 1:
				return fmt.Errorf("scan needs an IMAGE (or --sbom FILE)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if !isReportFormat(format) {
				return fmt.Errorf("unknown report format %q (want table, json or sarif)", format)
			}
			if failOn != "" {
				if _, err := match.ParseThreshold(failOn); err != nil {
					return fmt.Errorf("--fail-on: %w", err)
				}
			}
			vexDocs, err := readVEX(vexFiles)
			if err != nil {
				return err
			}
			if dbDir, err = resolveDBDir(dbDir); err != nil {
				return err
			}
			db, err := vulndb.Open(ctx, dbDir)
			if err != nil {
				return err
			}
			defer func() { _ = db.Close() }()
			table, err := eol.Load(dbDir)
			if err != nil {
				return err
			}

			var invs []inventory.Inventory
			if sbomFile != "" {
				inv, err := readSBOMFile(sbomFile)
				if err != nil {
					return err
				}
				invs = []inventory.Inventory{inv}
			} else if invs, err = img.inventories(ctx, g, args[0]); err != nil {
				return err
			}

			now := time.Now()
			src := dbSource{db}
			var ins []report.Input
			for _, inv := range invs {
				rep, err := match.Run(ctx, src, inv, match.Options{VEX: vexDocs, AllowMissing: allowMissing})
				if err != nil {
					return fmt.Errorf("scan %s: %w", subjectName(inv), err)
				}
				in := report.Input{Report: rep, Subject: inv.Subject, OS: inv.OS, GeneratedAt: now, Warnings: inv.Warnings,
					Tool: report.Tool{Name: toolName, Version: version.Version, InformationURI: "https://github.com/cssc-project/cssc"}}
				if inv.OS != nil {
					in.EndOfLife = endOfLife(table.Lookup(*inv.OS, now))
				}
				ins = append(ins, in)
			}
			w, done, err := output(g, out)
			if err != nil {
				return err
			}
			if err := report.WriteAll(w, format, ins); err != nil {
				_ = done(false)
				return err
			}
			if err := done(true); err != nil {
				return err
			}
			return scanVerdict(g, ins, failOn, allowMissing)
		},
	}
	img.register(cmd.Flags())
	f := cmd.Flags()
	f.StringVar(&format, "format", report.FormatTable, "table, json or sarif")
	f.StringVarP(&out, "output", "o", "", "write the report to this file instead of standard output")
	f.StringVar(&failOn, "fail-on", "", "exit 1 only for findings of this severity or higher: critical, high, medium or low (default: any finding)")
	f.StringArrayVar(&vexFiles, "vex", nil, "OpenVEX document whose not_affected and fixed statements suppress findings (repeatable)")
	f.StringVar(&sbomFile, "sbom", "", "scan the packages of this SPDX or CycloneDX JSON file instead of an image")
	dbDirFlag(f, &dbDir)
	f.BoolVar(&allowMissing, "allow-missing-data", false, "do not fail (exit 2) when the database has no data for some packages' ecosystems (they are still listed as unknown)")
	f.StringVar(&toolName, "sarif-tool-name", "cssc", "scanner name written in SARIF reports (Ratify's severity check only accepts \"trivy\" or \"grype\")")
	return cmd
}

func isReportFormat(f string) bool {
	return f == report.FormatTable || f == report.FormatJSON || f == report.FormatSARIF
}

// scanVerdict turns the reports into the exit status: 2 when a report is
// incomplete (unless allowed), 1 for findings at or above failOn (any
// finding without it), else 0.
func scanVerdict(g *globals, ins []report.Input, failOn string, allowMissing bool) error {
	var unknown, findings, above int
	for _, in := range ins {
		r := in.Report
		unknown += len(r.Unknown)
		findings += len(r.Findings)
		if failOn == "" {
			above += len(r.Findings)
		} else if r.Exceeds(failOn) {
			above++
		}
	}
	if unknown > 0 && !allowMissing {
		return &exitError{code: 2, err: fmt.Errorf("%d package(s) could not be judged (no vulnerability data for their ecosystem, or versions that could not be compared): the image is not known to be clean; see the report's unknown section, run cssc db update, or accept with --allow-missing-data", unknown)}
	}
	if above > 0 {
		msg := fmt.Sprintf("%d vulnerabilit%s found", findings, plural(findings, "y", "ies"))
		if failOn != "" {
			msg += " (some at or above " + failOn + ")"
		}
		return &exitError{code: 1, err: errors.New(msg)}
	}
	if findings > 0 {
		g.log.Info("vulnerabilities found, all below the --fail-on threshold", "findings", findings, "fail-on", failOn)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func subjectName(inv inventory.Inventory) string {
	if inv.Subject.Platform != "" {
		return inv.Subject.Name + " (" + inv.Subject.Platform + ")"
	}
	return inv.Subject.Name
}

// endOfLife turns the table's answer into the report's.
func endOfLife(st eol.Status) *report.EndOfLife {
	if !st.Known {
		return &report.EndOfLife{Status: report.EOLStatus(eol.Unknown)}
	}
	e := &report.EndOfLife{Status: report.EOLStatus(st.State), Date: st.EOL}
	if st.SupportEnded && st.State != eol.EOL {
		e.Warning = fmt.Sprintf("regular support ended %s; security support continues (LTS) until %s",
			st.SupportEnds.Format(time.DateOnly), dateOrUnknown(st.EOL))
	}
	return e
}

func dateOrUnknown(t time.Time) string {
	if t.IsZero() {
		return "an unknown date"
	}
	return t.Format(time.DateOnly)
}

func readVEX(paths []string) ([]*vex.VEX, error) {
	var out []*vex.VEX
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("read VEX: %w", err)
		}
		doc, err := match.ParseVEX(f)
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("read VEX %s: %w", p, err)
		}
		out = append(out, doc)
	}
	return out, nil
}

// dbSource shows the vulnerability database to the matcher.
type dbSource struct{ db *vulndb.DB }

func (s dbSource) Vulnerabilities(ctx context.Context, ecosystem, name string) ([]*osvschema.Vulnerability, error) {
	return s.db.Vulnerabilities(ctx, ecosystem, name)
}

func (s dbSource) Coverage(ecosystem string) match.Coverage {
	c := s.db.Coverage(ecosystem)
	return match.Coverage{Covered: c.Covered(), Reason: c.Reason(), ImportedAt: c.ImportedAt, Newest: c.Newest}
}
