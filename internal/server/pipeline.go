package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cssc-project/cssc/internal/acquire"
	"github.com/cssc-project/cssc/internal/analysis"
	"github.com/cssc-project/cssc/internal/clamd"
	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/inventory"
	"github.com/cssc-project/cssc/internal/keys"
	"github.com/cssc-project/cssc/internal/layerscan"
	"github.com/cssc-project/cssc/internal/match"
	"github.com/cssc-project/cssc/internal/notify"
	"github.com/cssc-project/cssc/internal/policy"
	"github.com/cssc-project/cssc/internal/secrets"
	"github.com/cssc-project/cssc/internal/store"
	"github.com/cssc-project/cssc/internal/upstream"
	"github.com/cssc-project/cssc/internal/version"
	"github.com/cssc-project/cssc/internal/vulndb"
)

// PipelineConfig configures the acquire pipeline that cssc serve runs.
type PipelineConfig struct {
	// SigningKey names the enterprise key (cssc key generate) in KeyDir;
	// without it the pipeline does not run. SignFormat: notation-jws
	// (default), notation-cose or cosign.
	SigningKey string
	KeyDir     string
	// Signer, when set, is the enterprise key itself (tests; a KMS
	// signer later) and SigningKey is not read.
	Signer     keys.Signer
	SignFormat string
	// PolicyDir replaces the embedded default policy.
	PolicyDir string
	// Clamd is clamd's socket (unix:///… or tcp://…); empty: no malware
	// scan, which the default policy refuses.
	Clamd string
	// ClamdWorkers is how many files are sent to clamd at once (0:
	// layerscan's default); keep it at or below clamd's MaxThreads.
	ClamdWorkers int
	// DBDir is the vulnerability database (as cssc db --db-dir).
	DBDir string
	// UpstreamAllow lists "host/repository-glob" entries allowed besides
	// those managed with cssc upstream add.
	UpstreamAllow []string
	// NotifyWebhooks get a JSON notification of every outcome.
	NotifyWebhooks []string
	// KEKFile is the key-encryption key of upstream credentials (default
	// <data-dir>/keys/upstream.kek, made when missing).
	KEKFile string
	// Workers is how many acquisitions run at once.
	Workers int
	// LifecycleMax caps the end of life written on promoted images.
	LifecycleMax time.Duration
	// RescanCheck is how often the vulnerability data is checked for a
	// change that calls for a rescan of golden/.
	RescanCheck time.Duration
	// MaxAttempts and Backoff tune retries of transient upstream errors.
	MaxAttempts int
	Backoff     time.Duration
}

// Pipeline is the server's acquire pipeline (nil when not configured).
func (s *Server) Pipeline() *acquire.Pipeline { return s.pipeline }

// Upstreams is the server's allow-list store.
func (s *Server) Upstreams() *upstream.Registry { return s.upstreams }

