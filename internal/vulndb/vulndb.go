// Package vulndb is the local store of OSV vulnerability records that
// `cssc db`, `cssc scan` and `cssc serve` share.
//
// The records live in one SQLite file, <dir>/osv.db, indexed by
// (ecosystem, package name) and grouped by ecosystem family (the part of
// an OSV ecosystem before the first ':', "Debian" for "Debian:12"). The
// file is never changed in place: an import or update builds a new file
// beside it (copying the families it does not replace), syncs it and
// renames it over the current one, so a reader sees either the old data or
// the new, never half of an import, and a failure leaves the current data
// as it was. Writers serialise on a lock file (flock) in the directory;
// readers need no lock.
package vulndb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Limits on what an import reads.
const (
	// MaxRecordSize is the largest OSV record (one JSON file) accepted.
	MaxRecordSize = 16 << 20
	// MaxZipEntries is the largest number of entries a zip may have.
	MaxZipEntries = 2_000_000
	// DefaultMaxDownload caps one downloaded export.
	DefaultMaxDownload = 2 << 30
)

// File names inside the database directory.
const (
	dbFile      = "osv.db"
	lockFile    = "lock"
	checkedFile = "checked.json"
	tmpPrefix   = ".tmp-"
)

// ErrNoDatabase is returned (wrapped) by Open when the directory holds no
// database yet.
var ErrNoDatabase = errors.New("no vulnerability database")

// DefaultDir is where the database lives unless --db-dir says otherwise:
// $XDG_CACHE_HOME/cssc/db, or ~/.cache/cssc/db when XDG_CACHE_HOME is
// unset (os.UserCacheDir's rule on Linux).
func DefaultDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		if !filepath.IsAbs(d) {
			return "", fmt.Errorf("default database directory: XDG_CACHE_HOME %q is not an absolute path", d)
		}
		return filepath.Join(d, "cssc", "db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("default database directory: %w", err)
	}
	return filepath.Join(home, ".cache", "cssc", "db"), nil
}

// Family is the ecosystem family of an OSV ecosystem: the part before the
// first ':' ("Debian" for "Debian:12", "Go" for "Go").
func Family(ecosystem string) string {
	f, _, _ := strings.Cut(ecosystem, ":")
	return f
}

// NormalizeName is the name a package is indexed and looked up under in
// ecosystem: PyPI names are normalised as PEP 503 says (lower case, runs
// of '-', '_' and '.' become one '-'); other ecosystems compare names
// exactly.
func NormalizeName(ecosystem, name string) string {
	if Family(ecosystem) != "PyPI" {
		return name
	}
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-' || c == '_' || c == '.':
			sep = true
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if sep {
			b.WriteByte('-')
			sep = false
		}
		b.WriteByte(c)
	}
	if sep {
		b.WriteByte('-')
	}
	return b.String()
}
