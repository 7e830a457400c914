package vulndb

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"

	_ "modernc.org/sqlite" // SQLite driver, pure Go
)

// source is one export to import.
type source struct {
	path string // zip or directory
	// family, when set, is the one family the source holds (a downloaded
	// <family>/all.zip): records are stored under it only. When empty the
	// families are found from the records (see Import).
	family       string
	origin       string // what families record as their source: the URL or the path
	etag, lastMo string
}

// sourceStats counts what one source held.
type sourceStats struct {
	withdrawn, invalid, noPackage, foreign int
	invalidNames                           []string
	// single are the families of records that name only one family;
	// all are every family seen. Both include withdrawn records.
	single, all map[string]bool
}

// maxInvalidNames bounds the bad records an import lists by name.
const maxInvalidNames = 20

// builder writes a new database file beside the current one.
type builder struct {
	dir, path string
	db        *sql.DB
	conn      *sql.Conn
	tx        *sql.Tx
	hasOld    bool
	enc       *zstd.Encoder
	log       *slog.Logger

	insRecord, selRecord, updRecord, delAffected, insAffected *sql.Stmt
}

func newBuilder(ctx context.Context, dir string, log *slog.Logger) (b *builder, err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+"osv-*.db")
	if err != nil {
		return nil, fmt.Errorf("create new database: %w", err)
	}
	b = &builder{dir: dir, path: f.Name(), log: log}
	_ = f.Close()
	defer func() {
		if err != nil {
			b.abort()
			b = nil
		}
	}()
	// The file is private until it is renamed into place: no journal on
	// disk and no syncs while it is written; it is synced once at the end.
	q := url.Values{}
	q.Add("_pragma", "journal_mode(MEMORY)")
	q.Add("_pragma", "synchronous(OFF)")
	q.Add("_pragma", "cache_size(-65536)")
	if b.db, err = sql.Open("sqlite", sqliteURI(b.path, q)); err != nil {
		return nil, fmt.Errorf("create new database: %w", err)
	}
	b.db.SetMaxOpenConns(1)
	if b.conn, err = b.db.Conn(ctx); err != nil {
		return nil, fmt.Errorf("create new database: %w", err)
	}
	if _, err = b.conn.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("create new database: %w", err)
	}
	if _, err = b.conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return nil, fmt.Errorf("create new database: %w", err)
	}
	if err = b.attachCurrent(ctx); err != nil {
		return nil, err
	}
	if _, err = b.conn.ExecContext(ctx, "CREATE TEMP TABLE covered (family TEXT PRIMARY KEY)"); err != nil {
		return nil, fmt.Errorf("create new database: %w", err)
	}
	if b.tx, err = b.conn.BeginTx(ctx, nil); err != nil {
		return nil, fmt.Errorf("create new database: %w", err)
	}
	for _, s := range []struct {
		p   **sql.Stmt
		sql string
	}{
		{&b.insRecord, "INSERT INTO records (family, id, modified, data) VALUES (?, ?, ?, ?) ON CONFLICT (family, id) DO NOTHING"},
		{&b.selRecord, "SELECT modified, data FROM records WHERE family = ? AND id = ?"},
		{&b.updRecord, "UPDATE records SET modified = ?, data = ? WHERE family = ? AND id = ?"},
		{&b.delAffected, "DELETE FROM affected WHERE family = ? AND id = ?"},
		{&b.insAffected, "INSERT OR IGNORE INTO affected (ecosystem, name, family, id) VALUES (?, ?, ?, ?)"},
	} {
		if *s.p, err = b.tx.PrepareContext(ctx, s.sql); err != nil {
			return nil, fmt.Errorf("create new database: %w", err)
		}
	}
	if b.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault)); err != nil {
		return nil, fmt.Errorf("create new database: %w", err)
	}
	return b, nil
}

// attachCurrent attaches the current database (if any) as "old", to copy
// the families this import does not replace. It is read as immutable: it
// is never written in place, and the lock keeps other writers from
// renaming a new file over it meanwhile.
func (b *builder) attachCurrent(ctx context.Context) error {
	cur := filepath.Join(b.dir, dbFile)
	if _, err := os.Stat(cur); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read current database: %w", err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("immutable", "1")
	if _, err := b.conn.ExecContext(ctx, "ATTACH DATABASE ? AS old", sqliteURI(cur, q)); err != nil {
		return fmt.Errorf("read current database %s: %w", cur, err)
	}
	var v int
	if err := b.conn.QueryRowContext(ctx, "PRAGMA old.user_version").Scan(&v); err != nil {
		return fmt.Errorf("read current database %s: %w", cur, err)
	}
	if v != schemaVersion {
		return fmt.Errorf("current database %s has format %d, this cssc writes %d: remove it and import the data again", cur, v, schemaVersion)
	}
	b.hasOld = true
	return nil
}

