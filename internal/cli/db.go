package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cssc-project/cssc/internal/eol"
	"github.com/cssc-project/cssc/internal/vulndb"
)

func newDBCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the local vulnerability database (OSV records)",
		Long: `The vulnerability database that cssc scan and cssc serve read: OSV records
from osv.dev's per-ecosystem exports, in --db-dir (default
$XDG_CACHE_HOME/cssc/db, i.e. ~/.cache/cssc/db). An import or update
replaces the data atomically: a failure leaves the current data as it was.`,
	}
	cmd.AddCommand(newDBImportCmd(g), newDBUpdateCmd(g), newDBStatusCmd(g))
	return cmd
}

// dbDirFlag is shared by the commands that use the vulnerability database.
func dbDirFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "db-dir", "", "vulnerability database directory (default $XDG_CACHE_HOME/cssc/db, i.e. ~/.cache/cssc/db)")
}

// resolveDBDir is --db-dir, or the default.
func resolveDBDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	return vulndb.DefaultDir()
}

func newDBImportCmd(g *globals) *cobra.Command {
	var (
		dbDir string
		opts  vulndb.ImportOptions
	)
	cmd := &cobra.Command{
		Use:   "import <osv-export.zip|dir>...",
		Short: "Import osv.dev exports (all.zip) or directories of OSV JSON files",
		Long: `Import osv.dev per-ecosystem exports (e.g. Debian/all.zip from
https://osv-vulnerabilities.storage.googleapis.com) or directories of OSV
JSON files, searched recursively. The ecosystem families found replace their
current data; other families are kept. A record that does not parse fails the
import (nothing changes) unless --skip-invalid.`,
		Example: "  cssc db import Debian-all.zip Go-all.zip\n  cssc db import ./advisories --db-dir /var/lib/cssc/db",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := resolveDBDir(dbDir)
			if err != nil {
				return err
			}
			opts.Log = g.log
			res, err := vulndb.Import(cmd.Context(), dir, opts, args...)
			if err != nil {
				return err
			}
			for _, f := range res.Families {
				fmt.Fprintf(g.stderr, "imported %s: %d records\n", f.Family, f.Records)
			}
			if res.Withdrawn > 0 {
				fmt.Fprintf(g.stderr, "left out %d withdrawn records\n", res.Withdrawn)
			}
			if res.NoPackage > 0 {
				fmt.Fprintf(g.stderr, "left out %d records without an affected package\n", res.NoPackage)
			}
			if res.Invalid > 0 {
				fmt.Fprintf(g.stderr, "skipped %d invalid records, e.g. %s\n", res.Invalid, res.InvalidNames[0])
			}
			return nil
		},
	}
	f := cmd.Flags()
	dbDirFlag(f, &dbDir)
	f.BoolVar(&opts.SkipInvalid, "skip-invalid", false, "skip (and count) records that are not valid OSV JSON instead of failing")
	return cmd
}

