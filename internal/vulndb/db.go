package vulndb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ossf/osv-schema/bindings/go/osvschema"
)

// Cache sizes: a rescan of stored SBOMs asks for the same packages again
// and again, so answers (which records a package has) and parsed records
// are kept. Answers are small and counted; records are bounded by the
// size of their JSON (a parsed record takes a few times that in memory).
const (
	queryCacheEntries = 100_000
	recordCacheBytes  = 64 << 20
)

// recordRef names a stored record.
type recordRef struct{ family, id string }

// DB is a read-only view of the database as it was when opened: a later
// import or update replaces the file, not this view (see Superseded).
// It is safe for concurrent use.
type DB struct {
	dir, path string
	info      os.FileInfo
	sqldb     *sql.DB
	conn      *sql.Conn // one connection, pinned: it keeps the file it opened
	dec       *zstd.Decoder

	families   map[string]FamilyStatus
	ecosystems map[string]int // exact ecosystem → records

	mu        sync.Mutex // guards conn, the statements and the caches
	byPackage *sql.Stmt
	byID      *sql.Stmt
	queries   *lru[[]recordRef]
	records   *lru[*osvschema.Vulnerability]
}

// FamilyStatus describes one imported ecosystem family.
type FamilyStatus struct {
	Family       string    `json:"family"`
	Records      int       `json:"records"`
	Source       string    `json:"source"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	ImportedAt   time.Time `json:"imported_at"`
	// CheckedAt is when an update last asked the mirror (zero if never).
	CheckedAt time.Time `json:"checked_at,omitzero"`
	// Newest is the newest record's modified time: the data's age.
	Newest time.Time `json:"newest,omitzero"`
}

// Coverage says whether the database has data for an ecosystem.
type Coverage struct {
	Ecosystem string
	Family    string
	// Imported is true when the family was imported at all.
	Imported bool
	// Release is true when records exist for exactly Ecosystem ("Debian:12");
	// for an ecosystem without a release ("Go") likewise: records under
	// exactly that name.
	Release bool
	// Records is the number of records for exactly Ecosystem.
	Records    int
	ImportedAt time.Time
	Newest     time.Time
}

// Covered reports whether a package of the ecosystem can be judged: no
// data is not "no vulnerabilities".
func (c Coverage) Covered() bool { return c.Imported && c.Release }

// Reason says why the ecosystem is not covered; empty when it is.
func (c Coverage) Reason() string {
	switch {
	case !c.Imported:
		return fmt.Sprintf("no %s vulnerability data in the database (cssc db update --ecosystems %q)", c.Family, c.Family)
	case !c.Release:
		return fmt.Sprintf("the %s vulnerability data has no records for %s", c.Family, c.Ecosystem)
	}
	return ""
}

// Open opens the database in dir for reading.
func Open(ctx context.Context, dir string) (*DB, error) {
	path := filepath.Join(dir, dbFile)
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s: run `cssc db import` or `cssc db update`", ErrNoDatabase, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open vulnerability database: %w", err)
	}
	d := &DB{dir: dir, path: path, info: info}
	if err := d.open(ctx); err != nil {
		_ = d.Close()
		return nil, err
	}
	if d.byPackage, err = d.conn.PrepareContext(ctx, `SELECT a.family, a.id, r.data
		FROM affected a JOIN records r ON r.family = a.family AND r.id = a.id
		WHERE a.ecosystem = ? AND a.name = ? ORDER BY a.id`); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if d.byID, err = d.conn.PrepareContext(ctx, "SELECT data FROM records WHERE family = ? AND id = ?"); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if d.dec, err = zstd.NewReader(nil); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d.queries = newLRU[[]recordRef](queryCacheEntries)
	d.records = newLRU[*osvschema.Vulnerability](recordCacheBytes)
	return d, nil
}

// open connects to the file (immutable: it is never written in place) and
// loads the family and ecosystem metadata.
func (d *DB) open(ctx context.Context) error {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("immutable", "1")
	var err error
	if d.sqldb, err = sql.Open("sqlite", sqliteURI(d.path, q)); err != nil {
		return fmt.Errorf("open %s: %w", d.path, err)
	}
	d.sqldb.SetMaxOpenConns(1)
	if d.conn, err = d.sqldb.Conn(ctx); err != nil {
		return fmt.Errorf("open %s: %w", d.path, err)
	}
	var v int
	if err := d.conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("open %s: %w", d.path, err)
	}
	if v != schemaVersion {
		return fmt.Errorf("open %s: database format %d, this cssc reads %d: import the data again", d.path, v, schemaVersion)
	}
	d.families = map[string]FamilyStatus{}
	rows, err := d.conn.QueryContext(ctx, "SELECT family, source, etag, last_modified, imported_at, newest, records FROM families")
	if err != nil {
		return fmt.Errorf("open %s: %w", d.path, err)
	}
	for rows.Next() {
		var f FamilyStatus
		var imported, newest int64
		if err := rows.Scan(&f.Family, &f.Source, &f.ETag, &f.LastModified, &imported, &newest, &f.Records); err != nil {
			_ = rows.Close()
			return fmt.Errorf("open %s: %w", d.path, err)
		}
		f.ImportedAt = time.Unix(0, imported).UTC()
		if newest != 0 {
			f.Newest = time.Unix(0, newest).UTC()
		}
		d.families[f.Family] = f
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("open %s: %w", d.path, err)
	}
	d.ecosystems = map[string]int{}
	rows, err = d.conn.QueryContext(ctx, "SELECT ecosystem, records FROM ecosystems")
	if err != nil {
		return fmt.Errorf("open %s: %w", d.path, err)
	}
	for rows.Next() {
		var e string
		var n int
		if err := rows.Scan(&e, &n); err != nil {
			_ = rows.Close()
			return fmt.Errorf("open %s: %w", d.path, err)
		}
		d.ecosystems[e] = n
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("open %s: %w", d.path, err)
	}
	return nil
}

// readFamilies reads the family metadata of the database file at path.
func readFamilies(ctx context.Context, path string) (map[string]FamilyStatus, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoDatabase
	}
	d := &DB{path: path}
	defer func() { _ = d.Close() }()
	if err := d.open(ctx); err != nil {
		return nil, err
	}
	return d.families, nil
}

// Close releases the database.
func (d *DB) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{d.byPackage, d.byID} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if d.conn != nil {
		errs = append(errs, d.conn.Close())
	}
	if d.sqldb != nil {
		errs = append(errs, d.sqldb.Close())
	}
	if d.dec != nil {
		d.dec.Close()
	}
	return errors.Join(errs...)
}

// Superseded reports whether an import or update has replaced the
// database since d was opened; a long-running reader opens it again to
// see the new data.
func (d *DB) Superseded() bool {
	st, err := os.Stat(d.path)
	return err != nil || !os.SameFile(st, d.info)
}

// Vulnerabilities returns the non-withdrawn records with an affected
// entry for exactly ecosystem ("Debian:12", "Go") and the package name
// (PEP 503-normalised for PyPI, exact otherwise), ordered by id. The
// records are shared between callers and must not be modified. Answers
// and parsed records are cached, so asking again is a map lookup.
func (d *DB) Vulnerabilities(ctx context.Context, ecosystem, name string) ([]*osvschema.Vulnerability, error) {
	norm := NormalizeName(ecosystem, name)
	key := ecosystem + "\x00" + norm
	d.mu.Lock()
	defer d.mu.Unlock()
	if refs, ok := d.queries.get(key); ok {
		if len(refs) == 0 {
			return nil, nil
		}
		out := make([]*osvschema.Vulnerability, len(refs))
		for i, r := range refs {
			v, err := d.recordByRef(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("vulnerabilities of %s %s: %w", ecosystem, name, err)
			}
			out[i] = v
		}
		return out, nil
	}
	rows, err := d.byPackage.QueryContext(ctx, ecosystem, norm)
	if err != nil {
		return nil, fmt.Errorf("vulnerabilities of %s %s: %w", ecosystem, name, err)
	}
	var (
		out  []*osvschema.Vulnerability
		refs []recordRef
	)
	for rows.Next() {
		var r recordRef
		var data []byte
		if err := rows.Scan(&r.family, &r.id, &data); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("vulnerabilities of %s %s: %w", ecosystem, name, err)
		}
		v, err := d.record(r, data)
		if err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("vulnerabilities of %s %s: %w", ecosystem, name, err)
		}
		out = append(out, v)
		refs = append(refs, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("vulnerabilities of %s %s: %w", ecosystem, name, err)
	}
	d.queries.put(key, refs, 1)
	return out, nil
}

// recordByRef returns a record from the cache, or reads and parses it
// again when it was evicted; the caller holds d.mu.
func (d *DB) recordByRef(ctx context.Context, r recordRef) (*osvschema.Vulnerability, error) {
	if v, ok := d.records.get(r.family + "\x00" + r.id); ok {
		return v, nil
	}
	var data []byte
	if err := d.byID.QueryRowContext(ctx, r.family, r.id).Scan(&data); err != nil {
		return nil, fmt.Errorf("record %s: %w", r.id, err)
	}
	return d.record(r, data)
}

// record parses a stored record once; the caller holds d.mu.
func (d *DB) record(r recordRef, data []byte) (*osvschema.Vulnerability, error) {
	key := r.family + "\x00" + r.id
	if v, ok := d.records.get(key); ok {
		return v, nil
	}
	js, err := d.dec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.id, err)
	}
	v, err := unmarshal(js)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.id, err)
	}
	d.records.put(key, v, len(js))
	return v, nil
}

// Coverage says whether the database has data for ecosystem, and how old.
func (d *DB) Coverage(ecosystem string) Coverage {
	c := Coverage{Ecosystem: ecosystem, Family: Family(ecosystem)}
	f, ok := d.families[c.Family]
	if !ok {
		return c
	}
	c.Imported, c.ImportedAt, c.Newest = true, f.ImportedAt, f.Newest
	c.Records = d.ecosystems[ecosystem]
	// Records must exist under exactly this name: a family imported under
	// release-qualified names ("Red Hat:enterprise_linux:9::baseos",
	// "Rocky Linux:9") says nothing about a package whose ecosystem lacks
	// the release, and such a package must not pass as clean.
	c.Release = c.Records > 0
	return c
}

// Status describes every imported family, ordered by name.
func (d *DB) Status(ctx context.Context) ([]FamilyStatus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	checked, err := readChecked(d.dir)
	if err != nil {
		return nil, fmt.Errorf("database status: %w", err)
	}
	out := make([]FamilyStatus, 0, len(d.families))
	for _, f := range d.families {
		f.CheckedAt = checked[f.Family]
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Family < out[j].Family })
	return out, nil
}
