// Package server runs `cssc serve`: it owns the data directory and serves
// the registry, the admin API, health and metrics on one listener.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cssc-project/cssc/internal/acquire"
	"github.com/cssc-project/cssc/internal/audit"
	"github.com/cssc-project/cssc/internal/auth"
	"github.com/cssc-project/cssc/internal/datadir"
	"github.com/cssc-project/cssc/internal/gc"
	"github.com/cssc-project/cssc/internal/metrics"
	"github.com/cssc-project/cssc/internal/registry"
	"github.com/cssc-project/cssc/internal/tlsutil"
	"github.com/cssc-project/cssc/internal/upstream"
)

// Config of a server. The CLI fills it from flags, YAML and environment.
type Config struct {
	DataDir          string
	Addr             string
	MaxManifestBytes int64
	// GCInterval runs a collection this often (0: never on its own).
	GCInterval   time.Duration
	GCGrace      time.Duration
	UploadMaxAge time.Duration
	// ShutdownTimeout is how long in-flight requests may finish on stop.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout and IdleTimeout bound slow or idle clients;
	// BodyStallTimeout drops a client whose request body makes no progress.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	BodyStallTimeout  time.Duration

	// TLS serves HTTPS (certificate files, or a generated self-signed one)
	// and optionally asks for client certificates.
	TLSCert, TLSKey string
	TLSClientCA     string
	TLSClientAuth   string // require or optional
	TLSSelfSigned   bool
	// InsecureHTTP allows plain HTTP on an address that is not loopback.
	InsecureHTTP bool
	// ExternalURL is how clients reach the server (the token realm);
	// default: the scheme and Host of each request.
	ExternalURL string
	// AnonymousPull lists the repository globs anyone may pull.
	AnonymousPull []string
	TokenTTL      time.Duration
	// LoginMaxFailures failed logins per account (three times that per
	// source address) within LoginFailureWindow lock logins out.
	LoginMaxFailures   int
	LoginFailureWindow time.Duration

	// Audit trail: the key that signs checkpoints (default
	// <data-dir>/keys/audit.key), how often, pull sampling and forwarding.
	AuditKey                string
	AuditCheckpointEvery    int
	AuditCheckpointInterval time.Duration
	AuditPullSampling       int
	AuditSyslog             string
	AuditWebhook            string

	// Pipeline configures the acquire pipeline.
	Pipeline PipelineConfig
}

// Server is a running cssc server.
type Server struct {
	cfg       Config
	log       *slog.Logger
	dir       *datadir.Dir
	collector *gc.Collector
	http      *http.Server
	listener  net.Listener
	ready     chan struct{}
	auth      *auth.Service
	audit     auditTrail
	auditLog  *audit.Log
	ids       *requestIDs
	// registryHandler serves /v2/ (authenticated and audited); the
	// pipeline reaches it in process.
	registryHandler http.Handler
	pipeline        *acquire.Pipeline
	upstreams       *upstream.Registry
	// openWarned is when open mode was last warned about (Unix seconds).
	openWarned atomic.Int64
}

