package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrUpstreamUnknown is returned for an upstream registry not in the allow-list.
var ErrUpstreamUnknown = errors.New("no such upstream")

// upstreamSchema keeps the allow-listed upstream registries: config is
// their settings as JSON (no credentials), secret their sealed
// credentials (empty when none).
const upstreamSchema = `
CREATE TABLE upstreams (
	name       TEXT PRIMARY KEY,
	config     TEXT NOT NULL,
	secret     TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
);
`

// UpstreamRow is a stored upstream registry.
type UpstreamRow struct {
	Name      string
	Config    []byte // JSON
	Secret    string // sealed credentials, "" when none
	CreatedAt time.Time
}

// PutUpstream stores the upstream called name, replacing its config and
// secret if it exists (its creation time stays).
func (s *Store) PutUpstream(ctx context.Context, name string, config []byte, secret string) error {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO upstreams(name, config, secret, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET config = excluded.config, secret = excluded.secret`,
		name, string(config), secret, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("put upstream %s: %w", name, err)
	}
	return nil
}

// GetUpstream returns the config and secret of the upstream called name.
func (s *Store) GetUpstream(ctx context.Context, name string) (config []byte, secret string, err error) {
	var cfg string
	err = s.r.QueryRowContext(ctx, `SELECT config, secret FROM upstreams WHERE name = $1`, name).Scan(&cfg, &secret)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", fmt.Errorf("%s: %w", name, ErrUpstreamUnknown)
	}
	if err != nil {
		return nil, "", fmt.Errorf("get upstream %s: %w", name, err)
	}
	return []byte(cfg), secret, nil
}

// ListUpstreams returns every upstream, by name.
func (s *Store) ListUpstreams(ctx context.Context) ([]UpstreamRow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, config, secret, created_at FROM upstreams ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list upstreams: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []UpstreamRow
	for rows.Next() {
		var (
			u       UpstreamRow
			cfg     string
			created int64
		)
		if err := rows.Scan(&u.Name, &cfg, &u.Secret, &created); err != nil {
			return nil, fmt.Errorf("list upstreams: %w", err)
		}
		u.Config, u.CreatedAt = []byte(cfg), time.Unix(0, created)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list upstreams: %w", err)
	}
	return out, nil
}

// DeleteUpstream removes the upstream called name.
func (s *Store) DeleteUpstream(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM upstreams WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("delete upstream %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", name, ErrUpstreamUnknown)
	}
	return nil
}
