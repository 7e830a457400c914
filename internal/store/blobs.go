package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LinkBlob records that repository repo holds blob digest (creating the
// repository on first use). Linking twice is harmless.
func (s *Store) LinkBlob(ctx context.Context, repo, digest string, size int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UnixNano()
		id, err := ensureRepository(ctx, tx, repo, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO repository_blobs(repository_id, digest, size, created_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (repository_id, digest) DO UPDATE SET created_at = excluded.created_at`,
			id, digest, size, now); err != nil {
			return fmt.Errorf("link blob %s into %s: %w", digest, repo, err)
		}
		return nil
	})
}

// BlobSize returns the size of blob digest if repository repo holds it.
func (s *Store) BlobSize(ctx context.Context, repo, digest string) (int64, error) {
	var size int64
	err := s.readRow(ctx, `SELECT b.size FROM repository_blobs b
		JOIN repositories r ON r.id = b.repository_id
		WHERE r.name = $1 AND b.digest = $2`, repo, digest).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%s in %s: %w", digest, repo, ErrBlobUnknown)
	}
	if err != nil {
		return 0, fmt.Errorf("find blob %s in %s: %w", digest, repo, err)
	}
	return size, nil
}

// RepositoriesWithBlob lists (up to limit) the repositories that hold digest.
func (s *Store) RepositoriesWithBlob(ctx context.Context, digest string, limit int) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT r.name FROM repository_blobs b
		JOIN repositories r ON r.id = b.repository_id
		WHERE b.digest = $1 ORDER BY r.name LIMIT $2`, digest, limit)
	if err != nil {
		return nil, fmt.Errorf("find repositories with %s: %w", digest, err)
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// UnlinkBlob removes blob digest from repository repo. A blob that a
// manifest of the repository still uses is refused with ErrBlobReferenced:
// deleting it would break every pull of that manifest.
func (s *Store) UnlinkBlob(ctx context.Context, repo, digest string) error {
	return s.deleteUnreferenced(ctx, repo, digest, unreferenced{
		kind:       "blob",
		delete:     `DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2`,
		unknown:    ErrBlobUnknown,
		referenced: ErrBlobReferenced,
		usedBy:     "manifest",
	})
}

// unreferenced describes a row that may be deleted only while no manifest
// reference of kind names it.
type unreferenced struct {
	kind       string // "blob" or "manifest", as in manifest_references.kind
	delete     string // DELETE … WHERE repository_id = $1 AND digest = $2
	unknown    error
	referenced error
	usedBy     string // what holds the reference, for the message
}

func (s *Store) deleteUnreferenced(ctx context.Context, repo, digest string, u unreferenced) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		id, err := repositoryID(ctx, tx, repo)
		if err != nil {
			return fmt.Errorf("%s in %s: %w", digest, repo, u.unknown)
		}
		var user string
		err = tx.QueryRowContext(ctx, `SELECT manifest_digest FROM manifest_references
			WHERE repository_id = $1 AND digest = $2 AND kind = $3 LIMIT 1`, id, digest, u.kind).Scan(&user)
		if err == nil {
			return fmt.Errorf("%s %s is used by %s %s: %w", u.kind, digest, u.usedBy, user, u.referenced)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("delete %s %s: %w", u.kind, digest, err)
		}
		res, err := tx.ExecContext(ctx, u.delete, id, digest)
		if err != nil {
			return fmt.Errorf("delete %s %s from %s: %w", u.kind, digest, repo, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s in %s: %w", digest, repo, u.unknown)
		}
		return nil
	})
}

// LinkCount says how many repositories hold digest.
func (s *Store) LinkCount(ctx context.Context, digest string) (int, error) {
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM repository_blobs WHERE digest = $1`, digest).Scan(&n); err != nil {
		return 0, fmt.Errorf("count links of %s: %w", digest, err)
	}
	return n, nil
}

// Link is a blob held by a repository.
type Link struct {
	Repository string
	Digest     string
	Size       int64
}

// DeleteUnreferencedLinks removes, in one transaction, every blob link that
// no manifest of its repository references and that was made before
// olderThan (younger ones may belong to a push whose manifest has not come
// yet). With dryRun it only lists them.
func (s *Store) DeleteUnreferencedLinks(ctx context.Context, olderThan time.Time, dryRun bool) ([]Link, error) {
	var out []Link
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT r.name, b.digest, b.size FROM repository_blobs b
			JOIN repositories r ON r.id = b.repository_id
			WHERE b.created_at < $1 AND NOT EXISTS (
				SELECT 1 FROM manifest_references m
				WHERE m.repository_id = b.repository_id AND m.digest = b.digest AND m.kind = 'blob')
			ORDER BY r.name, b.digest`, olderThan.UnixNano())
		if err != nil {
			return fmt.Errorf("find unreferenced blobs: %w", err)
		}
		for rows.Next() {
			var l Link
			if err := rows.Scan(&l.Repository, &l.Digest, &l.Size); err != nil {
				_ = rows.Close()
				return err
			}
			out = append(out, l)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if dryRun {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM repository_blobs
			WHERE created_at < $1 AND NOT EXISTS (
				SELECT 1 FROM manifest_references m
				WHERE m.repository_id = repository_blobs.repository_id AND m.digest = repository_blobs.digest AND m.kind = 'blob')`,
			olderThan.UnixNano()); err != nil {
			return fmt.Errorf("delete unreferenced blobs: %w", err)
		}
		return nil
	})
	return out, err
}

// StoredBytes is the sum of the sizes of distinct blobs that repositories
// hold plus the manifests' bytes.
func (s *Store) StoredBytes(ctx context.Context) (int64, error) {
	var blobs, manifests int64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM
		(SELECT digest, MAX(size) AS size FROM repository_blobs GROUP BY digest) AS d`).Scan(&blobs); err != nil {
		return 0, fmt.Errorf("sum blob sizes: %w", err)
	}
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM manifests`).Scan(&manifests); err != nil {
		return 0, fmt.Errorf("sum manifest sizes: %w", err)
	}
	return blobs + manifests, nil
}
