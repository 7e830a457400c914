// Package server runs `cssc serve`: it owns the data directory and serves
// the registry, the admin API, health and metrics on one listener.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cssc-project/cssc/internal/datadir"
	"github.com/cssc-project/cssc/internal/gc"
	"github.com/cssc-project/cssc/internal/metrics"
	"github.com/cssc-project/cssc/internal/registry"
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
}

// New opens (and locks) the data directory and binds the listener, so a
// misconfiguration fails before anything is served.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	dir, err := datadir.Open(ctx, cfg.DataDir, ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	commitLock := &sync.RWMutex{}
	reg := registry.New(dir.Meta, dir.Blobs, registry.Options{
		MaxManifestBytes: cfg.MaxManifestBytes,
		CommitLock:       commitLock,
		Logger:           log,
	})
	s := &Server{
		cfg:       cfg,
		log:       log,
		dir:       dir,
		collector: gc.New(dir.Meta, dir.Blobs, commitLock, log),
		listener:  ln,
		ready:     make(chan struct{}),
	}
	m := metrics.New(dir.Meta.StoredBytes)
	mux := http.NewServeMux()
	mux.Handle("/v2/", reg)
	mux.Handle("/v2", reg)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("POST /api/v1/gc", s.gcHandler)
	routeOf := func(r *http.Request) string {
		if strings.HasPrefix(r.URL.Path, "/v2") {
			return registry.RouteName(r.URL.Path)
		}
		return "other"
	}
	s.http = &http.Server{
		Handler:           m.Wrap(stallGuard(mux, cfg.BodyStallTimeout), routeOf, s.accessLog),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Run serves until ctx is cancelled, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish for up to ShutdownTimeout, and
// then cuts the rest (their uploads keep what arrived and can resume).
func (s *Server) Run(ctx context.Context) error {
	defer func() { _ = s.dir.Close() }()
	if n, err := s.cleanLeftovers(ctx); err != nil {
		return err
	} else if n > 0 {
		s.log.Info("removed leftovers of interrupted writes", "files", n)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.listener) }()
	close(s.ready)
	s.log.Info("cssc serving", "addr", s.Addr(), "data_dir", s.cfg.DataDir)
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
		slog.Duration("duration", d.Duration), slog.String("remote", r.RemoteAddr))
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

// gcHandler runs a collection now: POST /api/v1/gc[?dry_run=true].
func (s *Server) gcHandler(w http.ResponseWriter, r *http.Request) {
	dry, _ := strconv.ParseBool(r.URL.Query().Get("dry_run"))
	rep, err := s.collector.Run(r.Context(), s.gcOptions(dry))
	if err != nil {
		s.log.Error("garbage collection", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, rep)
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
