package vulndb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultMirror is where osv.dev publishes its per-ecosystem exports
// (<mirror>/<Ecosystem>/all.zip).
const DefaultMirror = "https://osv-vulnerabilities.storage.googleapis.com"

// DefaultEcosystems are the ecosystem families `cssc db update` fetches
// unless told otherwise, spelled as osv.dev spells them.
func DefaultEcosystems() []string {
	return []string{"Debian", "Ubuntu", "Alpine", "Red Hat", "Go", "PyPI", "npm", "Maven", "crates.io", "RubyGems", "Packagist"}
}

// UpdateOptions tune Update.
type UpdateOptions struct {
	// Mirror is the base URL of the exports; empty means DefaultMirror.
	Mirror string
	// Ecosystems are the families to fetch; empty means DefaultEcosystems.
	Ecosystems []string
	// HTTPClient does the downloads; nil means http.DefaultClient.
	HTTPClient *http.Client
	// MaxDownload caps one export's size; 0 means DefaultMaxDownload.
	MaxDownload int64
	// Log receives progress; nil discards it.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// UpdateState is what happened to one ecosystem in an update.
type UpdateState string

// The states of UpdateResult.
const (
	NotModified UpdateState = "not modified"
	Updated     UpdateState = "updated"
	Failed      UpdateState = "failed"
)

// UpdateResult is the outcome for one ecosystem.
type UpdateResult struct {
	Ecosystem string
	State     UpdateState
	Records   int   // when Updated
	Err       error // when Failed
}

// Update downloads <mirror>/<ecosystem>/all.zip for each ecosystem,
// conditionally (If-None-Match / If-Modified-Since with what the stored
// data was fetched with), and imports the changed ones atomically, in one
// new database file. An ecosystem whose download or import fails keeps
// its current data and is reported Failed; the others go ahead. The error
// joins the failures.
func Update(ctx context.Context, dir string, opts UpdateOptions) ([]UpdateResult, error) {
	mirror := strings.TrimRight(opts.Mirror, "/")
	if mirror == "" {
		mirror = DefaultMirror
	}
	if u, err := url.Parse(mirror); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("update: mirror %q is not an http(s) URL", opts.Mirror)
	}
	ecos := dedupe(opts.Ecosystems)
	if len(ecos) == 0 {
		ecos = DefaultEcosystems()
	}
	for _, e := range ecos {
		if strings.Contains(e, ":") || e == "." || e == ".." {
			return nil, fmt.Errorf("update: %q is not an ecosystem family (name it as osv.dev does, e.g. \"Debian\", not \"Debian:12\")", e)
		}
	}
	client := opts.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	maxSize := opts.MaxDownload
	if maxSize <= 0 {
		maxSize = DefaultMaxDownload
	}
	log, now := opts.Log, opts.Now
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	start := now() // the import and check time of this update

	lock, err := lockDir(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	defer func() { _ = lock.Close() }()
	removeStale(dir, log)
	current, err := readFamilies(ctx, filepath.Join(dir, dbFile))
	if err != nil && !errors.Is(err, ErrNoDatabase) {
		return nil, fmt.Errorf("update: %w", err)
	}

	results := make([]UpdateResult, len(ecos))
	var fetched []int // indexes into results of the exports downloaded
	sources := map[int]source{}
	defer func() {
		for _, s := range sources {
			_ = os.Remove(s.path)
		}
	}()
	for i, eco := range ecos {
		results[i].Ecosystem = eco
		u := mirror + "/" + url.PathEscape(eco) + "/all.zip"
		log.Info("checking", "ecosystem", eco, "url", u)
		src, notModified, err := fetch(ctx, client, u, current[eco], dir, maxSize)
		switch {
		case err != nil:
			results[i].State, results[i].Err = Failed, fmt.Errorf("%s: %w", eco, err)
		case notModified:
			results[i].State = NotModified
		default:
			src.family = eco
			sources[i] = src
			fetched = append(fetched, i)
		}
	}

	if len(fetched) > 0 {
		importFetched(ctx, dir, fetched, sources, results, start, log)
	}

	checked := make([]string, 0, len(results))
	for _, r := range results {
		if r.State != Failed {
			checked = append(checked, r.Ecosystem)
		}
	}
	var errs []error
	if err := recordChecked(dir, checked, start); err != nil {
		errs = append(errs, err)
	}
	for _, r := range results {
		if r.State == Failed {
			errs = append(errs, r.Err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return results, fmt.Errorf("update: %w", err)
	}
	return results, nil
}

// importFetched imports the downloaded exports into one new database,
// each in a savepoint so that one bad export fails alone.
func importFetched(ctx context.Context, dir string, fetched []int, sources map[int]source, results []UpdateResult, now time.Time, log *slog.Logger) {
	fail := func(i int, err error) {
		results[i].State, results[i].Err = Failed, fmt.Errorf("%s: %w", results[i].Ecosystem, err)
	}
	b, err := newBuilder(ctx, dir, log)
	if err != nil {
		for _, i := range fetched {
			fail(i, err)
		}
		return
	}
	defer b.abort()
	covered := map[string]familyMeta{}
	var imported []int
	for _, i := range fetched {
		src := sources[i]
		log.Info("importing", "ecosystem", src.family)
		err := b.savepoint(ctx, func() error {
			st, err := b.addSource(ctx, src, false)
			if err != nil {
				return err
			}
			if len(st.all) == 0 {
				return fmt.Errorf("%s holds no %s records", src.origin, src.family)
			}
			return nil
		})
		if err != nil {
			fail(i, fmt.Errorf("import %s: %w", src.origin, err))
			continue
		}
		covered[src.family] = familyMeta{source: src.origin, etag: src.etag, lastModified: src.lastMo}
		imported = append(imported, i)
	}
	if len(imported) == 0 {
		return
	}
	counts, err := b.finish(ctx, covered, now)
	for _, i := range imported {
		if err != nil {
			fail(i, err)
			continue
		}
		results[i].State, results[i].Records = Updated, counts[results[i].Ecosystem]
	}
}

// fetch downloads u into a temporary file in dir, conditionally on what
// old was fetched with. notModified is true on a 304.
func fetch(ctx context.Context, client *http.Client, u string, old FamilyStatus, dir string, maxSize int64) (src source, notModified bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return src, false, fmt.Errorf("GET %s: %w", u, err)
	}
	conditional := false
	if old.ETag != "" {
		req.Header.Set("If-None-Match", old.ETag)
		conditional = true
	}
	if old.LastModified != "" {
		req.Header.Set("If-Modified-Since", old.LastModified)
		conditional = true
	}
	resp, err := client.Do(req)
	if err != nil {
		return src, false, fmt.Errorf("GET %s: %w", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusNotModified && conditional:
		return src, true, nil
	case resp.StatusCode != http.StatusOK:
		return src, false, fmt.Errorf("GET %s: %s", u, resp.Status)
	case resp.ContentLength > maxSize:
		return src, false, fmt.Errorf("GET %s: %d bytes, more than the %d allowed", u, resp.ContentLength, maxSize)
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"download-*.zip")
	if err != nil {
		return src, false, fmt.Errorf("GET %s: %w", u, err)
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, maxSize+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		err = fmt.Errorf("GET %s: after %d bytes: %w", u, n, err)
	case n > maxSize:
		err = fmt.Errorf("GET %s: more than the %d bytes allowed", u, maxSize)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		err = fmt.Errorf("GET %s: %d bytes of %d", u, n, resp.ContentLength)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return src, false, err
	}
	return source{
		path:   f.Name(),
		origin: u,
		etag:   resp.Header.Get("ETag"),
		lastMo: resp.Header.Get("Last-Modified"),
	}, false, nil
}

// recordChecked notes that families were checked at t (in checked.json,
// beside the database: a 304 must not rewrite the database).
func recordChecked(dir string, families []string, t time.Time) error {
	if len(families) == 0 {
		return nil
	}
	m, err := readChecked(dir)
	if err != nil {
		m = map[string]time.Time{} // an unreadable file is rewritten
	}
	for _, f := range families {
		m[f] = t.UTC()
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("record check times: %w", err)
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+"checked-*.json")
	if err != nil {
		return fmt.Errorf("record check times: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, checkedFile))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("record check times: %w", err)
	}
	return nil
}

func readChecked(dir string) (map[string]time.Time, error) {
	m := map[string]time.Time{}
	b, err := os.ReadFile(filepath.Join(dir, checkedFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]time.Time{}, fmt.Errorf("read %s: %w", checkedFile, err)
	}
	return m, nil
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		v = strings.TrimSpace(v)
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