// abort throws the new file away.
func (b *builder) abort() {
	if b.tx != nil {
		_ = b.tx.Rollback()
	}
	if b.conn != nil {
		_ = b.conn.Close()
	}
	if b.db != nil {
		_ = b.db.Close()
	}
	if b.enc != nil {
		_ = b.enc.Close()
	}
	_ = os.Remove(b.path)
	_ = os.Remove(b.path + "-journal")
}

// parsed is a worker's result for one raw record.
type parsed struct {
	rec  *record
	comp []byte // rec.data compressed
	err  error
}

// addSource reads src and writes its records. Parsing and compressing run
// on every core; the writes happen on the calling goroutine. With
// skipInvalid a record that does not parse is counted instead of failing
// the source.
func (b *builder) addSource(ctx context.Context, src source, skipInvalid bool) (sourceStats, error) {
	st := sourceStats{single: map[string]bool{}, all: map[string]bool{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	raws := make(chan rawRecord, 64)
	results := make(chan parsed, 64)
	g.Go(func() error {
		defer close(raws)
		return readSource(gctx, src.path, func(r rawRecord) error {
			select {
			case raws <- r:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	var workers sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			for raw := range raws {
				p := parsed{}
				p.rec, p.err = parseRecord(raw)
				if p.err == nil && !p.rec.withdrawn {
					p.comp = b.enc.EncodeAll(p.rec.data, nil)
				}
				select {
				case results <- p:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	go func() { workers.Wait(); close(results) }()

	var werr error
	for p := range results {
		if werr != nil {
			continue // drain until the readers stop
		}
		if werr = b.take(ctx, src, p, skipInvalid, &st); werr != nil {
			cancel()
		}
	}
	gerr := g.Wait()
	if werr != nil {
		return st, werr
	}
	if gerr != nil {
		return st, gerr
	}
	return st, nil
}

// take writes one parsed record (or counts why it is not written).
func (b *builder) take(ctx context.Context, src source, p parsed, skipInvalid bool, st *sourceStats) error {
	if p.err != nil {
		var inv *InvalidRecordError
		if skipInvalid && errors.As(p.err, &inv) {
			st.invalid++
			if len(st.invalidNames) < maxInvalidNames {
				st.invalidNames = append(st.invalidNames, inv.Name)
			}
			b.log.Warn("skipping an invalid OSV record", "record", inv.Name, "error", inv.Err)
			return nil
		}
		return p.err
	}
	r := p.rec
	if len(r.families) == 0 {
		st.noPackage++
		return nil
	}
	families := r.families
	if src.family != "" {
		if !contains(r.families, src.family) {
			st.foreign++
			return nil
		}
		families = []string{src.family}
	}
	for _, f := range families {
		st.all[f] = true
	}
	if len(r.families) == 1 {
		st.single[r.families[0]] = true
	}
	if r.withdrawn {
		st.withdrawn++
		return nil
	}
	var mod int64
	if !r.modified.IsZero() {
		mod = r.modified.UnixNano()
	}
	for _, fam := range families {
		if err := b.store(ctx, fam, r, mod, p.comp); err != nil {
			return fmt.Errorf("store %s from %s: %w", r.id, r.name, err)
		}
	}
	return nil
}

// store writes r under fam. A record already stored under the same id
// (from another source of this import) is replaced only by a newer one
// (the larger data breaks a tie, so the result does not depend on order).
func (b *builder) store(ctx context.Context, fam string, r *record, mod int64, comp []byte) error {
	res, err := b.insRecord.ExecContext(ctx, fam, r.id, mod, comp)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		var oldMod int64
		var oldData []byte
		if err := b.selRecord.QueryRowContext(ctx, fam, r.id).Scan(&oldMod, &oldData); err != nil {
			return err
		}
		if mod < oldMod || (mod == oldMod && bytes.Compare(comp, oldData) <= 0) {
			return nil
		}
		if _, err := b.updRecord.ExecContext(ctx, mod, comp, fam, r.id); err != nil {
			return err
		}
		if _, err := b.delAffected.ExecContext(ctx, fam, r.id); err != nil {
			return err
		}
	}
	for _, k := range r.keys {
		if Family(k.ecosystem) != fam {
			continue
		}
		if _, err := b.insAffected.ExecContext(ctx, k.ecosystem, k.name, fam, r.id); err != nil {
			return err
		}
	}
	return nil
}

// savepoint runs fn inside a savepoint: if fn fails, what it wrote is
// undone and the build goes on without it.
func (b *builder) savepoint(ctx context.Context, fn func() error) error {
	if _, err := b.tx.ExecContext(ctx, "SAVEPOINT source"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		if _, rerr := b.tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO source"); rerr != nil {
			return errors.Join(err, fmt.Errorf("undo: %w", rerr))
		}
		_, _ = b.tx.ExecContext(context.WithoutCancel(ctx), "RELEASE source")
		return err
	}
	_, err := b.tx.ExecContext(ctx, "RELEASE source")
	return err
}

// familyMeta is what a replaced family records about where it came from.
type familyMeta struct {
	source, etag, lastModified string
}

// finish keeps only the families in covered from what was added, copies
// every other family from the current database, writes the metadata, and
// renames the new file over the current one. It returns the record count
// of each covered family.
func (b *builder) finish(ctx context.Context, covered map[string]familyMeta, now time.Time) (map[string]int, error) {
	tx := b.tx
	exec := func(q string, args ...any) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("write new database: %w", err)
		}
		return nil
	}
	for f := range covered {
		if err := exec("INSERT INTO temp.covered (family) VALUES (?)", f); err != nil {
			return nil, err
		}
	}
	// Records stored under a family no source covers (the other family of
	// a record that names two) are not that family's data: drop them.
	const notCovered = "family NOT IN (SELECT family FROM temp.covered)"
	if err := exec("DELETE FROM records WHERE " + notCovered); err != nil {
		return nil, err
	}
	if err := exec("DELETE FROM affected WHERE " + notCovered); err != nil {
		return nil, err
	}
	if b.hasOld {
		for _, t := range []string{"records", "affected", "families"} {
			if err := exec("INSERT INTO main." + t + " SELECT * FROM old." + t + " WHERE " + notCovered); err != nil {
				return nil, err
			}
		}
	}
	for f, m := range covered {
		if err := exec(`INSERT INTO families (family, source, etag, last_modified, imported_at, newest, records)
			VALUES (?, ?, ?, ?, ?,
				(SELECT COALESCE(MAX(modified), 0) FROM records WHERE family = ?),
				(SELECT COUNT(*) FROM records WHERE family = ?))`,
			f, m.source, m.etag, m.lastModified, now.UnixNano(), f, f); err != nil {
			return nil, err
		}
	}
	if err := exec(`INSERT INTO ecosystems (ecosystem, family, records)
		SELECT ecosystem, family, COUNT(DISTINCT id) FROM affected GROUP BY ecosystem`); err != nil {
		return nil, err
	}
	counts := map[string]int{}
	rows, err := tx.QueryContext(ctx, "SELECT family, records FROM families WHERE family IN (SELECT family FROM temp.covered)")
	if err != nil {
		return nil, fmt.Errorf("write new database: %w", err)
	}
	for rows.Next() {
		var f string
		var n int
		if err := rows.Scan(&f, &n); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("write new database: %w", err)
		}
		counts[f] = n
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("write new database: %w", err)
	}
	b.tx = nil
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("write new database: %w", err)
	}
	if b.hasOld {
		if _, err := b.conn.ExecContext(ctx, "DETACH DATABASE old"); err != nil {
			return nil, fmt.Errorf("write new database: %w", err)
		}
	}
	err = errors.Join(b.conn.Close(), b.db.Close())
	b.conn, b.db = nil, nil
	if err != nil {
		return nil, fmt.Errorf("write new database: %w", err)
	}
	if err := syncFile(b.path); err != nil {
		return nil, err
	}
	cur := filepath.Join(b.dir, dbFile)
	if err := os.Rename(b.path, cur); err != nil {
		return nil, fmt.Errorf("replace %s: %w", cur, err)
	}
	if err := syncFile(b.dir); err != nil {
		return nil, err
	}
	_ = b.enc.Close()
	b.enc = nil
	return counts, nil
}

func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return nil
}

// removeStale deletes the temporary files an interrupted import or
// update left behind; the caller holds the lock.
func removeStale(dir string, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			p := filepath.Join(dir, e.Name())
			if err := os.Remove(p); err == nil {
				log.Debug("removed a leftover temporary file", "path", p)
			}
		}
	}
}

func contains(s []string, v string) bool {
	i := sort.SearchStrings(s, v)
	return i < len(s) && s[i] == v
}
