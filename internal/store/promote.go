package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Promotion is what Promote copied.
type Promotion struct {
	// Manifests are the digests copied: the image, an index's children,
	// every referrer (transitively: signatures of referrers) and the
	// manifests behind cosign's sha256-<hex>.sig/.att/.sbom tags.
	Manifests []string
	// Tags are the tags set in the destination.
	Tags []string
	// Blobs is how many blob links were added.
	Blobs int
}

// maxPromotedManifests bounds the closure of one promotion: an image with
// more referrers than this is refused rather than copied in one huge
// transaction.
const maxPromotedManifests = 10000

// cosignSuffixes are cosign's tag-schema artifact tags.
var cosignSuffixes = []string{".sig", ".att", ".sbom"}

// Promote copies the manifest root of repository from, with everything
// it needs and everything attached to it, into repository to and points
// tag there, in one transaction: a reader of to sees either none of it or
// all of it. Blobs are shared content, so only their links are copied.
// Promoting again is a no-op apart from moving the tag.
func (s *Store) Promote(ctx context.Context, from, to, root, tag string) (Promotion, error) {
	var p Promotion
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		p = Promotion{}
		now := time.Now().UnixNano()
		fromID, err := repositoryID(ctx, tx, from)
		if err != nil {
			return fmt.Errorf("promote %s@%s: %w", from, root, err)
		}
		toID, err := ensureRepository(ctx, tx, to, now)
		if err != nil {
			return err
		}
		type cosignTag struct{ name, digest string }
		var extraTags []cosignTag
		seen := map[string]bool{root: true}
		queue := []string{root}
		for len(queue) > 0 {
			d := queue[0]
			queue = queue[1:]
			var exists int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $2`, fromID, d).Scan(&exists); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("promote %s@%s: %w", from, root, &MissingReferenceError{Digest: d, Kind: "manifest", WantSize: -1})
				}
				return fmt.Errorf("promote %s@%s: find %s: %w", from, root, d, err)
			}
			p.Manifests = append(p.Manifests, d)
			if len(p.Manifests) > maxPromotedManifests {
				return fmt.Errorf("promote %s@%s: more than %d manifests attached", from, root, maxPromotedManifests)
			}
			next, err := promoteNeighbours(ctx, tx, fromID, d)
			if err != nil {
				return fmt.Errorf("promote %s@%s: %w", from, root, err)
			}
			if alg, hex, ok := strings.Cut(d, ":"); ok {
				for _, suffix := range cosignSuffixes {
					name := alg + "-" + hex + suffix
					var target string
					err := tx.QueryRowContext(ctx, `SELECT manifest_digest FROM tags WHERE repository_id = $1 AND name = $2`, fromID, name).Scan(&target)
					if errors.Is(err, sql.ErrNoRows) {
						continue
					}
					if err != nil {
						return fmt.Errorf("promote %s@%s: tag %s: %w", from, root, name, err)
					}
					extraTags = append(extraTags, cosignTag{name, target})
					next = append(next, target)
				}
			}
			for _, n := range next {
				if !seen[n] {
					seen[n] = true
					queue = append(queue, n)
				}
			}
		}
		// Blob links first, then manifests, then their references (which
		// name the manifests), then tags.
		for _, d := range p.Manifests {
			res, err := tx.ExecContext(ctx, `INSERT INTO repository_blobs(repository_id, digest, size, created_at)
				SELECT $1, b.digest, b.size, $2 FROM repository_blobs b
				JOIN manifest_references r ON r.repository_id = b.repository_id AND r.digest = b.digest
				WHERE r.repository_id = $3 AND r.manifest_digest = $4 AND r.kind = 'blob'
				ON CONFLICT (repository_id, digest) DO NOTHING`, toID, now, fromID, d)
			if err != nil {
				return fmt.Errorf("promote %s: link blobs of %s: %w", root, d, err)
			}
			n, _ := res.RowsAffected()
			p.Blobs += int(n)
		}
		for _, d := range p.Manifests {
			if _, err := tx.ExecContext(ctx, `INSERT INTO manifests(repository_id, digest, media_type, artifact_type, size, content, subject, annotations, created_at)
				SELECT $1, digest, media_type, artifact_type, size, content, subject, annotations, $2 FROM manifests
				WHERE repository_id = $3 AND digest = $4
				ON CONFLICT (repository_id, digest) DO NOTHING`, toID, now, fromID, d); err != nil {
				return fmt.Errorf("promote %s: copy manifest %s: %w", root, d, err)
			}
		}
		for _, d := range p.Manifests {
			if _, err := tx.ExecContext(ctx, `INSERT INTO manifest_references(repository_id, manifest_digest, digest, kind)
				SELECT $1, manifest_digest, digest, kind FROM manifest_references
				WHERE repository_id = $2 AND manifest_digest = $3
				ON CONFLICT DO NOTHING`, toID, fromID, d); err != nil {
				return fmt.Errorf("promote %s: copy references of %s: %w", root, d, err)
			}
		}
		tags := []cosignTag{}
		if tag != "" {
			tags = append(tags, cosignTag{tag, root})
		}
		for _, t := range append(tags, extraTags...) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tags(repository_id, name, manifest_digest, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at`,
				toID, t.name, t.digest, now); err != nil {
				return fmt.Errorf("promote %s: tag %s: %w", root, t.name, err)
			}
			p.Tags = append(p.Tags, t.name)
		}
		return nil
	})
	return p, err
}

