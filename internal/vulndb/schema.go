package vulndb

import "net/url"

// schemaVersion is the database file's PRAGMA user_version. A file of
// another version is refused, not guessed at.
const schemaVersion = 1

// schema is the database: records once per family (the JSON compressed
// with zstd), the (ecosystem, name) index pointing at them, and what each
// family was imported from.
const schema = `
CREATE TABLE records (
	family   TEXT NOT NULL,
	id       TEXT NOT NULL,
	modified INTEGER NOT NULL, -- unix nanoseconds; 0 when the record has none
	data     BLOB NOT NULL,    -- the OSV JSON as published, zstd-compressed
	PRIMARY KEY (family, id)
);

CREATE TABLE affected (
	ecosystem TEXT NOT NULL, -- exactly as the record says: "Debian:12"
	name      TEXT NOT NULL, -- the package name, PEP 503-normalised for PyPI
	family    TEXT NOT NULL,
	id        TEXT NOT NULL,
	PRIMARY KEY (ecosystem, name, id)
) WITHOUT ROWID;
CREATE INDEX affected_record ON affected(family, id);

CREATE TABLE families (
	family        TEXT PRIMARY KEY,
	source        TEXT NOT NULL,    -- URL or file(s) it was imported from
	etag          TEXT NOT NULL,
	last_modified TEXT NOT NULL,
	imported_at   INTEGER NOT NULL, -- unix nanoseconds
	newest        INTEGER NOT NULL, -- newest record's modified, unix nanoseconds
	records       INTEGER NOT NULL
);

CREATE TABLE ecosystems (
	ecosystem TEXT PRIMARY KEY,
	family    TEXT NOT NULL,
	records   INTEGER NOT NULL
);
`

// sqliteURI is the DSN of the SQLite file at path with params (SQLite's
// own URI parameters and the driver's _pragma ones).
func sqliteURI(path string, params url.Values) string {
	u := "file:" + (&url.URL{Path: path}).EscapedPath() // '?', '#', '%' escaped
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	return u
}
