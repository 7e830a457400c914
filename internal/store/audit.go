package store

// auditSchema is migration 3: the audit trail (see internal/audit).
const auditSchema = `
CREATE TABLE audit_events (
	seq  BIGINT PRIMARY KEY,
	data TEXT NOT NULL,
	hash TEXT NOT NULL
);
`
