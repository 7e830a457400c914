// Package servertest starts a real cssc server on 127.0.0.1 for tests, in
// the test's process, over a temporary data directory.
package servertest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/cssc-project/cssc/internal/auth"
	"github.com/cssc-project/cssc/internal/datadir"
	"github.com/cssc-project/cssc/internal/server"
)

// AdminPassword is the admin password Init sets.
const AdminPassword = "admin-password-for-tests"

// Init turns authentication on in dataDir (as `cssc admin init` does),
// with AdminPassword for the user "admin".
func Init(t testing.TB, dataDir string) {
	t.Helper()
	ctx := context.Background()
	dir, err := datadir.Open(ctx, dataDir, "")
	if err != nil {
		t.Fatalf("open data directory: %v", err)
	}
	defer func() { _ = dir.Close() }()
	if _, err := auth.Init(ctx, dir.Meta, dir.KeyDir(), AdminPassword); err != nil {
		t.Fatalf("init: %v", err)
	}
}

// Server is a started server.
type Server struct {
	*server.Server
	Host    string // "127.0.0.1:PORT", for references like Host+"/repo:tag"
	URL     string // "http://127.0.0.1:PORT"
	DataDir string
	stop    func()
}

// Config returns the defaults `cssc serve` uses, on a random port of
// 127.0.0.1 over dataDir.
func Config(dataDir string) server.Config {
	return server.Config{
		DataDir:           dataDir,
		Addr:              "127.0.0.1:0",
		MaxManifestBytes:  4 << 20,
		GCGrace:           time.Hour,
		UploadMaxAge:      24 * time.Hour,
		ShutdownTimeout:   5 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		BodyStallTimeout:  30 * time.Second,
	}
}

// Start runs a server with cfg (see Config) until the test ends. Logs go to
// the test log when CSSC_TEST_LOG is set, else nowhere.
func Start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	return StartWithClient(t, cfg, http.DefaultClient)
}

// StartWithClient is Start for a server that client reaches (e.g. over
// TLS with a client certificate); the URL is https when cfg serves TLS.
func StartWithClient(t testing.TB, cfg server.Config, client *http.Client) *Server {
	t.Helper()
	var w io.Writer = io.Discard
	if os.Getenv("CSSC_TEST_LOG") != "" {
		w = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("start cssc server: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	scheme := "http://"
	if cfg.TLSCert != "" || cfg.TLSSelfSigned {
		scheme = "https://"
	}
	s := &Server{Server: srv, Host: srv.Addr(), URL: scheme + srv.Addr(), DataDir: cfg.DataDir}
	s.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("cssc server: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	waitReady(t, client, s.URL)
	return s
}

// Stop stops the server (also done at the end of the test); calling it
// twice is harmless.
func (s *Server) Stop() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

func waitReady(t testing.TB, client *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cssc server at %s not ready: %v", url, errors.Join(err))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