// New opens (and locks) the data directory and binds the listener, so a
// misconfiguration fails before anything is served.
func New(ctx context.Context, cfg Config, log *slog.Logger) (s *Server, err error) {
	tlsCfg, tlsInfo, err := serverTLS(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	dir, err := datadir.Open(ctx, cfg.DataDir, ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = dir.Close()
			_ = ln.Close()
		}
	}()
	authn, err := auth.New(ctx, dir.Meta, auth.Options{
		KeyDir: dir.KeyDir(), TokenTTL: cfg.TokenTTL, AnonymousPull: cfg.AnonymousPull, Logger: log,
		MaxFailures: cfg.LoginMaxFailures, FailureWindow: cfg.LoginFailureWindow,
	})
	if err != nil {
		return nil, err
	}
	if authn.Open() && !tlsutil.IsLoopback(cfg.Addr) {
		return nil, fmt.Errorf("refusing to serve %s in open mode (no authentication) on %s: run `cssc admin init --data-dir %s` first, or listen on 127.0.0.1",
			cfg.DataDir, cfg.Addr, cfg.DataDir)
	}
	if tlsCfg == nil && !tlsutil.IsLoopback(cfg.Addr) && !cfg.InsecureHTTP {
		return nil, fmt.Errorf("refusing plain HTTP on %s: credentials would cross the network in clear; give --tls-cert/--tls-key (or --tls-self-signed), listen on 127.0.0.1, or force it with --insecure-http", cfg.Addr)
	}
	keyPath := cfg.AuditKey
	if keyPath == "" {
		keyPath = filepath.Join(dir.KeyDir(), "audit.key")
	}
	auditLog, err := audit.Open(ctx, dir.Meta, audit.Options{
		KeyPath: keyPath, HeadFile: filepath.Join(cfg.DataDir, "audit.head"),
		CheckpointEvery: cfg.AuditCheckpointEvery, CheckpointInterval: cfg.AuditCheckpointInterval, PullSampling: cfg.AuditPullSampling,
		Syslog: cfg.AuditSyslog, Webhook: cfg.AuditWebhook, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = auditLog.Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err = auditLog.Record(ctx, audit.Event{
		Time: time.Now(), Actor: "cssc", ActorKind: "system", Action: "server.start", Decision: audit.Allow,
		Target: securitySummary(cfg, authn.Open(), tlsCfg != nil),
	}); err != nil {
		return nil, fmt.Errorf("record server start in the audit trail: %w", err)
	}
	commitLock := &sync.RWMutex{}
	reg := registry.New(dir.Meta, dir.Blobs, registry.Options{
		MaxManifestBytes: cfg.MaxManifestBytes,
		CommitLock:       commitLock,
		CanPull:          auth.CanPull,
		Logger:           log,
	})
	s = &Server{
		cfg:       cfg,
		log:       log,
		dir:       dir,
		collector: gc.New(dir.Meta, dir.Blobs, commitLock, log),
		listener:  ln,
		ready:     make(chan struct{}),
		auth:      authn,
		audit:     auditLog,
		auditLog:  auditLog,
		ids:       newRequestIDs(),
	}
	m := metrics.New(dir.Meta.StoredBytes)
	mux := http.NewServeMux()
	guarded := s.guardRegistry(reg)
	s.registryHandler = guarded
	mux.Handle("/v2/", guarded)
	mux.Handle("/v2", guarded)
	mux.HandleFunc("/token", s.tokenHandler)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/api/", s.apiHandler(http.StripPrefix("/api/v1/audit", auditLog.Handler())))
	routeOf := func(r *http.Request) string {
		if strings.HasPrefix(r.URL.Path, "/v2") {
			return registry.RouteName(r.URL.Path)
		}
		return "other"
	}
	if err = s.setupPipeline(ctx, cfg); err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           s.withRequestID(m.Wrap(stallGuard(mux, cfg.BodyStallTimeout), routeOf, s.accessLog)),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		TLSConfig:         tlsCfg,
	}
	if tlsCfg != nil {
		s.listener = tls.NewListener(ln, tlsCfg)
		level := slog.LevelInfo
		if cfg.TLSSelfSigned && cfg.TLSCert == "" {
			level = slog.LevelWarn
			tlsInfo = "SELF-SIGNED CERTIFICATE, for development only: " + tlsInfo
		}
		log.Log(ctx, level, "serving HTTPS", "tls", tlsInfo)
	}
	if authn.Open() {
		log.Warn("OPEN MODE: this data directory was never initialised, so anyone who can reach " + ln.Addr().String() +
			" may pull and push. It listens on loopback only. Run `cssc admin init` to turn authentication on.")
	}
	return s, nil
}

// securitySummary is the security-relevant configuration a start records
// in the audit trail, so a change between starts is evidence too.
func securitySummary(cfg Config, open, tls bool) string {
	parts := []string{"addr=" + cfg.Addr, fmt.Sprintf("open_mode=%t", open), fmt.Sprintf("tls=%t", tls)}
	if cfg.TLSClientCA != "" {
		auth := cfg.TLSClientAuth
		if auth == "" {
			auth = "require"
		}
		parts = append(parts, "client_ca="+cfg.TLSClientCA, "client_auth="+auth)
	}
	if cfg.InsecureHTTP {
		parts = append(parts, "insecure_http=true")
	}
	if len(cfg.AnonymousPull) > 0 {
		parts = append(parts, "anonymous_pull="+strings.Join(cfg.AnonymousPull, ","))
	}
	if cfg.TokenTTL > 0 {
		parts = append(parts, "token_ttl="+cfg.TokenTTL.String())
	}
	return strings.Join(parts, " ")
}

// serverTLS builds the TLS configuration the flags ask for (nil: plain HTTP).
func serverTLS(cfg Config) (*tls.Config, string, error) {
	if cfg.TLSCert == "" && cfg.TLSKey == "" && !cfg.TLSSelfSigned {
		if cfg.TLSClientCA != "" {
			return nil, "", errors.New("--tls-client-ca needs TLS: give --tls-cert/--tls-key or --tls-self-signed")
		}
		return nil, "", nil
	}
	opts := tlsutil.Options{CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, ClientCAFile: cfg.TLSClientCA, ClientAuth: cfg.TLSClientAuth}
	if cfg.TLSCert == "" && cfg.TLSSelfSigned {
		opts.SelfSignedDir = filepath.Join(cfg.DataDir, "tls")
		if host, _, err := net.SplitHostPort(cfg.Addr); err == nil && host != "" {
			opts.Hosts = []string{"localhost", "127.0.0.1", "::1", host}
		}
	}
	c, info, err := tlsutil.ServerConfig(opts)
	if err != nil {
		return nil, "", fmt.Errorf("TLS: %w", err)
	}
	return c, info, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Run serves until ctx is cancelled, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish for up to ShutdownTimeout, and
// then cuts the rest (their uploads keep what arrived and can resume).
func (s *Server) Run(ctx context.Context) (err error) {
	defer func() { _ = s.dir.Close() }()
	// The audit trail closes first (deferred last): it flushes batched
	// events and signs the closing checkpoint while the database is open.
	defer func() {
		actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if cerr := s.auditLog.Close(actx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close audit trail: %w", cerr))
		}
	}()
	if n, err := s.cleanLeftovers(ctx); err != nil {
		return err
	} else if n > 0 {
		s.log.Info("removed leftovers of interrupted writes", "files", n)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.listener) }()
	close(s.ready)
	s.log.Info("cssc serving", "addr", s.Addr(), "data_dir", s.cfg.DataDir)
	if s.pipeline != nil {
		pipeDone := make(chan struct{})
		pipeCtx, stopPipe := context.WithCancel(ctx)
		go func() {
			defer close(pipeDone)
			if err := s.pipeline.Run(pipeCtx); err != nil {
				s.log.Error("the acquire pipeline stopped: acquisitions are queued but not run", "err", err)
			}
		}()
		defer func() { stopPipe(); <-pipeDone }()
	}
	gcDone := make(chan struct{})
	gcCtx, stopGC := context.WithCancel(ctx)
	go func() { defer close(gcDone); s.periodicGC(gcCtx) }()
	defer func() { stopGC(); <-gcDone }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(sctx); err != nil {
		s.log.Warn("in-flight requests cut at shutdown; their uploads can resume", "err", err)
		_ = s.http.Close()
	}
	return nil
}

// cleanLeftovers removes upload files of pushes that died with an earlier
// process: nothing else writes while this server holds the lock.
func (s *Server) cleanLeftovers(ctx context.Context) (int, error) {
	rep, err := s.collector.Run(ctx, gc.Options{LeftoversOnly: true, Exclusive: true})
	if err != nil {
		return 0, fmt.Errorf("clean leftovers: %w", err)
	}
	return rep.LeftoversPurged, nil
}

func (s *Server) periodicGC(ctx context.Context) {
	if s.cfg.GCInterval <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.collector.Run(ctx, s.gcOptions(false)); err != nil && ctx.Err() == nil {
				s.log.Error("periodic garbage collection", "err", err)
			}
		}
	}
}

