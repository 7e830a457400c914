package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// migration is one versioned schema step. The SQL is written once for both
// SQLite and PostgreSQL; the few words that differ are placeholders that
// the dialect fills in ({{id}}: an auto-assigned integer key, {{bytes}}: a
// binary column).
type migration struct {
	version int
	name    string
	sql     string
}

var migrations = []migration{
	{1, "registry metadata", `
CREATE TABLE repositories (
	id          {{id}},
	name        TEXT NOT NULL UNIQUE,
	created_at  BIGINT NOT NULL
);

CREATE TABLE repository_blobs (
	repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
	digest        TEXT NOT NULL,
	size          BIGINT NOT NULL,
	created_at    BIGINT NOT NULL,
	PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_digest ON repository_blobs(digest);

CREATE TABLE manifests (
	repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
	digest        TEXT NOT NULL,
	media_type    TEXT NOT NULL,
	artifact_type TEXT NOT NULL DEFAULT '',
	size          BIGINT NOT NULL,
	content       {{bytes}} NOT NULL,
	subject       TEXT NOT NULL DEFAULT '',
	annotations   TEXT NOT NULL DEFAULT '',
	created_at    BIGINT NOT NULL,
	PRIMARY KEY (repository_id, digest)
);
CREATE INDEX manifests_subject ON manifests(repository_id, subject);

-- What a manifest needs present in its repository: blobs (config, layers)
-- and child manifests (of an index). Garbage collection follows these.
CREATE TABLE manifest_references (
	repository_id   BIGINT NOT NULL,
	manifest_digest TEXT NOT NULL,
	digest          TEXT NOT NULL,
	kind            TEXT NOT NULL,
	PRIMARY KEY (repository_id, manifest_digest, digest),
	FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_references_digest ON manifest_references(repository_id, digest);

CREATE TABLE tags (
	repository_id   BIGINT NOT NULL,
	name            TEXT NOT NULL,
	manifest_digest TEXT NOT NULL,
	updated_at      BIGINT NOT NULL,
	PRIMARY KEY (repository_id, name),
	FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX tags_manifest ON tags(repository_id, manifest_digest);

CREATE TABLE uploads (
	id            TEXT PRIMARY KEY,
	repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
	size          BIGINT NOT NULL,
	hash_state    {{bytes}},
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL
);
`},
	{2, "identities", identitySchema},
	{3, "audit trail", auditSchema},
	{4, "acquisitions", acquisitionSchema},
	{5, "upstreams", upstreamSchema},
	{6, "sync rules", syncRuleSchema},
}

type dialect struct {
	name         string
	replacements map[string]string
}

var sqliteDialect = dialect{
	name: "sqlite",
	replacements: map[string]string{
		"{{id}}":    "INTEGER PRIMARY KEY",
		"{{bytes}}": "BLOB",
	},
}

func (d dialect) render(s string) string {
	for k, v := range d.replacements {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// migrate applies every migration newer than the database's version, each
// in its own transaction.
func migrate(ctx context.Context, db *sql.DB, d dialect) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	latest := migrations[len(migrations)-1].version
	if current > latest {
		return fmt.Errorf("database schema version %d is newer than this cssc knows (%d): upgrade cssc", current, latest)
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %d: %w", m.version, err)
		}
		if _, err := tx.ExecContext(ctx, d.render(m.sql)); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES ($1, $2, $3)`,
			m.version, m.name, time.Now().UnixNano()); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migration %d: record: %w", m.version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: commit: %w", m.version, err)
		}
	}
	return nil
}
