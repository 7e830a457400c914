package store

// identitySchema is migration 2: users, robot accounts, their grants and
// API tokens. Secrets are stored only as slow hashes (argon2id).
const identitySchema = `
CREATE TABLE principals (
	id           {{id}},
	name         TEXT NOT NULL UNIQUE,
	kind         TEXT NOT NULL,
	secret_hash  TEXT NOT NULL,
	pipeline     INTEGER NOT NULL DEFAULT 0,
	disabled     INTEGER NOT NULL DEFAULT 0,
	expires_at   BIGINT NOT NULL DEFAULT 0,
	cert_subject TEXT NOT NULL DEFAULT '',
	created_by   TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL
);
CREATE INDEX principals_cert_subject ON principals(cert_subject);

CREATE TABLE grants (
	principal_id BIGINT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
	role         TEXT NOT NULL,
	pattern      TEXT NOT NULL,
	PRIMARY KEY (principal_id, role, pattern)
);

CREATE TABLE api_tokens (
	id           TEXT PRIMARY KEY,
	principal_id BIGINT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	secret_hash  TEXT NOT NULL,
	role         TEXT NOT NULL DEFAULT '',
	pattern      TEXT NOT NULL DEFAULT '',
	expires_at   BIGINT NOT NULL DEFAULT 0,
	revoked_at   BIGINT NOT NULL DEFAULT 0,
	created_at   BIGINT NOT NULL
);
CREATE INDEX api_tokens_principal ON api_tokens(principal_id);
`