func (s *Server) gcOptions(dryRun bool) gc.Options {
	return gc.Options{DryRun: dryRun, Grace: s.cfg.GCGrace, UploadMaxAge: s.cfg.UploadMaxAge}
}

// accessLog logs every request at debug level, and server errors at error
// level whatever the level, so they are never missed.
func (s *Server) accessLog(r *http.Request, d metrics.Done) {
	level := slog.LevelDebug
	if d.Status >= 500 {
		level = slog.LevelError
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	s.log.LogAttrs(r.Context(), level, "request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", d.Route),
		slog.Int("status", d.Status), slog.Int64("bytes_out", d.Written),
		slog.Duration("duration", d.Duration), slog.String("remote", r.RemoteAddr),
		slog.String("request_id", requestID(r.Context())))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.ready:
	default:
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.dir.Meta.Ping(ctx); err != nil {
		http.Error(w, "metadata store: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// stallGuard gives each read of a request body its own deadline, so a
// client that stops sending is dropped while a slow but steady one (a large
// layer over a thin link) is not.
func stallGuard(next http.Handler, stall time.Duration) http.Handler {
	if stall <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &stallReader{body: r.Body, rc: http.NewResponseController(w), stall: stall}
		}
		next.ServeHTTP(w, r)
	})
}

type stallReader struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	if err := s.rc.SetReadDeadline(time.Now().Add(s.stall)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return s.body.Read(p)
}

func (s *stallReader) Close() error { return s.body.Close() }
