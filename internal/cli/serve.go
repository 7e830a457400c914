package cli

import (
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cssc-project/cssc/internal/gctune"
	"github.com/cssc-project/cssc/internal/server"
)

func newServeCmd(g *globals) *cobra.Command {
	var (
		cfg          server.Config
		heapFloorMiB int
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry and API server",
		Long: `Run the OCI registry (distribution spec v1.1, referrers API included) and the
admin API on one address. The server owns its data directory: a second
writer is refused.

A data directory on which ` + "`cssc admin init`" + ` was never run serves in open
mode: no authentication, loopback only, and a loud warning. Once initialised,
every request is authenticated (Basic, the registry token flow at /token,
API tokens, or a client certificate mapped to a robot) and authorized by
role on repository globs; quarantine/ and golden/ have built-in rules.
Plain HTTP is served only on loopback unless --insecure-http.

Endpoints: /v2/ (registry), /token (registry tokens), /api/v1/ (REST API:
users, robots, tokens, keys, gc, audit), /healthz, /readyz, /metrics.`,
		Example: `  cssc serve --data-dir ./cssc-data --addr 127.0.0.1:5000
  cssc serve --addr :443 --tls-cert server.crt --tls-key server.key --tls-client-ca clients-ca.crt --tls-client-auth optional
  cssc serve --addr 0.0.0.0:5443 --tls-self-signed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if heapFloorMiB < 0 {
				return fmt.Errorf("--gc-heap-floor %d: want 0 or more MiB", heapFloorMiB)
			}
			defer gctune.Start(uint64(heapFloorMiB) << 20)()
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
	f.IntVar(&heapFloorMiB, "gc-heap-floor", 64, "MiB the Go heap may grow to before the garbage collector runs, while little memory is live (0: the runtime's default; GOGC in the environment overrides)")
	f.DurationVar(&cfg.GCInterval, "gc-interval", 0, "run garbage collection this often (0: only when asked)")
	f.DurationVar(&cfg.GCGrace, "gc-grace", time.Hour, "garbage collection keeps blobs younger than this")
	f.DurationVar(&cfg.UploadMaxAge, "upload-max-age", 24*time.Hour, "garbage collection removes uploads idle longer than this")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "time in-flight requests get to finish on stop")
	f.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 30*time.Second, "time a client gets to send request headers")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 2*time.Minute, "keep-alive connections idle longer are closed")
	f.DurationVar(&cfg.BodyStallTimeout, "body-stall-timeout", time.Minute, "a request body with no progress for this long is dropped")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "serve HTTPS with this certificate (PEM; re-read when it changes)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "key of --tls-cert (PEM)")
	f.StringVar(&cfg.TLSClientCA, "tls-client-ca", "", "CA (PEM) that client certificates must chain to (mTLS)")
	f.StringVar(&cfg.TLSClientAuth, "tls-client-auth", "", "with --tls-client-ca: require (default) or optional")
	f.BoolVar(&cfg.TLSSelfSigned, "tls-self-signed", false, "development only: serve HTTPS with a generated self-signed certificate")
	f.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "allow plain HTTP on an address that is not loopback (credentials travel in clear)")
	f.StringVar(&cfg.ExternalURL, "external-url", "", "URL clients reach this server by (default: scheme and Host of each request)")
	f.StringArrayVar(&cfg.AnonymousPull, "anonymous-pull", nil, "repository glob anyone may pull without credentials (repeatable; never quarantine/)")
	f.IntVar(&cfg.LoginMaxFailures, "login-max-failures", 10, "failed logins per account (3x per source address) before logins are refused for --login-failure-window")
	f.DurationVar(&cfg.LoginFailureWindow, "login-failure-window", 5*time.Minute, "window in which failed logins are counted")
	f.DurationVar(&cfg.TokenTTL, "token-ttl", 5*time.Minute, "lifetime of registry tokens")
	f.StringVar(&cfg.AuditKey, "audit-key", "", "key file that signs audit checkpoints (default <data-dir>/keys/audit.key; keep a copy of its .pub elsewhere)")
	f.IntVar(&cfg.AuditCheckpointEvery, "audit-checkpoint-every", 1000, "sign a checkpoint of the audit chain every N events")
	f.DurationVar(&cfg.AuditCheckpointInterval, "audit-checkpoint-interval", 5*time.Second, "sign a checkpoint when an event has waited this long for one (bounds what a crash leaves unsigned)")
	f.IntVar(&cfg.AuditPullSampling, "audit-pull-sampling", 1, "record 1 pull in N in the audit trail (1: every pull)")
	f.StringVar(&cfg.AuditSyslog, "audit-syslog", "", "also forward audit events to syslog (RFC 5424): udp://host:514 or tcp://host:514")
	f.StringVar(&cfg.AuditWebhook, "audit-webhook", "", "also POST audit events to this URL (JSON lines; retried, never blocks requests)")
	pc := &cfg.Pipeline
	f.StringVar(&pc.SigningKey, "signing-key", "", "run the acquire pipeline, signing what it promotes with this key (cssc key generate NAME; passphrase from CSSC_KEY_PASSPHRASE[_FILE])")
	f.StringVar(&pc.KeyDir, "key-dir", "", "key store of --signing-key (default $XDG_CONFIG_HOME/cssc/keys)")
	f.StringVar(&pc.SignFormat, "sign-format", "notation-jws", "signature format of the pipeline: notation-jws, notation-cose or cosign")
	f.StringVar(&pc.PolicyDir, "policy", "", "policy directory (Rego; replaces the embedded default policy: cssc policy show-default)")
	f.StringVar(&pc.Clamd, "clamd", "", "clamd's socket for the malware scan: unix:///path or tcp://host:port (none: images fail the malware check)")
	f.IntVar(&pc.ClamdWorkers, "clamd-workers", 0, "files sent to clamd at once (0: 4; keep at or below clamd's MaxThreads)")
	f.StringVar(&pc.DBDir, "db-dir", "", "vulnerability database directory, as cssc db (default $XDG_CACHE_HOME/cssc/db)")
	f.StringArrayVar(&pc.UpstreamAllow, "upstream-allow", nil, "allow acquisitions from host/repository-glob, e.g. docker.io/library/* (repeatable; also cssc upstream add)")
	f.StringArrayVar(&pc.NotifyWebhooks, "notify-webhook", nil, "POST acquisition outcomes to this URL (JSON with a Slack-compatible text; repeatable)")
	f.StringVar(&pc.KEKFile, "upstream-kek", "", "key-encryption key of upstream credentials (default <data-dir>/keys/upstream.kek, made if missing)")
	f.IntVar(&pc.Workers, "acquire-workers", 2, "acquisitions run at once")
	f.DurationVar(&pc.LifecycleMax, "lifecycle-max", 0, "cap the end of life written on promoted images at this long after promotion (0: the base OS end of life only)")
	f.DurationVar(&pc.RescanCheck, "rescan-check", time.Minute, "how often to check whether the vulnerability data changed, which rescans golden/")
	f.IntVar(&pc.MaxAttempts, "acquire-attempts", 5, "tries of a step that fails on a transient upstream error")
	f.DurationVar(&pc.Backoff, "acquire-backoff", 2*time.Second, "first wait before a retry (doubles each time, at most 5 minutes)")
	return cmd
}
