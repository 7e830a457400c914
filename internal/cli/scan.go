package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/openvex/go-vex/pkg/vex"
	"github.com/spf13/cobra"

	"github.com/cssc-project/cssc/internal/analysis"
	"github.com/cssc-project/cssc/internal/eol"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/layerscan"
	"github.com/cssc-project/cssc/internal/malware"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/report"
	"github.com/cssc-project/cssc/internal/secrets"
	"github.com/cssc-project/cssc/internal/version"
	"github.com/cssc-project/cssc/internal/vulndb"
)

func newScanCmd(g *globals) *cobra.Command {
	var (
		img          imageFlags
		content      contentFlags
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
		Short: "Scan an image (or a stored SBOM) for vulnerabilities, malware and secrets",
		Long: `scan checks an image for known vulnerabilities (--vulns, the default), for
malware with ClamAV's clamd (--malware), for leaked credentials (--secrets), or
all three (--all), and writes one report.

Vulnerabilities come from the OSV records in the local database (cssc db import
/ cssc db update), with ecosystem-correct version comparison, severities, fixed
versions, the file and layer of each package, and the base OS's end of life.

Malware: every file of every layer is sent to clamd (INSTREAM) — a file
deleted in a later layer still ships in the image and is reported with its
layer. clamd unpacks archives itself; it must run with "AlertExceedsMax yes"
and "AlertEncrypted yes" (cssc checks both with two small probes before each
scan), so a file over its limits or encrypted is reported ("not scanned", an
error) instead of passing silently. A signature database older than
--clamd-max-age is an error.

Secrets: text files up to --secrets-max-size in every layer, and the image
configuration (Env, Labels, Cmd, history), with gitleaks' rules. Reports name
the rule, file, layer and line and a fingerprint, never the secret.

` + imageRefHelp + `

With --sbom, the packages come from an SPDX or CycloneDX JSON document instead:
a rescan needs no image (vulnerabilities only).

Exit codes: 0 nothing found (or nothing at or above --fail-on), 1 findings
(vulnerabilities at or above --fail-on, any malware, any secret), 2 an error —
clamd unreachable or failing, a file not fully scanned, a stale signature
database, or packages that could not be judged because the database has no
data for their ecosystem (unless --allow-missing-data). A scan never reports
"clean" on an error.`,
		Example: `  cssc db import debian-all.zip go-all.zip
  cssc scan registry.example.com/team/app:1.4
  cssc scan registry.example.com/team/app:1.4 --malware --clamd unix:///run/clamav/clamd.ctl
  cssc scan oci:./layout --all --format sarif -o app.sarif
  cssc scan docker-archive:app.tar --secrets --secrets-allowlist allow.yaml
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
			content.resolve()
			if sbomFile != "" && (content.malware || content.secrets) {
				return fmt.Errorf("--sbom scans vulnerabilities only: --malware and --secrets need the IMAGE")
			}
			if failOn != "" {
				if _, err := match.ParseThreshold(failOn); err != nil {
					return fmt.Errorf("--fail-on: %w", err)
				}
			}
			// Check every setting before reading anything.
			lopts, err := content.options(g, img.limits)
			if err != nil {
				return err
			}
			var vs *vulnScan
			if content.vulns {
				if vs, err = openVulnScan(ctx, dbDir, vexFiles, allowMissing); err != nil {
					return err
				}
				defer vs.close()
			}

			now := time.Now()
			tool := report.Tool{Name: toolName, Version: version.Version, InformationURI: "https://github.com/cssc-project/cssc"}
			var ins []report.Input
			if sbomFile != "" {
				inv, err := readSBOMFile(sbomFile)
				if err != nil {
					return err
				}
				in, err := vs.input(ctx, inv, now)
				if err != nil {
					return err
				}
				in.Tool = tool
				ins = append(ins, in)
			} else {
				imgs, err := img.open(ctx, args[0])
				if err != nil {
					return err
				}
				// Both an inventory and a layer scan read every layer: for
				// a registry image, download each layer once.
				if vs != nil && !img.attached && (lopts.Clamd != nil || lopts.Secrets != nil) {
					dir, err := os.MkdirTemp(img.tempDir, "cssc-layers-")
					if err != nil {
						return fmt.Errorf("layer cache: %w", err)
					}
					defer func() { _ = os.RemoveAll(dir) }()
					for _, im := range imgs {
						im.CacheLayers(dir)
					}
				}
				for _, im := range imgs {
					in := report.Input{Tool: tool, GeneratedAt: now, Subject: inventory.Subject{Name: im.Name, Digest: im.Digest, Index: im.Index, Platform: im.Platform}}
					if vs != nil {
						inv, err := img.inventory(ctx, g, im)
						if err != nil {
							return err
						}
						if in, err = vs.input(ctx, inv, now); err != nil {
							return err
						}
						in.Tool = tool
					}
					if lopts.Clamd != nil || lopts.Secrets != nil {
						g.log.Debug("scanning layers", "image", im.Name, "platform", im.Platform, "malware", lopts.Clamd != nil, "secrets", lopts.Secrets != nil)
						res, err := layerscan.Run(ctx, im, lopts)
						if err != nil {
							return err
						}
						in.Malware, in.Secrets = res.Malware, res.Secrets
					}
					ins = append(ins, in)
				}
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
	content.register(cmd.Flags())
	f := cmd.Flags()
	f.StringVar(&format, "format", report.FormatTable, "table, json or sarif")
	f.StringVarP(&out, "output", "o", "", "write the report to this file instead of standard output")
	f.StringVar(&failOn, "fail-on", "", "exit 1 only for vulnerabilities of this severity or higher: critical, high, medium or low (default: any finding; malware and secrets always count)")
	f.StringArrayVar(&vexFiles, "vex", nil, "OpenVEX document whose not_affected and fixed statements suppress findings (repeatable)")
	f.StringVar(&sbomFile, "sbom", "", "scan the packages of this SPDX or CycloneDX JSON file instead of an image")
	dbDirFlag(f, &dbDir)
	f.BoolVar(&allowMissing, "allow-missing-data", false, "do not fail (exit 2) when the database has no data for some packages' ecosystems (they are still listed as unknown)")
	f.StringVar(&toolName, "sarif-tool-name", "cssc", "scanner name written in SARIF reports (Ratify's severity check only accepts \"trivy\" or \"grype\")")
	return cmd
}

// vulnScan is the vulnerability side of a scan: the database, the
// end-of-life table and the VEX documents.
type vulnScan struct {
	db           *vulndb.DB
	table        *eol.Table
	vex          []*vex.VEX
	allowMissing bool
}

func openVulnScan(ctx context.Context, dbDir string, vexFiles []string, allowMissing bool) (*vulnScan, error) {
	vexDocs, err := readVEX(vexFiles)
	if err != nil {
		return nil, err
	}
	if dbDir, err = resolveDBDir(dbDir); err != nil {
		return nil, err
	}
	db, err := vulndb.Open(ctx, dbDir)
	if err != nil {
		return nil, err
	}
	table, err := eol.Load(dbDir)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &vulnScan{db: db, table: table, vex: vexDocs, allowMissing: allowMissing}, nil
}

func (v *vulnScan) close() { _ = v.db.Close() }

// input matches one inventory and returns its report input.
func (v *vulnScan) input(ctx context.Context, inv inventory.Inventory, now time.Time) (report.Input, error) {
	rep, err := match.Run(ctx, analysis.DBSource(v.db), inv, match.Options{VEX: v.vex, AllowMissing: v.allowMissing})
	if err != nil {
		return report.Input{}, fmt.Errorf("scan %s: %w", subjectName(inv), err)
	}
	in := report.Input{Report: rep, Subject: inv.Subject, OS: inv.OS, GeneratedAt: now, Warnings: inv.Warnings}
	if inv.OS != nil {
		in.EndOfLife = endOfLife(v.table.Lookup(*inv.OS, now))
	}
	return in, nil
}

func isReportFormat(f string) bool {
	return f == report.FormatTable || f == report.FormatJSON || f == report.FormatSARIF
}

// scanVerdict turns the reports into the exit status: 2 when a scan did
// not complete (a vulnerability report with unjudged packages, unless
// allowed; a malware or secret scan in error), else 1 for vulnerabilities
// at or above failOn (any, without it), malware or secrets, else 0.
func scanVerdict(g *globals, ins []report.Input, failOn string, allowMissing bool) error {
	var unknown, findings, above, infected, leaked int
	var errs []string
	for _, in := range ins {
		if r := in.Report; r != nil {
			unknown += len(r.Unknown)
			findings += len(r.Findings)
			if failOn == "" {
				above += len(r.Findings)
			} else if r.Exceeds(failOn) {
				above++
			}
		}
		if m := in.Malware; m != nil {
			infected += len(m.Findings)
			if m.Status == malware.Error {
				errs = append(errs, "malware scan of "+subjectLabel(in.Subject)+": "+malwareError(m))
			}
		}
		if s := in.Secrets; s != nil {
			leaked += len(s.Findings)
			if s.Status == secrets.Error {
				errs = append(errs, "secret scan of "+subjectLabel(in.Subject)+": "+s.Error)
			}
		}
	}
	if unknown > 0 && !allowMissing {
		errs = append(errs, fmt.Sprintf("%d package(s) could not be judged (no vulnerability data for their ecosystem, or versions that could not be compared): the image is not known to be clean; see the report's unknown section, run cssc db update, or accept with --allow-missing-data", unknown))
	}
	if len(errs) > 0 {
		return &exitError{code: 2, err: errors.New(strings.Join(errs, "; "))}
	}
	var found []string
	if above > 0 {
		msg := fmt.Sprintf("%d vulnerabilit%s", findings, plural(findings, "y", "ies"))
		if failOn != "" {
			msg += " (some at or above " + failOn + ")"
		}
		found = append(found, msg)
	}
	if infected > 0 {
		found = append(found, fmt.Sprintf("%d file%s with malware", infected, plural(infected, "", "s")))
	}
	if leaked > 0 {
		found = append(found, fmt.Sprintf("%d secret%s", leaked, plural(leaked, "", "s")))
	}
	if len(found) > 0 {
		return &exitError{code: 1, err: errors.New(strings.Join(found, ", ") + " found")}
	}
	if findings > 0 {
		g.log.Info("vulnerabilities found, all below the --fail-on threshold", "findings", findings, "fail-on", failOn)
	}
	return nil
}

// malwareError says why a malware scan is an error.
func malwareError(m *malware.Result) string {
	if m.Error != "" {
		return m.Error
	}
	n := len(m.Problems) + m.MoreProblems
	msg := fmt.Sprintf("%d file%s not fully scanned", n, plural(n, "", "s"))
	if len(m.Problems) > 0 {
		msg += " (first: " + m.Problems[0].Path + ": " + m.Problems[0].Reason + ")"
	}
	return msg + ": the image is not known to be clean"
}

func subjectLabel(s inventory.Subject) string {
	if s.Platform != "" {
		return s.Name + " (" + s.Platform + ")"
	}
	return s.Name
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func subjectName(inv inventory.Inventory) string { return subjectLabel(inv.Subject) }

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
