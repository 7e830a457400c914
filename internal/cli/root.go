// Package cli is the cobra command tree of cssc: it reads flags and calls
// the library packages; no logic of the product lives here.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cssc-project/cssc/internal/config"
	"github.com/cssc-project/cssc/internal/logging"
	"github.com/cssc-project/cssc/internal/version"
)

// globals are the settings every command has.
type globals struct {
	configFile string
	logFormat  string
	logLevel   string
	stdout     io.Writer
	stderr     io.Writer
	log        *slog.Logger
}

// Execute runs cssc with args and returns the process exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "cssc:", err)
		return exitCode(err)
	}
	return 0
}

// exitError carries a specific exit code (e.g. 1 for "findings", 2 for errors).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 2
}

// NewRoot builds the command tree.
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "cssc",
		Short:         "Container secure supply chain: registry, scanning, signing and admission in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			// Settings: defaults < YAML (--config / CSSC_CONFIG) < CSSC_* < flags.
			path := g.configFile
			if !cmd.Flags().Changed("config") {
				if v, ok := os.LookupEnv(config.EnvName("config")); ok {
					path = v
				}
			}
			if err := config.Apply(cmd.Flags(), path, os.LookupEnv, "config"); err != nil {
				return err
			}
			log, err := logging.New(g.stderr, g.logFormat, g.logLevel)
			if err != nil {
				return err
			}
			g.log = log
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.configFile, "config", "", "YAML file of settings (keys are flag names; env CSSC_CONFIG)")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.AddCommand(
		newVersionCmd(g),
		newServeCmd(g),
		newGCCmd(g),
		newAdminCmd(g),
		newUserCmd(g),
		newRobotCmd(g),
		newTokenCmd(g),
		newLoginCmd(g),
		newLogoutCmd(g),
		newAuditCmd(g),
		newSBOMCmd(g),
		newScanCmd(g),
		newDBCmd(g),
		newKeyCmd(g),
		newSignCmd(g),
		newVerifyCmd(g),
		newAcquireCmd(g),
		newAcquisitionsCmd(g),
		newUpstreamCmd(g),
		newExceptionCmd(g),
		newPolicyCmd(g),
		newSyncCmd(g),
		newRescanCmd(g),
		newGoldenCmd(g),
	)
	return root
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(g.stdout, version.String())
			return err
		},
	}
}

// dataDirFlag is shared by the commands that open a data directory.
func dataDirFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "data-dir", "./cssc-data", "data directory (metadata database and blobs)")
}
