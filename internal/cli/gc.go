package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cssc-project/cssc/internal/datadir"
	"github.com/cssc-project/cssc/internal/gc"
)

func newGCCmd(g *globals) *cobra.Command {
	var (
		dataDir, serverURL string
		opts               gc.Options
	)
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove blobs no manifest references and abandoned uploads",
		Long: `Garbage collection. With --server, or when a server holds the data directory,
the server collects (safe while it serves: blobs younger than its --gc-grace
are kept). Otherwise gc opens the data directory itself, locks it, and removes
every leftover at once.`,
		Example: "  cssc gc --dry-run\n  cssc gc --data-dir ./cssc-data\n  cssc gc --server http://127.0.0.1:5000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if serverURL == "" {
				owner, err := datadir.Owner(dataDir)
				if err != nil {
					return err
				}
				if owner != nil {
					if owner.Addr == "" {
						return owner
					}
					serverURL = "http://" + owner.Addr
					g.log.Info("a server holds the data directory; asking it to collect", "server", serverURL)
				}
			}
			var rep gc.Report
			if serverURL != "" {
				r, err := remoteGC(cmd, serverURL, opts.DryRun)
				if err != nil {
					return err
				}
				rep = r
			} else {
				dir, err := datadir.Open(ctx, dataDir, "")
				if err != nil {
					return err
				}
				defer func() { _ = dir.Close() }()
				opts.Exclusive = true
				if rep, err = gc.New(dir.Meta, dir.Blobs, nil, g.log).Run(ctx, opts); err != nil {
					return err
				}
			}
			verb := "removed"
			if rep.DryRun {
				verb = "would remove"
			}
			_, err := fmt.Fprintf(g.stdout, "gc %s: %d blob links, %d blobs (%d bytes), %d abandoned uploads, %d leftover files\n",
				verb, len(rep.LinksRemoved), rep.BlobsDeleted, rep.BytesFreed, rep.UploadsRemoved, rep.LeftoversPurged)
			return err
		},
	}
	f := cmd.Flags()
	dataDirFlag(f, &dataDir)
	f.StringVar(&serverURL, "server", "", "URL of a running cssc server to ask (default: the one holding --data-dir, if any)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "only report what would be removed")
	f.DurationVar(&opts.UploadMaxAge, "upload-max-age", 24*time.Hour, "offline: remove uploads idle longer than this")
	return cmd
}

func remoteGC(cmd *cobra.Command, serverURL string, dryRun bool) (gc.Report, error) {
	var rep gc.Report
	sf := serverFlags{server: serverURL}
	c, err := sf.client()
	if err != nil {
		return rep, err
	}
	path := "/api/v1/gc"
	if dryRun {
		path += "?dry_run=true"
	}
	if err := c.Do(cmd.Context(), "POST", path, nil, &rep); err != nil {
		return rep, fmt.Errorf("gc via %s: %w", serverURL, err)
	}
	return rep, nil
}
