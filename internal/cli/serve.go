package cli

import (
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cssc-project/cssc/internal/server"
)

func newServeCmd(g *globals) *cobra.Command {
	var cfg server.Config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry and API server",
		Long: `Run the OCI registry (distribution spec v1.1, referrers API included) and the
admin API on one address. The server owns its data directory: a second
writer is refused.

Endpoints: /v2/ (registry), /healthz, /readyz, /metrics (Prometheus),
POST /api/v1/gc (garbage collection).`,
		Example: "  cssc serve --data-dir ./cssc-data --addr 127.0.0.1:5000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			srv, err := server.New(ctx, cfg, g.log)
			if err != nil {
				return err
			}
			return srv.Run(ctx)
		},
	}
	f := cmd.Flags()
	dataDirFlag(f, &cfg.DataDir)
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:5000", "address to listen on")
	f.Int64Var(&cfg.MaxManifestBytes, "max-manifest-bytes", 4<<20, "largest manifest accepted")
	f.DurationVar(&cfg.GCInterval, "gc-interval", 0, "run garbage collection this often (0: only when asked)")
	f.DurationVar(&cfg.GCGrace, "gc-grace", time.Hour, "garbage collection keeps blobs younger than this")
	f.DurationVar(&cfg.UploadMaxAge, "upload-max-age", 24*time.Hour, "garbage collection removes uploads idle longer than this")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "time in-flight requests get to finish on stop")
	f.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 30*time.Second, "time a client gets to send request headers")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 2*time.Minute, "keep-alive connections idle longer are closed")
	f.DurationVar(&cfg.BodyStallTimeout, "body-stall-timeout", time.Minute, "a request body with no progress for this long is dropped")
	return cmd
}
