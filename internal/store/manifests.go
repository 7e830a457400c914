package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Manifest is a stored manifest with what the registry extracted from it.
type Manifest struct {
	Repository   string
	Digest       string
	MediaType    string
	ArtifactType string // for the referrers API: artifactType, else the config's media type
	Content      []byte
	Subject      string // digest of the subject, "" if none
	Annotations  map[string]string
	Blobs        []Reference // blobs the repository must hold (config, layers)
	Manifests    []Reference // manifests the repository must hold (an index's children)
}

// Reference is a blob or manifest a manifest names, with the size it says.
type Reference struct {
	Digest string
	Size   int64
}

// PutManifest stores m and points tags at it, in one transaction. Every
// blob and child manifest m names must already be in the repository, else
// a *MissingReferenceError is returned and nothing changes. Putting the same
// digest again only moves the tags.
func (s *Store) PutManifest(ctx context.Context, m Manifest, tags []string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UnixNano()
		id, err := ensureRepository(ctx, tx, m.Repository, now)
		if err != nil {
			return err
		}
		for _, check := range []struct {
			kind  string
			query string
			refs  []Reference
		}{
			{"blob", `SELECT size FROM repository_blobs WHERE repository_id = $1 AND digest = $2`, m.Blobs},
			{"manifest", `SELECT size FROM manifests WHERE repository_id = $1 AND digest = $2`, m.Manifests},
		} {
			for _, ref := range check.refs {
				var size int64
				err := tx.QueryRowContext(ctx, check.query, id, ref.Digest).Scan(&size)
				if errors.Is(err, sql.ErrNoRows) {
					return &MissingReferenceError{Digest: ref.Digest, Kind: check.kind, WantSize: -1}
				}
				if err != nil {
					return fmt.Errorf("check %s %s: %w", check.kind, ref.Digest, err)
				}
				if size != ref.Size {
					return &MissingReferenceError{Digest: ref.Digest, Kind: check.kind, WantSize: ref.Size, HaveSize: size}
				}
			}
		}
		annotations := ""
		if len(m.Annotations) > 0 {
			b, err := json.Marshal(m.Annotations)
			if err != nil {
				return fmt.Errorf("encode annotations: %w", err)
			}
			annotations = string(b)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO manifests(repository_id, digest, media_type, artifact_type, size, content, subject, annotations, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (repository_id, digest) DO NOTHING`,
			id, m.Digest, m.MediaType, m.ArtifactType, len(m.Content), m.Content, m.Subject, annotations, now)
		if err != nil {
			return fmt.Errorf("insert manifest %s: %w", m.Digest, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			for _, ref := range []struct {
				kind string
				refs []Reference
			}{{"blob", m.Blobs}, {"manifest", m.Manifests}} {
				for _, r := range ref.refs {
					if _, err := tx.ExecContext(ctx, `INSERT INTO manifest_references(repository_id, manifest_digest, digest, kind)
						VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, id, m.Digest, r.Digest, ref.kind); err != nil {
						return fmt.Errorf("record reference %s: %w", r.Digest, err)
					}
				}
			}
		}
		for _, t := range tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tags(repository_id, name, manifest_digest, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at`,
				id, t, m.Digest, now); err != nil {
				return fmt.Errorf("tag %s: %w", t, err)
			}
		}
		return nil
	})
}

// ManifestContent is what serving a manifest needs.
type ManifestContent struct {
	Digest    string
	MediaType string
	Content   []byte
}

// GetManifest returns the manifest with digest in repo.
func (s *Store) GetManifest(ctx context.Context, repo, digest string) (ManifestContent, error) {
	m := ManifestContent{Digest: digest}
	err := s.readRow(ctx, `SELECT m.media_type, m.content FROM manifests m
		JOIN repositories r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.digest = $2`, repo, digest).Scan(&m.MediaType, &m.Content)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("%s in %s: %w", digest, repo, ErrManifestUnknown)
	}
	if err != nil {
		return m, fmt.Errorf("get manifest %s in %s: %w", digest, repo, err)
	}
	return m, nil
}

// GetTaggedManifest returns the manifest tag points at in repo.
func (s *Store) GetTaggedManifest(ctx context.Context, repo, tag string) (ManifestContent, error) {
	var m ManifestContent
	err := s.readRow(ctx, `SELECT m.digest, m.media_type, m.content FROM tags t
		JOIN repositories r ON r.id = t.repository_id
		JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
		WHERE r.name = $1 AND t.name = $2`, repo, tag).Scan(&m.Digest, &m.MediaType, &m.Content)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("tag %s in %s: %w", tag, repo, ErrManifestUnknown)
	}
	if err != nil {
		return m, fmt.Errorf("get tag %s in %s: %w", tag, repo, err)
	}
	return m, nil
}

// DeleteManifest removes the manifest with digest from repo, and the tags
// pointing at it. A manifest an index of the repository lists is refused
// with ErrManifestReferenced: deleting it would break the index.
func (s *Store) DeleteManifest(ctx context.Context, repo, digest string) error {
	return s.deleteUnreferenced(ctx, repo, digest, unreferenced{
		kind:       "manifest",
		delete:     `DELETE FROM manifests WHERE repository_id = $1 AND digest = $2`,
		unknown:    ErrManifestUnknown,
		referenced: ErrManifestReferenced,
		usedBy:     "index",
	})
}

// DeleteTag removes tag from repo; the manifest stays.
func (s *Store) DeleteTag(ctx context.Context, repo, tag string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		id, err := repositoryID(ctx, tx, repo)
		if err != nil {
			return fmt.Errorf("tag %s in %s: %w", tag, repo, ErrManifestUnknown)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE repository_id = $1 AND name = $2`, id, tag)
		if err != nil {
			return fmt.Errorf("delete tag %s: %w", tag, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("tag %s in %s: %w", tag, repo, ErrManifestUnknown)
		}
		return nil
	})
}

// Referrer is one entry of the referrers API.
type Referrer struct {
	Digest       string
	MediaType    string
	ArtifactType string
	Size         int64
	Annotations  map[string]string
}

// Referrers lists the manifests in repo whose subject is digest, oldest
// first; artifactType, when set, keeps only those of that type.
func (s *Store) Referrers(ctx context.Context, repo, digest, artifactType string) ([]Referrer, error) {
	q := `SELECT m.digest, m.media_type, m.artifact_type, m.size, m.annotations FROM manifests m
		JOIN repositories r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.subject = $2`
	args := []any{repo, digest}
	if artifactType != "" {
		q += ` AND m.artifact_type = $3`
		args = append(args, artifactType)
	}
	q += ` ORDER BY m.created_at, m.digest`
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list referrers of %s in %s: %w", digest, repo, err)
	}
	defer func() { _ = rows.Close() }()
	out := []Referrer{}
	for rows.Next() {
		var ref Referrer
		var annotations string
		if err := rows.Scan(&ref.Digest, &ref.MediaType, &ref.ArtifactType, &ref.Size, &annotations); err != nil {
			return nil, err
		}
		if annotations != "" {
			if err := json.Unmarshal([]byte(annotations), &ref.Annotations); err != nil {
				return nil, fmt.Errorf("decode annotations of %s: %w", ref.Digest, err)
			}
		}
		out = append(out, ref)
	}
	return out, rows.Err()
}
