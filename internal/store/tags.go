package store

import (
	"context"
	"fmt"
	"math"
)

// ListTags returns up to n tags of repo in lexical order, starting after
// last; more reports whether further tags follow. n < 0 means no limit.
func (s *Store) ListTags(ctx context.Context, repo, last string, n int) (tags []string, more bool, err error) {
	id, err := repositoryID(ctx, s.r, repo)
	if err != nil {
		return nil, false, err
	}
	return s.page(ctx, `SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3`,
		n, id, last)
}

// ListRepositories returns up to n names of repositories that hold a
// manifest, in lexical order, starting after last. n < 0 means no limit.
func (s *Store) ListRepositories(ctx context.Context, last string, n int) (names []string, more bool, err error) {
	return s.page(ctx, `SELECT name FROM repositories r WHERE name > $1
		AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id) ORDER BY name LIMIT $2`, n, last)
}

// page runs a query whose last argument is a LIMIT, asking for one row more
// than wanted to learn whether another page follows.
func (s *Store) page(ctx context.Context, query string, n int, args ...any) ([]string, bool, error) {
	limit := int64(n) + 1
	if n < 0 {
		limit = math.MaxInt64 // no limit, in words both SQLite and PostgreSQL take
	}
	rows, err := s.r.QueryContext(ctx, query, append(args, limit)...)
	if err != nil {
		return nil, false, fmt.Errorf("list: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []string{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, false, err
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if n >= 0 && len(out) > n {
		return out[:n], true, nil
	}
	return out, false, nil
}