// setupPipeline builds the pipeline from cfg, or leaves it nil when no
// signing key is configured (the registry alone still serves).
func (s *Server) setupPipeline(ctx context.Context, cfg Config) error {
	pc := cfg.Pipeline
	kek := pc.KEKFile
	if kek == "" {
		kek = filepath.Join(s.dir.KeyDir(), "upstream.kek")
	}
	key, err := upstream.LoadKEK(kek)
	if errors.Is(err, os.ErrNotExist) && pc.KEKFile == "" {
		key, err = upstream.GenerateKEK(kek)
	}
	if err != nil {
		return fmt.Errorf("upstream credential key: %w", err)
	}
	sealer, err := upstream.NewSealer(key)
	if err != nil {
		return fmt.Errorf("upstream credential key %s: %w", kek, err)
	}
	s.upstreams = upstream.NewRegistry(s.dir.Meta, sealer)
	static, err := staticUpstreams(pc.UpstreamAllow)
	if err != nil {
		return err
	}
	if pc.SigningKey == "" && pc.Signer == nil {
		if len(static) > 0 || pc.PolicyDir != "" || pc.Clamd != "" {
			return errors.New("the acquire pipeline needs --signing-key NAME (a key made by `cssc key generate NAME`) to sign what it promotes")
		}
		return nil
	}
	signer := pc.Signer
	if signer == nil {
		keyDir := pc.KeyDir
		if keyDir == "" {
			if keyDir, err = keys.DefaultDir(os.LookupEnv); err != nil {
				return err
			}
		}
		if signer, err = keys.NewStore(keyDir, keys.PassphraseFromEnv(os.LookupEnv)).Signer(pc.SigningKey); err != nil {
			return fmt.Errorf("--signing-key %s: %w", pc.SigningKey, err)
		}
	}
	engine, err := policy.Load(ctx, pc.PolicyDir)
	if err != nil {
		return err
	}
	layers := layerscan.Options{Log: s.log, Workers: pc.ClamdWorkers}
	if pc.Clamd != "" {
		cl, err := clamd.New(pc.Clamd)
		if err != nil {
			return fmt.Errorf("--clamd: %w", err)
		}
		layers.Clamd = cl
	}
	if layers.Secrets, err = secrets.New(secrets.Options{}); err != nil {
		return fmt.Errorf("secret scanner: %w", err)
	}
	dbDir := pc.DBDir
	if dbDir == "" {
		if dbDir, err = vulndb.DefaultDir(); err != nil {
			return err
		}
	}
	vulns := &vulnData{dir: dbDir, log: s.log}
	var notifier acquire.Notifier
	if len(pc.NotifyWebhooks) > 0 {
		n, err := notify.New(pc.NotifyWebhooks, notify.Options{Logger: s.log})
		if err != nil {
			return fmt.Errorf("--notify-webhook: %w", err)
		}
		notifier = n
	}
	tmp := filepath.Join(cfg.DataDir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("pipeline work directory: %w", err)
	}
	transport := s.PipelineTransport()
	analyze := func(ctx context.Context, ref string, useAttachedSBOM bool) ([]analysis.Platform, error) {
		src, release, err := vulns.source(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
		return analysis.Image(ctx, ref, analysis.Options{
			Vulns: src, Layers: layers, TempDir: tmp, Log: s.log, UseAttachedSBOM: useAttachedSBOM,
			Open: imagefs.OpenOptions{Transport: transport, Insecure: true, UserAgent: "cssc-pipeline/" + version.Version},
		})
	}
	var backoff func(int) time.Duration
	if pc.Backoff > 0 {
		backoff = func(n int) time.Duration { return min(pc.Backoff<<min(n-1, 10), 5*time.Minute) }
	}
	pl, err := acquire.New(acquire.Config{
		Host: registryHost(cfg, s.listener.Addr()), Transport: transport,
		Queue: s.dir.Meta, Promoter: s.dir.Meta,
		Upstreams: allowList{reg: s.upstreams, static: static},
		Analyze:   analyze, Policy: engine, Exceptions: exceptionSource{s.dir.Meta},
		Signer: signer, SignFormat: pc.SignFormat, Notifier: notifier, Audit: s.auditLog,
		DataVersion: vulns.version, LifecycleMax: pc.LifecycleMax, Version: version.Version,
		Workers: pc.Workers, MaxAttempts: pc.MaxAttempts, Backoff: backoff, SoleWorker: true,
		Sync: s.dir.Meta, Retire: s.dir.Meta, RescanCheck: pc.RescanCheck,
		Rematch: func(ctx context.Context, inv inventory.Inventory) (*match.Report, error) {
			src, release, err := vulns.source(ctx)
			if err != nil {
				return nil, err
			}
			defer release()
			if src == nil {
				return nil, fmt.Errorf("no vulnerability database in %s", dbDir)
			}
			return match.Run(ctx, src, inv, match.Options{})
		},
		Log: s.log, StepDone: crashHook("CSSC_TEST_CRASH_AFTER_STEP"), StepWorked: crashHook("CSSC_TEST_CRASH_BEFORE_SAVE"),
	})
	if err != nil {
		return err
	}
	s.pipeline = pl
	s.log.Info("acquire pipeline ready", "signing_key", signer.KeyRef(), "policy", engine.Source(), "policy_digest", engine.Digest(),
		"clamd", pc.Clamd, "db_dir", dbDir, "workers", pl.Config().Workers, "webhooks", len(pc.NotifyWebhooks))
	return nil
}

// crashHook is a test hook: with the environment variable set to a step
// name, the process kills itself (SIGKILL, no clean-up) at that point of
// that step, so crash tests can stop the server at an exact step
// boundary. Unset, it does nothing.
func crashHook(env string) func(string, acquire.Step) {
	want := os.Getenv(env)
	if want == "" {
		return nil
	}
	return func(_ string, step acquire.Step) {
		if string(step) == want {
			fmt.Fprintf(os.Stderr, "%s=%s: killing the server now\n", env, want)
			killSelf()
		}
	}
}

// registryHost is how references to this server are written: the
// external URL's host, else the address listened on.
func registryHost(cfg Config, addr net.Addr) string {
	if cfg.ExternalURL != "" {
		if u, err := url.Parse(cfg.ExternalURL); err == nil && u.Host != "" {
			return u.Host
		}
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// staticUpstreams parses --upstream-allow entries ("host/repo-glob").
func staticUpstreams(entries []string) ([]upstream.Upstream, error) {
	var out []upstream.Upstream
	for _, e := range entries {
		host, glob, ok := strings.Cut(strings.TrimSpace(e), "/")
		if !ok || host == "" || glob == "" {
			return nil, fmt.Errorf("--upstream-allow %q: want host/repository-glob, e.g. docker.io/library/*", e)
		}
		reg := upstream.NormalizeRegistry(host)
		sum := sha256.Sum256([]byte(e))
		u := upstream.Upstream{
			Name: "allow-" + hex.EncodeToString(sum[:6]), Registry: reg, Repositories: []string{glob},
			SignaturePolicy: upstream.SignatureIfPresent, Insecure: upstream.DefaultInsecure(reg),
		}.Normalize()
		if err := u.Validate(); err != nil {
			return nil, fmt.Errorf("--upstream-allow %q: %w", e, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// allowList is the upstreams managed with cssc upstream add and those of
// --upstream-allow.
type allowList struct {
	reg    *upstream.Registry
	static []upstream.Upstream
}

// Match picks the most specific entry of both lists (a stored one on a
// tie: it carries trust material, credentials and limits), with its
// credentials when it is a stored one.
func (a allowList) Match(ctx context.Context, ref string) (upstream.Upstream, error) {
	listed, err := a.reg.List(ctx)
	if err != nil {
		// The stored entries cannot be read (e.g. their key is missing):
		// the configured ones still answer, and say so when they don't.
		if u, _, serr := upstream.Match(a.static, ref); serr == nil {
			return u, nil
		}
		return upstream.Upstream{}, err
	}
	u, _, err := upstream.Match(append(listed, a.static...), ref)
	if err != nil {
		return upstream.Upstream{}, err
	}
	for _, l := range listed {
		if l.Name == u.Name {
			return a.reg.Get(ctx, u.Name) // with its credentials
		}
	}
	return u, nil
}

// exceptionSource reads the stored exceptions.
type exceptionSource struct{ st *store.Store }

func (e exceptionSource) Exceptions(ctx context.Context, now time.Time) ([]policy.Exception, error) {
	rows, err := e.st.ListExceptions(ctx, now)
	if err != nil {
		return nil, err
	}
	var out []policy.Exception
	for _, r := range rows {
		ex, err := policy.ParseExceptions(r.Document)
		if err != nil {
			return nil, fmt.Errorf("exception %s: %w", r.ID, err)
		}
		out = append(out, ex...)
	}
	return out, nil
}

// vulnData is the vulnerability database, opened again when cssc db
// replaces it. A replaced database is closed when the last user of it
// is done (an analysis may be matching against it).
type vulnData struct {
	dir string
	log *slog.Logger
	mu  sync.Mutex
	db  *openDB
}

// openDB is an open database and how many are using it.
type openDB struct {
	db    *vulndb.DB
	users int
	stale bool
}

func (o *openDB) closeIfDone() {
	if o.stale && o.users == 0 {
		_ = o.db.Close()
	}
}

// source is the current database and a release to call when done with
// it; a missing database is no source (the analysis then reports the data
// as incomplete, which policy refuses).
func (v *vulnData) source(ctx context.Context) (analysis.VulnSource, func(), error) {
	db, release, err := v.use(ctx)
	if err != nil || db == nil {
		return nil, release, err
	}
	return analysis.DBSource(db), release, nil
}

// use is the current database (nil when there is none) and its release.
func (v *vulnData) use(ctx context.Context) (*vulndb.DB, func(), error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.db != nil && v.db.db.Superseded() {
		v.db.stale = true
		v.db.closeIfDone()
		v.db = nil
	}
	if v.db == nil {
		db, err := vulndb.Open(ctx, v.dir)
		if errors.Is(err, vulndb.ErrNoDatabase) {
			v.log.WarnContext(ctx, "no vulnerability database: images cannot pass the vulnerability check", "db_dir", v.dir)
			return nil, func() {}, nil
		}
		if err != nil {
			return nil, nil, err
		}
		v.db = &openDB{db: db}
	}
	o := v.db
	o.users++
	release := func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		o.users--
		o.closeIfDone()
	}
	return o.db, release, nil
}

// version identifies the data: what was imported, and when.
func (v *vulnData) version() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, release, err := v.use(ctx)
	if err != nil {
		return ""
	}
	defer release()
	if db == nil {
		return "none"
	}
	st, err := db.Status(ctx)
	if err != nil {
		return ""
	}
	h := sha256.New()
	for _, f := range st {
		fmt.Fprintf(h, "%s %d %s %s\n", f.Family, f.Records, f.ImportedAt.Format(time.RFC3339Nano), f.LastModified)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
