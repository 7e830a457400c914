// Package registry serves the OCI distribution API v1.1: blobs, uploads,
// manifests, tags, referrers and the catalog.
//
// Bytes go to a storage.Store, everything else to the metadata store; the
// package holds only the protocol.
package registry

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/cssc-project/cssc/internal/storage"
	"github.com/cssc-project/cssc/internal/store"
)

// Metadata is what the registry needs from the metadata store.
type Metadata interface {
	LinkBlob(ctx context.Context, repo, digest string, size int64) error
	BlobSize(ctx context.Context, repo, digest string) (int64, error)
	RepositoriesWithBlob(ctx context.Context, digest string, limit int) ([]string, error)
	UnlinkBlob(ctx context.Context, repo, digest string) error

	PutManifest(ctx context.Context, m store.Manifest, tags []string) error
	GetManifest(ctx context.Context, repo, digest string) (store.ManifestContent, error)
	GetTaggedManifest(ctx context.Context, repo, tag string) (store.ManifestContent, error)
	DeleteManifest(ctx context.Context, repo, digest string) error
	DeleteTag(ctx context.Context, repo, tag string) error
	ListTags(ctx context.Context, repo, last string, n int) ([]string, bool, error)
	ListRepositories(ctx context.Context, last string, n int) ([]string, bool, error)
	Referrers(ctx context.Context, repo, digest, artifactType string) ([]store.Referrer, error)

	CreateUpload(ctx context.Context, repo, id string) error
	GetUpload(ctx context.Context, repo, id string) (store.Upload, error)
	AdvanceUpload(ctx context.Context, id string, from, to int64, hashState []byte) error
	DeleteUpload(ctx context.Context, id string) error
}

// Options configure a Registry.
type Options struct {
	// MaxManifestBytes refuses larger manifests with 413 (default 4 MiB).
	MaxManifestBytes int64
	// CommitLock is held shared while a blob is committed and linked, and
	// exclusively by the garbage collector while it deletes bytes, so a
	// blob being pushed is never collected.
	CommitLock *sync.RWMutex
	// CanPull reports whether the caller of ctx may pull repo. The catalog
	// lists only such repositories, and a blob is mounted only from one of
	// them. Nil allows everything (access is then decided in front).
	CanPull func(ctx context.Context, repo string) bool
	Logger  *slog.Logger
}

// Registry is the distribution API handler.
type Registry struct {
	meta    Metadata
	blobs   storage.Store
	opts    Options
	log     *slog.Logger
	uploads keyedLocks
	// copyBufs holds the buffers blob downloads are copied through.
	copyBufs sync.Pool
}