func newDBUpdateCmd(g *globals) *cobra.Command {
	var (
		dbDir string
		opts  vulndb.UpdateOptions
	)
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Download the ecosystems' exports from osv.dev or a mirror (when changed)",
		Long: `Download <mirror>/<ecosystem>/all.zip for each ecosystem, conditionally
(ETag / Last-Modified): an unchanged export is not downloaded again. Changed
exports are imported atomically; an ecosystem whose download or import fails
keeps its current data (and the command fails). A mirror other than osv.dev's
may also serve <mirror>/eol.json, a newer end-of-life table.`,
		Example: "  cssc db update\n  cssc db update --ecosystems Debian,Go --mirror https://mirror.example.com/osv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := resolveDBDir(dbDir)
			if err != nil {
				return err
			}
			opts.Log = g.log
			results, uerr := vulndb.Update(cmd.Context(), dir, opts)
			for _, r := range results {
				switch r.State {
				case vulndb.Updated:
					fmt.Fprintf(g.stderr, "%s: updated (%d records)\n", r.Ecosystem, r.Records)
				case vulndb.NotModified:
					fmt.Fprintf(g.stderr, "%s: not modified\n", r.Ecosystem)
				default:
					fmt.Fprintf(g.stderr, "%s: failed: %v\n", r.Ecosystem, r.Err)
				}
			}
			var eerr error
			if opts.Mirror != vulndb.DefaultMirror { // osv.dev serves no end-of-life table
				res, err := eol.Update(cmd.Context(), dir, opts.Mirror, opts.HTTPClient)
				switch {
				case err != nil:
					eerr = err
					fmt.Fprintf(g.stderr, "end-of-life table: failed: %v\n", err)
				case res.Stored:
					fmt.Fprintf(g.stderr, "end-of-life table: updated (%s)\n", res.Table.Updated.Format(time.DateOnly))
				case res.Provided:
					fmt.Fprintf(g.stderr, "end-of-life table: not newer than the one in use (%s)\n", res.Table.Updated.Format(time.DateOnly))
				}
			}
			failed := 0
			for _, r := range results {
				if r.State == vulndb.Failed {
					failed++
				}
			}
			switch {
			case failed > 0:
				return fmt.Errorf("db update: %d of %d ecosystems failed (their current data is kept)", failed, len(results))
			case uerr != nil: // refused before any download, or the check times not recorded
				return uerr
			case eerr != nil:
				return errors.New("db update: the end-of-life table could not be refreshed")
			}
			return nil
		},
	}
	f := cmd.Flags()
	dbDirFlag(f, &dbDir)
	f.StringVar(&opts.Mirror, "mirror", vulndb.DefaultMirror, "base URL of the exports (<mirror>/<ecosystem>/all.zip)")
	f.StringSliceVar(&opts.Ecosystems, "ecosystems", vulndb.DefaultEcosystems(), "ecosystem families to fetch, as osv.dev names them")
	f.Int64Var(&opts.MaxDownload, "max-download", vulndb.DefaultMaxDownload, "largest export to download, in bytes")
	return cmd
}

// dbStatus is the JSON form of `cssc db status`.
type dbStatus struct {
	Dir      string                `json:"dir"`
	Families []vulndb.FamilyStatus `json:"families"`
	EOLTable eolTableStatus        `json:"eol_table"`
}

type eolTableStatus struct {
	Updated string `json:"updated"`
	Source  string `json:"source"` // "built-in" or the refreshed file
}

func newDBStatusCmd(g *globals) *cobra.Command {
	var dbDir, format string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the ecosystems in the vulnerability database, their record counts and age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: table or json", format)
			}
			dir, err := resolveDBDir(dbDir)
			if err != nil {
				return err
			}
			db, err := vulndb.Open(cmd.Context(), dir)
			if err != nil {
				return err
			}
			defer func() { _ = db.Close() }()
			fams, err := db.Status(cmd.Context())
			if err != nil {
				return err
			}
			tab, err := eol.Load(dir)
			if err != nil {
				return err
			}
			st := dbStatus{Dir: dir, Families: fams, EOLTable: eolTableStatus{Updated: tab.Updated.Format(time.DateOnly), Source: "built-in"}}
			if tab.Updated.After(eol.Embedded().Updated) {
				st.EOLTable.Source = dir + "/" + eol.FileName
			}
			if format == "json" {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return writeDBStatus(g.stdout, st, time.Now())
		},
	}
	f := cmd.Flags()
	dbDirFlag(f, &dbDir)
	f.StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func writeDBStatus(w io.Writer, st dbStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ECOSYSTEM\tRECORDS\tNEWEST RECORD\tIMPORTED\tCHECKED\tSOURCE")
	for _, f := range st.Families {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", f.Family, f.Records,
			when(f.Newest, now), when(f.ImportedAt, now), when(f.CheckedAt, now), f.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\ndatabase: %s\nend-of-life table: %s (%s)\n", st.Dir, st.EOLTable.Updated, st.EOLTable.Source)
	return err
}

// when is a time with its age in days, "-" when zero.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	days := int(now.Sub(t).Hours() / 24)
	return fmt.Sprintf("%s (%dd ago)", t.UTC().Format("2006-01-02 15:04"), days)
}
