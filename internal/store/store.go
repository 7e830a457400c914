// Package store keeps the registry's metadata: repositories, which blobs
// each repository holds, manifests (their bytes included), tags, the
// referrer index and uploads in progress.
//
// The SQL is kept to what SQLite and PostgreSQL both run. Every change that
// must be all-or-nothing (a manifest and its tags and references) is one
// transaction, so a crash never leaves half of it.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"

	_ "modernc.org/sqlite" // SQLite driver, pure Go
)

// Errors callers test with errors.Is.
var (
	ErrRepositoryUnknown  = errors.New("repository unknown")
	ErrBlobUnknown        = errors.New("blob unknown")
	ErrManifestUnknown    = errors.New("manifest unknown")
	ErrUploadUnknown      = errors.New("upload unknown")
	ErrUploadConflict     = errors.New("upload changed concurrently")
	ErrBlobReferenced     = errors.New("blob is referenced by a manifest")
	ErrManifestReferenced = errors.New("manifest is referenced by an index")
)

// MissingReferenceError reports a manifest whose blob or child manifest is
// not in the repository, or is there with another size than the manifest
// says (WantSize >= 0).
type MissingReferenceError struct {
	Digest   string
	Kind     string // "blob" or "manifest"
	WantSize int64
	HaveSize int64
}

func (e *MissingReferenceError) Error() string {
	if e.WantSize >= 0 {
		return fmt.Sprintf("%s %s is %d bytes, the manifest says %d", e.Kind, e.Digest, e.HaveSize, e.WantSize)
	}
	return fmt.Sprintf("%s %s is not in the repository", e.Kind, e.Digest)
}

// Store is the SQL metadata store.
type Store struct {
	w *sql.DB // one connection: SQLite has one writer at a time anyway
	r *sql.DB // a pool for reads (WAL lets them run beside the writer)

	// stmts holds the reads of the hot paths (a manifest or blob lookup,
	// a credential check) prepared once: parsing and planning the SQL
	// again on every request cost more than running it.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt
}

// Options tune Open.
type Options struct {
	ReadOnly bool // open without migrating or writing (e.g. an auditor's copy)
}

// OpenSQLite opens (creating and migrating if needed) the SQLite database at path.
func OpenSQLite(ctx context.Context, path string, opts Options) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	if opts.ReadOnly {
		q.Add("_pragma", "query_only(1)")
		r, err := sql.Open("sqlite", "file:"+path+"?mode=ro&"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		if err := r.PingContext(ctx); err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		return &Store{w: r, r: r}, nil
	}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	if err := migrate(ctx, w, sqliteDialect); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	return &Store{w: w, r: r}, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		_ = st.Close()
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// readRow runs query, a constant statement of a hot path, on the read
// pool as a statement prepared once.
func (s *Store) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	s.stmtMu.Lock()
	st, ok := s.stmts[query]
	if !ok {
		var err error
		if st, err = s.r.PrepareContext(ctx, query); err != nil {
			s.stmtMu.Unlock()
			return s.r.QueryRowContext(ctx, query, args...) // answers with the same error
		}
		if s.stmts == nil {
			s.stmts = map[string]*sql.Stmt{}
		}
		s.stmts[query] = st
	}
	s.stmtMu.Unlock()
	return st.QueryRowContext(ctx, args...)
}

// Ping checks the database answers (for readiness).
func (s *Store) Ping(ctx context.Context) error {
	return s.r.PingContext(ctx)
}

// inTx runs fn in a write transaction.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func ensureRepository(ctx context.Context, tx *sql.Tx, name string, now int64) (int64, error) {
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO repositories(name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, now); err != nil {
		return 0, fmt.Errorf("create repository %s: %w", name, err)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM repositories WHERE name = $1`, name).Scan(&id); err != nil {
		return 0, fmt.Errorf("find repository %s: %w", name, err)
	}
	return id, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func repositoryID(ctx context.Context, q queryer, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM repositories WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%s: %w", name, ErrRepositoryUnknown)
	}
	if err != nil {
		return 0, fmt.Errorf("find repository %s: %w", name, err)
	}
	return id, nil
}