// New returns a registry over meta and blobs.
func New(meta Metadata, blobs storage.Store, opts Options) *Registry {
	if opts.MaxManifestBytes <= 0 {
		opts.MaxManifestBytes = 4 << 20
	}
	if opts.CommitLock == nil {
		opts.CommitLock = &sync.RWMutex{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CanPull == nil {
		opts.CanPull = func(context.Context, string) bool { return true }
	}
	rg := &Registry{meta: meta, blobs: blobs, opts: opts, log: opts.Logger, uploads: keyedLocks{busy: map[string]struct{}{}}}
	rg.copyBufs.New = func() any { b := make([]byte, 256<<10); return &b }
	return rg
}

// route is a parsed request path.
type route struct {
	kind string // base, catalog, tags, blob, upload, manifest, referrers
	name string // repository
	ref  string // digest, tag or upload id
}

// Route names for metrics and logs.
const (
	RouteBase      = "base"
	RouteCatalog   = "catalog"
	RouteTags      = "tags"
	RouteBlob      = "blob"
	RouteUpload    = "upload"
	RouteManifest  = "manifest"
	RouteReferrers = "referrers"
	RouteUnknown   = "unknown"
)

// parseRoute reads the path from the right, because repository names hold
// slashes.
func parseRoute(path string) (route, bool) {
	if path == "/v2" || path == "/v2/" {
		return route{kind: RouteBase}, true
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}, false
	}
	if rest == "_catalog" {
		return route{kind: RouteCatalog}, true
	}
	seg := strings.Split(rest, "/")
	n := len(seg)
	join := func(k int) string { return strings.Join(seg[:n-k], "/") }
	switch {
	case n >= 3 && seg[n-2] == "tags" && seg[n-1] == "list":
		return route{kind: RouteTags, name: join(2)}, true
	case n >= 4 && seg[n-3] == "blobs" && seg[n-2] == "uploads":
		return route{kind: RouteUpload, name: join(3), ref: seg[n-1]}, true
	case n >= 3 && seg[n-2] == "blobs" && seg[n-1] == "uploads":
		return route{kind: RouteUpload, name: join(2)}, true
	case n >= 3 && seg[n-2] == "blobs":
		return route{kind: RouteBlob, name: join(2), ref: seg[n-1]}, true
	case n >= 3 && seg[n-2] == "manifests":
		return route{kind: RouteManifest, name: join(2), ref: seg[n-1]}, true
	case n >= 3 && seg[n-2] == "referrers":
		return route{kind: RouteReferrers, name: join(2), ref: seg[n-1]}, true
	}
	return route{}, false
}

// Route is a parsed API request path.
type Route struct {
	Kind string // one of the Route* names
	Name string // repository ("" for base and catalog)
	Ref  string // digest, tag or upload id
}

// ParseRoute parses an API path; false for a path that is not an endpoint.
func ParseRoute(path string) (Route, bool) {
	rt, ok := parseRoute(path)
	return Route{Kind: rt.kind, Name: rt.name, Ref: rt.ref}, ok
}

// ValidName reports whether name is a valid repository name.
func ValidName(name string) bool { return validName(name) }

// RouteName names the API route of a request path, for metrics.
func RouteName(path string) string {
	rt, ok := parseRoute(path)
	if !ok {
		return RouteUnknown
	}
	return rt.kind
}

func (rg *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, ok := parseRoute(r.URL.Path)
	if !ok {
		writeError(w, r, newError(http.StatusNotFound, codeNameUnknown, "no such API endpoint", r.URL.Path))
		return
	}
	if rt.name != "" && !validName(rt.name) {
		writeError(w, r, newError(http.StatusBadRequest, codeNameInvalid, "invalid repository name", rt.name))
		return
	}
	h := rg.handler(rt, r.Method)
	if h == nil {
		writeError(w, r, newError(http.StatusMethodNotAllowed, codeUnsupported, "method not allowed", r.Method))
		return
	}
	h(w, r, rt)
}

type handlerFunc func(http.ResponseWriter, *http.Request, route)

func (rg *Registry) handler(rt route, method string) handlerFunc {
	get := method == http.MethodGet || method == http.MethodHead
	switch {
	case rt.kind == RouteBase && get:
		return rg.base
	case rt.kind == RouteCatalog && method == http.MethodGet:
		return rg.catalog
	case rt.kind == RouteTags && method == http.MethodGet:
		return rg.tags
	case rt.kind == RouteReferrers && method == http.MethodGet:
		return rg.referrers
	case rt.kind == RouteBlob && get:
		return rg.getBlob
	case rt.kind == RouteBlob && method == http.MethodDelete:
		return rg.deleteBlob
	case rt.kind == RouteManifest && get:
		return rg.getManifest
	case rt.kind == RouteManifest && method == http.MethodPut:
		return rg.putManifest
	case rt.kind == RouteManifest && method == http.MethodDelete:
		return rg.deleteManifest
	case rt.kind == RouteUpload && rt.ref == "":
		if method == http.MethodPost {
			return rg.startUpload
		}
	case rt.kind == RouteUpload:
		switch method {
		case http.MethodGet:
			return rg.uploadStatus
		case http.MethodPatch:
			return rg.patchUpload
		case http.MethodPut:
			return rg.finishUpload
		case http.MethodDelete:
			return rg.cancelUpload
		}
	}
	return nil
}

func (rg *Registry) base(w http.ResponseWriter, r *http.Request, _ route) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte("{}"))
	}
}

// internalError logs err and answers 500 without leaking internals.
func (rg *Registry) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	rg.log.ErrorContext(r.Context(), what, "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, r, newError(http.StatusInternalServerError, codeUnsupported, what+" failed", nil))
}

// keyedLocks serialises requests on one upload, so two PATCHes of the same
// session cannot interleave their bytes.
type keyedLocks struct {
	mu   sync.Mutex
	busy map[string]struct{}
}

// tryLock takes key, or reports false when another request holds it.
func (k *keyedLocks) tryLock(key string) (unlock func(), ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, busy := k.busy[key]; busy {
		return nil, false
	}
	k.busy[key] = struct{}{}
	return func() {
		k.mu.Lock()
		delete(k.busy, key)
		k.mu.Unlock()
	}, true
}