// promoteNeighbours lists the manifests d needs (an index's children) and
// the manifests attached to d (its referrers).
func promoteNeighbours(ctx context.Context, tx *sql.Tx, repoID int64, d string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT digest FROM manifest_references WHERE repository_id = $1 AND manifest_digest = $2 AND kind = 'manifest'
		UNION SELECT digest FROM manifests WHERE repository_id = $1 AND subject = $2`, repoID, d)
	if err != nil {
		return nil, fmt.Errorf("list what %s needs and what is attached to it: %w", d, err)
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// neededOutside reports whether manifest d is listed by an index outside
// the set in, or named by a tag other than cosign's tags of the set.
func neededOutside(ctx context.Context, tx *sql.Tx, repoID int64, d string, in map[string]bool) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT manifest_digest FROM manifest_references WHERE repository_id = $1 AND digest = $2 AND kind = 'manifest'`, repoID, d)
	if err != nil {
		return false, fmt.Errorf("what lists %s: %w", d, err)
	}
	var parents []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			_ = rows.Close()
			return false, err
		}
		parents = append(parents, p)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	for _, p := range parents {
		if !in[p] {
			return true, nil
		}
	}
	rows, err = tx.QueryContext(ctx, `SELECT name FROM tags WHERE repository_id = $1 AND manifest_digest = $2`, repoID, d)
	if err != nil {
		return false, fmt.Errorf("what names %s: %w", d, err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return false, err
		}
		if !cosignTagOf(name, in) {
			return true, nil
		}
	}
	return false, rows.Err()
}

// cosignTagOf reports whether tag is cosign's sha256-<hex>.sig/.att/.sbom
// tag of a manifest in the set.
func cosignTagOf(tag string, in map[string]bool) bool {
	for _, suffix := range cosignSuffixes {
		if base, ok := strings.CutSuffix(tag, suffix); ok {
			if alg, hex, ok := strings.Cut(base, "-"); ok && in[alg+":"+hex] {
				return true
			}
		}
	}
	return false
}

// Withdraw takes root out of repo (a golden/ repository): tag is removed
// if it still names root (every tag naming root when tag is "*"), and
// when no tag names root any more, root and everything Promote copied with
// it (platform manifests, referrers, cosign's tags) are deleted, so the
// image cannot be pulled by digest either. It all happens in one
// transaction. The blobs stay until garbage collection; the image stays in
// quarantine/. kept reports that another tag still names root.
func (s *Store) Withdraw(ctx context.Context, repo, root, tag string) (kept bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		kept = false
		id, err := repositoryID(ctx, tx, repo)
		if errors.Is(err, ErrRepositoryUnknown) {
			return nil
		}
		if err != nil {
			return err
		}
		switch tag {
		case "":
		case "*":
			if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE repository_id = $1 AND manifest_digest = $2`, id, root); err != nil {
				return fmt.Errorf("withdraw %s@%s: %w", repo, root, err)
			}
		default:
			if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE repository_id = $1 AND name = $2 AND manifest_digest = $3`, id, tag, root); err != nil {
				return fmt.Errorf("withdraw %s:%s: %w", repo, tag, err)
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tags WHERE repository_id = $1 AND manifest_digest = $2`, id, root).Scan(&n); err != nil {
			return fmt.Errorf("withdraw %s@%s: %w", repo, root, err)
		}
		if n > 0 {
			kept = true
			return nil
		}
		closure := []string{}
		seen := map[string]bool{root: true}
		queue := []string{root}
		for len(queue) > 0 {
			d := queue[0]
			queue = queue[1:]
			closure = append(closure, d)
			if len(closure) > maxPromotedManifests {
				return fmt.Errorf("withdraw %s@%s: more than %d manifests attached", repo, root, maxPromotedManifests)
			}
			next, err := promoteNeighbours(ctx, tx, id, d)
			if err != nil {
				return fmt.Errorf("withdraw %s@%s: %w", repo, root, err)
			}
			if alg, hex, ok := strings.Cut(d, ":"); ok {
				for _, suffix := range cosignSuffixes {
					var target string
					err := tx.QueryRowContext(ctx, `SELECT manifest_digest FROM tags WHERE repository_id = $1 AND name = $2`, id, alg+"-"+hex+suffix).Scan(&target)
					if err == nil {
						next = append(next, target)
					} else if !errors.Is(err, sql.ErrNoRows) {
						return fmt.Errorf("withdraw %s@%s: %w", repo, root, err)
					}
				}
			}
			for _, m := range next {
				if !seen[m] {
					seen[m] = true
					queue = append(queue, m)
				}
			}
		}
		// What something outside the closure still needs stays, with
		// everything it needs in turn: a platform manifest another index
		// of the repository lists, a manifest another tag names.
		in := map[string]bool{}
		for _, d := range closure {
			in[d] = true
		}
		keep := map[string]bool{}
		var roots []string
		for _, d := range closure {
			needed, err := neededOutside(ctx, tx, id, d, in)
			if err != nil {
				return fmt.Errorf("withdraw %s@%s: %w", repo, root, err)
			}
			if needed {
				roots = append(roots, d)
			}
		}
		for len(roots) > 0 {
			d := roots[0]
			roots = roots[1:]
			if keep[d] {
				continue
			}
			keep[d] = true
			next, err := promoteNeighbours(ctx, tx, id, d)
			if err != nil {
				return fmt.Errorf("withdraw %s@%s: %w", repo, root, err)
			}
			roots = append(roots, next...)
		}
		for _, d := range closure {
			if keep[d] {
				continue
			}
			// Tags naming it (cosign's) and its references go with it.
			if _, err := tx.ExecContext(ctx, `DELETE FROM manifests WHERE repository_id = $1 AND digest = $2`, id, d); err != nil {
				return fmt.Errorf("withdraw %s@%s: delete %s: %w", repo, root, d, err)
			}
		}
		kept = keep[root]
		return nil
	})
	return kept, err
}
