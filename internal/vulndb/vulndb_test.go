package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ossf/osv-schema/bindings/go/osvschema"
)

// rec describes an OSV record a test writes.
type rec struct {
	id, modified, withdrawn string
	aliases                 []string
	affected                [][2]string // ecosystem, package name
}

func (r rec) json() []byte {
	m := map[string]any{
		"schema_version": "1.6.0",
		"id":             r.id,
		"modified":       r.modified,
		"summary":        "summary of " + r.id,
		"unknown_field":  map[string]any{"kept": "out"}, // DiscardUnknown
	}
	if r.withdrawn != "" {
		m["withdrawn"] = r.withdrawn
	}
	if len(r.aliases) > 0 {
		m["aliases"] = r.aliases
	}
	var aff []any
	for _, a := range r.affected {
		aff = append(aff, map[string]any{
			"package": map[string]any{"ecosystem": a[0], "name": a[1]},
			"ranges": []any{map[string]any{
				"type":   "ECOSYSTEM",
				"events": []any{map[string]any{"introduced": "0"}, map[string]any{"fixed": "1.2.3"}},
			}},
		})
	}
	m["affected"] = aff
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// fixture is the data most tests import: several families, releases, a
// withdrawn record, aliases and a PyPI name that needs normalising.
var fixture = []rec{
	{id: "DSA-1", modified: "2024-03-01T00:00:00Z", aliases: []string{"CVE-2024-0001"},
		affected: [][2]string{{"Debian:12", "openssl"}, {"Debian:11", "openssl"}}},
	{id: "DLA-2", modified: "2024-03-02T00:00:00Z", affected: [][2]string{{"Debian:11", "curl"}}},
	{id: "DEBIAN-CVE-2024-0003", modified: "2024-05-06T07:08:09.5Z", affected: [][2]string{{"Debian:12", "curl"}}},
	{id: "ALPINE-CVE-2024-0004", modified: "2024-02-01T00:00:00Z", affected: [][2]string{{"Alpine:v3.20", "musl"}}},
	{id: "GO-2024-0005", modified: "2024-01-01T00:00:00Z", aliases: []string{"CVE-2024-0005", "GHSA-aaaa-bbbb-cccc"},
		affected: [][2]string{{"Go", "golang.org/x/net"}}},
	{id: "GHSA-pypi-0006", modified: "2024-01-02T00:00:00Z", affected: [][2]string{{"PyPI", "Foo_Bar.baz"}}},
	{id: "PYSEC-2024-0007", modified: "2024-01-03T00:00:00Z", withdrawn: "2024-02-03T00:00:00Z",
		affected: [][2]string{{"PyPI", "requests"}}},
	{id: "GHSA-pypi-0008", modified: "2024-01-04T00:00:00Z", affected: [][2]string{{"PyPI", "requests"}}},
}

func writeDir(t *testing.T, recs []rec) string {
	t.Helper()
	dir := t.TempDir()
	for i, r := range recs {
		// Nested directories: import searches recursively.
		sub := filepath.Join(dir, fmt.Sprintf("part%d", i%2))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, r.id+".json"), r.json(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func zipBytes(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func recordsZip(t *testing.T, recs []rec) []byte {
	files := map[string][]byte{}
	for _, r := range recs {
		files[r.id+".json"] = r.json()
	}
	return zipBytes(t, files)
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "all.zip")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var fixedNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func importOpts() ImportOptions {
	return ImportOptions{Now: func() time.Time { return fixedNow }}
}

func mustImport(t *testing.T, dir string, paths ...string) ImportResult {
	t.Helper()
	res, err := Import(context.Background(), dir, importOpts(), paths...)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return res
}

func mustOpen(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func ids(t *testing.T, db *DB, ecosystem, name string) []string {
	t.Helper()
	vs, err := db.Vulnerabilities(context.Background(), ecosystem, name)
	if err != nil {
		t.Fatalf("vulnerabilities %s %s: %v", ecosystem, name, err)
	}
	out := []string{}
	for _, v := range vs {
		out = append(out, v.GetId())
	}
	return out
}

// queryCase is one lookup and the ids it must return, in order.
type queryCase struct {
	ecosystem, name string
	want            []string
}

var fixtureQueries = []queryCase{
	{"Debian:12", "openssl", []string{"DSA-1"}},
	{"Debian:11", "openssl", []string{"DSA-1"}},
	{"Debian:11", "curl", []string{"DLA-2"}},
	{"Debian:12", "curl", []string{"DEBIAN-CVE-2024-0003"}},
	{"Debian:13", "curl", []string{}}, // other release
	{"Debian", "curl", []string{}},    // the family is not an ecosystem
	{"Alpine:v3.20", "musl", []string{"ALPINE-CVE-2024-0004"}},
	{"Alpine:v3.19", "musl", []string{}},
	{"Go", "golang.org/x/net", []string{"GO-2024-0005"}},
	{"Go", "golang.org/x/Net", []string{}}, // Go names are exact
	{"PyPI", "Foo_Bar.baz", []string{"GHSA-pypi-0006"}},
	{"PyPI", "foo-bar-baz", []string{"GHSA-pypi-0006"}}, // PEP 503
	{"PyPI", "FOO..BAR__BAZ", []string{"GHSA-pypi-0006"}},
	{"PyPI", "foobarbaz", []string{}},
	{"PyPI", "requests", []string{"GHSA-pypi-0008"}}, // the withdrawn PYSEC record is out
	{"npm", "requests", []string{}},
}

func TestImportAndQuery(t *testing.T) {
	sources := map[string]func(t *testing.T) string{
		"directory": func(t *testing.T) string { return writeDir(t, fixture) },
		"zip":       func(t *testing.T) string { return writeFile(t, recordsZip(t, fixture)) },
	}
	for name, mk := range sources {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			res := mustImport(t, dir, mk(t))
			want := ImportResult{
				Families:  []FamilyCount{{"Alpine", 1}, {"Debian", 3}, {"Go", 1}, {"PyPI", 2}},
				Withdrawn: 1,
			}
			if !reflect.DeepEqual(res, want) {
				t.Fatalf("import result %+v, want %+v", res, want)
			}
			db := mustOpen(t, dir)
			for _, q := range fixtureQueries {
				if got := ids(t, db, q.ecosystem, q.name); !reflect.DeepEqual(got, q.want) {
					t.Errorf("%s %s: %v, want %v", q.ecosystem, q.name, got, q.want)
				}
			}
			vs, err := db.Vulnerabilities(context.Background(), "Go", "golang.org/x/net")
			if err != nil {
				t.Fatal(err)
			}
			if got := vs[0].GetAliases(); !reflect.DeepEqual(got, []string{"CVE-2024-0005", "GHSA-aaaa-bbbb-cccc"}) {
				t.Errorf("aliases %v", got)
			}
			if got := vs[0].GetAffected()[0].GetRanges()[0].GetEvents()[1].GetFixed(); got != "1.2.3" {
				t.Errorf("fixed %q", got)
			}
		})
	}
}

func TestQueriesAreCached(t *testing.T) {
	dir := t.TempDir()
	mustImport(t, dir, writeDir(t, fixture))
	db := mustOpen(t, dir)
	ctx := context.Background()
	a, err := db.Vulnerabilities(ctx, "Debian:12", "openssl")
	if err != nil {
		t.Fatal(err)
	}
	// Another release's query reaches the same record: parsed once.
	b, err := db.Vulnerabilities(ctx, "Debian:11", "openssl")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 || len(b) != 1 || a[0] != b[0] {
		t.Fatalf("the record should be parsed once and shared: %p %p", a, b)
	}
	if db.queries.len() != 2 || db.records.len() != 1 {
		t.Fatalf("cache holds %d answers and %d records, want 2 and 1", db.queries.len(), db.records.len())
	}
	// A repeated question, also under another spelling of a PyPI name,
	// and a negative answer, are answered from the cache.
	for range 2 {
		for _, q := range [][2]string{{"PyPI", "Foo_Bar.baz"}, {"PyPI", "foo-bar-baz"}, {"npm", "left-pad"}} {
			if _, err := db.Vulnerabilities(ctx, q[0], q[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if db.queries.len() != 4 {
		t.Fatalf("cache holds %d answers, want 4", db.queries.len())
	}
	// Concurrent use (run with -race).
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fixtureQueries[i%len(fixtureQueries)]
			vs, err := db.Vulnerabilities(ctx, q.ecosystem, q.name)
			if err != nil || len(vs) != len(q.want) {
				t.Errorf("%s %s: %d records, %v", q.ecosystem, q.name, len(vs), err)
			}
		}()
	}
	wg.Wait()
}

func TestCoverageAndStatus(t *testing.T) {
	dir := t.TempDir()
	src := writeDir(t, fixture)
	mustImport(t, dir, src)
	db := mustOpen(t, dir)
	debianNewest := time.Date(2024, 5, 6, 7, 8, 9, 500_000_000, time.UTC)
	tests := []struct {
		ecosystem string
		want      Coverage
		covered   bool
		reason    string
	}{
		{"Debian:12", Coverage{Ecosystem: "Debian:12", Family: "Debian", Imported: true, Release: true, Records: 2, ImportedAt: fixedNow, Newest: debianNewest}, true, ""},
		{"Debian:11", Coverage{Ecosystem: "Debian:11", Family: "Debian", Imported: true, Release: true, Records: 2, ImportedAt: fixedNow, Newest: debianNewest}, true, ""},
		{"Debian:13", Coverage{Ecosystem: "Debian:13", Family: "Debian", Imported: true, ImportedAt: fixedNow, Newest: debianNewest}, false,
			"the Debian vulnerability data has no records for Debian:13"},
		{"Go", Coverage{Ecosystem: "Go", Family: "Go", Imported: true, Release: true, Records: 1, ImportedAt: fixedNow,
			Newest: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}, true, ""},
		// Debian's records are all release-qualified: a package whose
		// ecosystem lacks the release cannot be judged (not "clean").
		{"Debian", Coverage{Ecosystem: "Debian", Family: "Debian", Imported: true, ImportedAt: fixedNow, Newest: debianNewest}, false,
			"the Debian vulnerability data has no records for Debian"},
		{"Ubuntu:22.04:LTS", Coverage{Ecosystem: "Ubuntu:22.04:LTS", Family: "Ubuntu"}, false,
			`no Ubuntu vulnerability data in the database (cssc db update --ecosystems "Ubuntu")`},
		{"npm", Coverage{Ecosystem: "npm", Family: "npm"}, false,
			`no npm vulnerability data in the database (cssc db update --ecosystems "npm")`},
	}
	for _, tc := range tests {
		got := db.Coverage(tc.ecosystem)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("coverage %s:\n got %+v\nwant %+v", tc.ecosystem, got, tc.want)
		}
		if got.Covered() != tc.covered || got.Reason() != tc.reason {
			t.Errorf("coverage %s: covered %v reason %q, want %v %q", tc.ecosystem, got.Covered(), got.Reason(), tc.covered, tc.reason)
		}
	}
	st, err := db.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []FamilyStatus{
		{Family: "Alpine", Records: 1, Source: src, ImportedAt: fixedNow, Newest: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)},
		{Family: "Debian", Records: 3, Source: src, ImportedAt: fixedNow, Newest: debianNewest},
		{Family: "Go", Records: 1, Source: src, ImportedAt: fixedNow, Newest: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		// The withdrawn record is not counted, and not the newest.
		{Family: "PyPI", Records: 2, Source: src, ImportedAt: fixedNow, Newest: time.Date(2024, 1, 4, 0, 0, 0, 0, time.UTC)},
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("status:\n got %+v\nwant %+v", st, want)
	}
}

func TestImportReplacesOnlyItsFamilies(t *testing.T) {
	dir := t.TempDir()
	mustImport(t, dir, writeDir(t, fixture))
	before := mustOpen(t, dir)

	debian := []rec{{id: "DSA-9", modified: "2024-06-01T00:00:00Z", affected: [][2]string{{"Debian:12", "openssl"}}}}
	res := mustImport(t, dir, writeDir(t, debian))
	if want := []FamilyCount{{"Debian", 1}}; !reflect.DeepEqual(res.Families, want) {
		t.Fatalf("families %v, want %v", res.Families, want)
	}
	if !before.Superseded() {
		t.Error("the open database should know it was replaced")
	}
	// The view opened before keeps its data.
	if got := ids(t, before, "Debian:12", "openssl"); !reflect.DeepEqual(got, []string{"DSA-1"}) {
		t.Errorf("old view: %v", got)
	}
	db := mustOpen(t, dir)
	if db.Superseded() {
		t.Error("a fresh view is not superseded")
	}
	tests := []queryCase{
		{"Debian:12", "openssl", []string{"DSA-9"}},
		{"Debian:11", "openssl", []string{}}, // Debian was replaced as a whole
		{"Debian:11", "curl", []string{}},
		{"Go", "golang.org/x/net", []string{"GO-2024-0005"}}, // kept
		{"PyPI", "foo-bar-baz", []string{"GHSA-pypi-0006"}},
		{"Alpine:v3.20", "musl", []string{"ALPINE-CVE-2024-0004"}},
	}
	for _, q := range tests {
		if got := ids(t, db, q.ecosystem, q.name); !reflect.DeepEqual(got, q.want) {
			t.Errorf("%s %s: %v, want %v", q.ecosystem, q.name, got, q.want)
		}
	}
}

func TestImportSeveralSourcesNewestWins(t *testing.T) {
	dir := t.TempDir()
	older := []rec{{id: "GO-1", modified: "2024-01-01T00:00:00Z", affected: [][2]string{{"Go", "example.com/a"}}}}
	newer := []rec{{id: "GO-1", modified: "2024-02-01T00:00:00Z", affected: [][2]string{{"Go", "example.com/b"}}}}
	for _, order := range [][]string{{writeDir(t, older), writeDir(t, newer)}, {writeDir(t, newer), writeDir(t, older)}} {
		res := mustImport(t, dir, order...)
		if want := []FamilyCount{{"Go", 1}}; !reflect.DeepEqual(res.Families, want) {
			t.Fatalf("families %v, want %v", res.Families, want)
		}
		db := mustOpen(t, dir)
		if got := ids(t, db, "Go", "example.com/b"); !reflect.DeepEqual(got, []string{"GO-1"}) {
			t.Errorf("newer version: %v", got)
		}
		if got := ids(t, db, "Go", "example.com/a"); len(got) != 0 {
			t.Errorf("the older version's package must not be indexed: %v", got)
		}
	}
}

func TestRecordNamingTwoFamilies(t *testing.T) {
	dir := t.TempDir()
	both := rec{id: "GHSA-both", modified: "2024-01-01T00:00:00Z", affected: [][2]string{{"Maven", "org.x:lib"}, {"npm", "lib"}}}
	maven := []rec{both, {id: "GHSA-maven", modified: "2024-01-01T00:00:00Z", affected: [][2]string{{"Maven", "org.x:lib"}}}}
	res := mustImport(t, dir, writeFile(t, recordsZip(t, maven)))
	if want := []FamilyCount{{"Maven", 2}}; !reflect.DeepEqual(res.Families, want) {
		t.Fatalf("a Maven export must not become the npm data: %v", res.Families)
	}
	db := mustOpen(t, dir)
	if db.Coverage("npm").Imported {
		t.Error("npm must not count as imported")
	}
	if got := ids(t, db, "npm", "lib"); len(got) != 0 {
		t.Errorf("npm lib: %v", got)
	}
	if got := ids(t, db, "Maven", "org.x:lib"); !reflect.DeepEqual(got, []string{"GHSA-both", "GHSA-maven"}) {
		t.Errorf("Maven: %v", got)
	}

	npm := []rec{both, {id: "GHSA-npm", modified: "2024-01-01T00:00:00Z", affected: [][2]string{{"npm", "lib"}}}}
	mustImport(t, dir, writeDir(t, npm))
	db = mustOpen(t, dir)
	if got := ids(t, db, "npm", "lib"); !reflect.DeepEqual(got, []string{"GHSA-both", "GHSA-npm"}) {
		t.Errorf("npm after its own import: %v", got)
	}
	if got := ids(t, db, "Maven", "org.x:lib"); !reflect.DeepEqual(got, []string{"GHSA-both", "GHSA-maven"}) {
		t.Errorf("Maven after the npm import: %v", got)
	}
}

// lyingZip has one entry whose header declares declared bytes but whose
// data is actual bytes long.
func lyingZip(t *testing.T, name string, declared uint64, actual []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	fw, err := w.CreateRaw(&zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		CompressedSize64:   uint64(len(actual)),
		UncompressedSize64: declared,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(actual); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// manyEntriesZip is only an end-of-central-directory (zip64) claiming
// count entries: the import must refuse it from that alone.
func manyEntriesZip(count uint64) []byte {
	rec := make([]byte, 56)
	copy(rec, "PK\x06\x06")
	binary.LittleEndian.PutUint64(rec[4:], 44)
	binary.LittleEndian.PutUint64(rec[24:], count)
	binary.LittleEndian.PutUint64(rec[32:], count)
	loc := make([]byte, 20)
	copy(loc, "PK\x06\x07")
	binary.LittleEndian.PutUint64(loc[8:], 0) // the zip64 record is at offset 0
	binary.LittleEndian.PutUint32(loc[16:], 1)
	eocd := make([]byte, 22)
	copy(eocd, "PK\x05\x06")
	binary.LittleEndian.PutUint16(eocd[8:], 0xFFFF)
	binary.LittleEndian.PutUint16(eocd[10:], 0xFFFF)
	binary.LittleEndian.PutUint32(eocd[12:], 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(eocd[16:], 0xFFFFFFFF)
	return append(append(rec, loc...), eocd...)
}

func TestImportFailureLeavesDataIntact(t *testing.T) {
	good := writeDir(t, fixture)
	goodZip := recordsZip(t, fixture)
	big := bytes.Repeat([]byte(" "), MaxRecordSize+1)
	tests := []struct {
		name string
		make func(t *testing.T) string
		want string // in the error
	}{
		{"bad JSON in a directory", func(t *testing.T) string {
			d := writeDir(t, fixture[:2])
			_ = os.WriteFile(filepath.Join(d, "BAD-1.json"), []byte(`{"id": "BAD-1", "modified": `), 0o644)
			return d
		}, "BAD-1.json"},
		{"wrong type", func(t *testing.T) string {
			d := writeDir(t, fixture[:2])
			_ = os.WriteFile(filepath.Join(d, "BAD-2.json"), []byte(`{"id": "BAD-2", "aliases": "CVE-1"}`), 0o644)
			return d
		}, "BAD-2.json"},
		{"record without id", func(t *testing.T) string {
			d := writeDir(t, fixture[:2])
			_ = os.WriteFile(filepath.Join(d, "NOID.json"), []byte(`{"modified": "2024-01-01T00:00:00Z"}`), 0o644)
			return d
		}, "NOID.json: no id"},
		{"bad JSON in a zip", func(t *testing.T) string {
			return writeFile(t, zipBytes(t, map[string][]byte{"A.json": fixture[0].json(), "BAD-3.json": []byte("{")}))
		}, "all.zip!BAD-3.json"},
		{"not a zip", func(t *testing.T) string { return writeFile(t, []byte("this is not a zip file at all")) }, "not a valid zip file"},
		{"truncated zip", func(t *testing.T) string { return writeFile(t, goodZip[:len(goodZip)/2]) }, "not a valid zip file"},
		{"entry larger than declared", func(t *testing.T) string {
			return writeFile(t, lyingZip(t, "X.json", 10, fixture[0].json()))
		}, "entry X.json"},
		{"entry declared too large", func(t *testing.T) string {
			return writeFile(t, zipBytes(t, map[string][]byte{"HUGE.json": big}))
		}, "entry HUGE.json: declares 16777217 bytes, more than the 16777216"},
		{"file too large", func(t *testing.T) string {
			d := writeDir(t, fixture[:1])
			_ = os.WriteFile(filepath.Join(d, "HUGE.json"), big, 0o644)
			return d
		}, "HUGE.json: larger than the 16777216 bytes"},
		{"too many entries", func(t *testing.T) string { return writeFile(t, manyEntriesZip(3_000_000)) },
			"3000000 entries, more than the 2000000 allowed"},
		{"no records", func(t *testing.T) string { return t.TempDir() }, "no OSV records"},
		{"missing path", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.zip") }, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mustImport(t, dir, good)
			db := mustOpen(t, dir)
			_, err := Import(context.Background(), dir, importOpts(), tc.make(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("import: %v, want an error mentioning %q", err, tc.want)
			}
			if db.Superseded() {
				t.Error("a failed import replaced the database")
			}
			after := mustOpen(t, dir)
			for _, q := range fixtureQueries {
				if got := ids(t, after, q.ecosystem, q.name); !reflect.DeepEqual(got, q.want) {
					t.Errorf("after the failure, %s %s: %v, want %v", q.ecosystem, q.name, got, q.want)
				}
			}
			assertNoTempFiles(t, dir)
		})
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) || strings.HasSuffix(e.Name(), "-journal") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestImportSkipInvalid(t *testing.T) {
	src := writeDir(t, fixture)
	bad := filepath.Join(src, "BAD.json")
	if err := os.WriteFile(bad, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err := Import(context.Background(), dir, importOpts(), src)
	var inv *InvalidRecordError
	if !errors.As(err, &inv) || inv.Name != bad {
		t.Fatalf("without SkipInvalid: %v, want an InvalidRecordError for %s", err, bad)
	}
	if _, err := Open(context.Background(), dir); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("a failed first import must leave no database: %v", err)
	}
	opts := importOpts()
	opts.SkipInvalid = true
	res, err := Import(context.Background(), dir, opts, src)
	if err != nil {
		t.Fatal(err)
	}
	if res.Invalid != 1 || !reflect.DeepEqual(res.InvalidNames, []string{bad}) || len(res.Families) != 4 {
		t.Fatalf("result %+v", res)
	}
}

func TestOpenMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(context.Background(), dir)
	want := "no vulnerability database in " + dir + ": run `cssc db import` or `cssc db update`"
	if !errors.Is(err, ErrNoDatabase) || err.Error() != want {
		t.Fatalf("open: %v, want %q", err, want)
	}
}

func TestConcurrentImports(t *testing.T) {
	dir := t.TempDir()
	srcs := []string{
		writeDir(t, fixture[:4]), // Debian, Alpine
		writeDir(t, fixture[4:]), // Go, PyPI
	}
	var wg sync.WaitGroup
	for _, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := Import(context.Background(), dir, importOpts(), s); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Serialised by the lock: the second import kept the first's families.
	db := mustOpen(t, dir)
	for _, q := range fixtureQueries {
		if got := ids(t, db, q.ecosystem, q.name); !reflect.DeepEqual(got, q.want) {
			t.Errorf("%s %s: %v, want %v", q.ecosystem, q.name, got, q.want)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ ecosystem, in, want string }{
		{"PyPI", "Django", "django"},
		{"PyPI", "zope.interface", "zope-interface"},
		{"PyPI", "Foo__Bar--baz..Qux", "foo-bar-baz-qux"},
		{"PyPI", "-_.a.-_", "-a-"},
		{"PyPI", "a-b", "a-b"},
		{"Go", "github.com/Foo/Bar", "github.com/Foo/Bar"},
		{"npm", "@Scope/Pkg_Name", "@Scope/Pkg_Name"},
		{"Maven", "org.Apache:commons_x", "org.Apache:commons_x"},
		{"Debian:12", "Libfoo_1.0", "Libfoo_1.0"},
	}
	for _, tc := range tests {
		if got := NormalizeName(tc.ecosystem, tc.in); got != tc.want {
			t.Errorf("NormalizeName(%q, %q) = %q, want %q", tc.ecosystem, tc.in, got, tc.want)
		}
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/var/cache/x")
	if d, err := DefaultDir(); err != nil || d != "/var/cache/x/cssc/db" {
		t.Errorf("with XDG_CACHE_HOME: %q %v", d, err)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, err := DefaultDir(); err != nil || d != "/home/u/.cache/cssc/db" {
		t.Errorf("without: %q %v", d, err)
	}
	t.Setenv("XDG_CACHE_HOME", "relative")
	if _, err := DefaultDir(); err == nil {
		t.Error("a relative XDG_CACHE_HOME must be refused")
	}
}

func TestEvictedRecordsAreReadAgain(t *testing.T) {
	dir := t.TempDir()
	mustImport(t, dir, writeDir(t, fixture))
	db := mustOpen(t, dir)
	db.records = newLRU[*osvschema.Vulnerability](1) // keeps only the last record
	for range 2 {
		for _, q := range fixtureQueries {
			if got := ids(t, db, q.ecosystem, q.name); !reflect.DeepEqual(got, q.want) {
				t.Errorf("%s %s: %v, want %v", q.ecosystem, q.name, got, q.want)
			}
		}
	}
	if db.records.len() != 1 {
		t.Errorf("record cache holds %d", db.records.len())
	}
}

func TestLRU(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		puts    []lruEntry[int] // key, val, cost
		gets    []string        // touched after the puts
		more    []lruEntry[int]
		want    []string // keys left, most recent first
		wantSum int
	}{
		{"under the bound", 10, []lruEntry[int]{{"a", 1, 3}, {"b", 2, 3}}, nil, nil, []string{"b", "a"}, 6},
		{"oldest goes first", 5, []lruEntry[int]{{"a", 1, 2}, {"b", 2, 2}, {"c", 3, 2}}, nil, nil, []string{"c", "b"}, 4},
		{"a get makes recent", 4, []lruEntry[int]{{"a", 1, 2}, {"b", 2, 2}}, []string{"a"}, []lruEntry[int]{{"c", 3, 2}}, []string{"c", "a"}, 4},
		{"replacing updates the cost", 4, []lruEntry[int]{{"a", 1, 2}, {"b", 2, 2}}, nil, []lruEntry[int]{{"a", 9, 1}}, []string{"a", "b"}, 3},
		{"one entry over the bound stays", 2, []lruEntry[int]{{"a", 1, 1}, {"big", 2, 5}}, nil, nil, []string{"big"}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newLRU[int](tc.max)
			for _, e := range tc.puts {
				c.put(e.key, e.val, e.cost)
			}
			for _, k := range tc.gets {
				if _, ok := c.get(k); !ok {
					t.Fatalf("get %s: missing", k)
				}
			}
			for _, e := range tc.more {
				c.put(e.key, e.val, e.cost)
			}
			var keys []string
			for e := c.order.Front(); e != nil; e = e.Next() {
				keys = append(keys, e.Value.(*lruEntry[int]).key)
			}
			if !reflect.DeepEqual(keys, tc.want) || c.cost != tc.wantSum || len(c.items) != len(tc.want) {
				t.Fatalf("keys %v cost %d (%d in the map), want %v cost %d", keys, c.cost, len(c.items), tc.want, tc.wantSum)
			}
		})
	}
}

// BenchmarkVulnerabilitiesCached is the rescan path: a package asked
// about before.
func BenchmarkVulnerabilitiesCached(b *testing.B) {
	dir := b.TempDir()
	src := b.TempDir()
	for _, r := range fixture {
		if err := os.WriteFile(filepath.Join(src, r.id+".json"), r.json(), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := Import(context.Background(), dir, ImportOptions{}, src); err != nil {
		b.Fatal(err)
	}
	db, err := Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q := fixtureQueries[i%len(fixtureQueries)]
		if _, err := db.Vulnerabilities(ctx, q.ecosystem, q.name); err != nil {
			b.Fatal(err)
		}
	}
}
