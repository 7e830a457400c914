package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Upload is a blob upload in progress: how many bytes were received and
// the hash state over them, so that a restart resumes without re-reading.
type Upload struct {
	ID         string
	Repository string
	Size       int64
	HashState  []byte
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// CreateUpload records a new, empty upload session in repo.
func (s *Store) CreateUpload(ctx context.Context, repo, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UnixNano()
		rid, err := ensureRepository(ctx, tx, repo, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO uploads(id, repository_id, size, hash_state, created_at, updated_at)
			VALUES ($1, $2, 0, NULL, $3, $3)`, id, rid, now); err != nil {
			return fmt.Errorf("create upload: %w", err)
		}
		return nil
	})
}

// GetUpload returns upload id of repo.
func (s *Store) GetUpload(ctx context.Context, repo, id string) (Upload, error) {
	u := Upload{ID: id, Repository: repo}
	var created, updated int64
	err := s.w.QueryRowContext(ctx, `SELECT u.size, u.hash_state, u.created_at, u.updated_at FROM uploads u
		JOIN repositories r ON r.id = u.repository_id
		WHERE u.id = $1 AND r.name = $2`, id, repo).Scan(&u.Size, &u.HashState, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("upload %s: %w", id, ErrUploadUnknown)
	}
	if err != nil {
		return u, fmt.Errorf("get upload %s: %w", id, err)
	}
	u.CreatedAt, u.UpdatedAt = time.Unix(0, created), time.Unix(0, updated)
	return u, nil
}

// AdvanceUpload moves upload id from size from to size to with a new hash
// state. It fails with ErrUploadConflict if the upload is no longer at from.
func (s *Store) AdvanceUpload(ctx context.Context, id string, from, to int64, hashState []byte) error {
	res, err := s.w.ExecContext(ctx, `UPDATE uploads SET size = $1, hash_state = $2, updated_at = $3
		WHERE id = $4 AND size = $5`, to, hashState, time.Now().UnixNano(), id, from)
	if err != nil {
		return fmt.Errorf("advance upload %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("upload %s at %d: %w", id, from, ErrUploadConflict)
	}
	return nil
}

// DeleteUpload forgets upload id.
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM uploads WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	return nil
}

// UploadExists reports whether upload id is recorded.
func (s *Store) UploadExists(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.w.QueryRowContext(ctx, `SELECT 1 FROM uploads WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up upload %s: %w", id, err)
	}
	return true, nil
}

// StaleUploads lists uploads not touched since before.
func (s *Store) StaleUploads(ctx context.Context, before time.Time) ([]Upload, error) {
	rows, err := s.w.QueryContext(ctx, `SELECT u.id, r.name, u.size, u.created_at, u.updated_at FROM uploads u
		JOIN repositories r ON r.id = u.repository_id
		WHERE u.updated_at < $1 ORDER BY u.updated_at`, before.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("list stale uploads: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Upload
	for rows.Next() {
		var u Upload
		var created, updated int64
		if err := rows.Scan(&u.ID, &u.Repository, &u.Size, &created, &updated); err != nil {
			return nil, err
		}
		u.CreatedAt, u.UpdatedAt = time.Unix(0, created), time.Unix(0, updated)
		out = append(out, u)
	}
	return out, rows.Err()
}
